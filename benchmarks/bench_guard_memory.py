"""What a guard (the object `wikicheck serve` and `wikicheck mcp` hold) costs on one index: resident
memory after loading, peak resident memory, and the latency of each guarded query including its
embedding, one query at a time, plus a digest of every result so that two trees can be compared
on the same store (the results must be identical).

    PYTHONPATH=/path/to/tree python benchmarks/bench_guard_memory.py --index /tmp/scale/s1000000 \\
        --queries ../shared/bench/openshift-runbooks/history/queries.json

Run it in a process of its own per tree and index: peak RSS is the process's. The index needs a
recorded check for real verdicts (`benchmarks/time_check.py --record`). The embedder is the one
the guard picks (ONNX when the index holds a verified export; benchmarks/synth.py copies the
base's). No guard events are recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from pathlib import Path

from _result import code_dir, emit  # benchmarks/_result.py, beside this script


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--queries", required=True, help="queries.json of the benchmark corpus")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the queries (the first one warms up caches)")
    ap.add_argument("--policy", default="block")
    ap.add_argument("--results-out", default=None, help="write every result of the last pass as JSON lines")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    from wikicheck.guard import Guard, GuardConfig

    qs = [q["query"] for q in json.loads(Path(args.queries).read_text())["queries"]]
    rss0 = _rss_mb()
    t = time.perf_counter()
    guard = Guard(args.index, config=GuardConfig(record_events=False))
    load_s = time.perf_counter() - t
    rss_loaded = _rss_mb()
    guard.search("warm up", 5, args.policy)
    times: list[float] = []
    lines: list[str] = []
    for rep in range(args.repeat):
        lines = []
        for q in qs:
            t = time.perf_counter()
            res = guard.search(q, 5, args.policy)
            dt = time.perf_counter() - t
            if rep:
                times.append(dt)
            lines.append(json.dumps({"query": q, "results": [r.to_json() for r in res]}, sort_keys=True, default=str))
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    row = {
        "index": args.index, "sections": len(guard.sections), "engine": getattr(guard.engine, "engine", str(guard.engine)),
        "load_s": round(load_s, 2), "rss_before_mb": round(rss0), "rss_loaded_mb": round(rss_loaded),
        "rss_after_queries_mb": round(_rss_mb()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "queries_timed": len(times), "p50_ms": round(pct(times, 50), 2), "p99_ms": round(pct(times, 99), 2),
        "results_sha256": digest, "code": code_dir(),
    }
    guard.close()
    emit(row, args.json_out, args.results_out, lines)


if __name__ == "__main__":
    main()
