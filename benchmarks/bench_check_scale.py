"""How `wikicheck check` scales: 2k (the benchmark corpus), 10k and 100k sections.

Stores are synthesised from a crawled corpus (benchmarks/synth.py), so no model runs here; the
check itself never embeds. Times are wall-clock on this machine; the growth ratio between sizes
is what matters (an all-pairs check would grow 100x for 10x the sections).

    python benchmarks/bench_check_scale.py --base /tmp/ridx-history --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synth import synthesise  # noqa: E402
from wikicheck.check import run_checks  # noqa: E402
from wikicheck.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="a crawled index (e.g. of the benchmark corpus)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="wikicheck-scale-"))
    rows = []
    t = time.perf_counter()
    with Store.open(args.base) as st:
        res = run_checks(st, record=False)
        n0 = st.counts()["sections"]
    rows.append({"sections": n0, "check_s": time.perf_counter() - t, "findings": len(res.findings), "synth_s": 0.0})
    print(f"{n0:>7} sections  check {rows[-1]['check_s']:.1f}s  findings {len(res.findings)}", flush=True)
    for size in args.sizes:
        t = time.perf_counter()
        idx = work / f"s{size}"
        n = synthesise(args.base, idx, size)
        synth_s = time.perf_counter() - t
        t = time.perf_counter()
        with Store.open(idx) as st:
            res = run_checks(st, record=False)
        rows.append({"sections": n, "check_s": time.perf_counter() - t, "findings": len(res.findings), "synth_s": synth_s})
        print(f"{n:>7} sections  check {rows[-1]['check_s']:.1f}s  findings {len(res.findings)}  (synthesised in {synth_s:.0f}s)", flush=True)
    print("\n| sections | check (s) | findings | time per 1k sections (s) | growth vs previous (time ratio / size ratio) |")
    print("| ---: | ---: | ---: | ---: | --- |")
    prev = None
    for r in rows:
        per_k = r["check_s"] / (r["sections"] / 1000)
        growth = "" if prev is None else (f"{r['check_s'] / prev['check_s']:.1f}x for {r['sections'] / prev['sections']:.1f}x sections")
        print(f"| {r['sections']:,} | {r['check_s']:.1f} | {r['findings']:,} | {per_k:.2f} | {growth} |")
        prev = r
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
