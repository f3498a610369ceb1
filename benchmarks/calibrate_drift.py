"""Calibrate the drift analysis's thresholds on several labelled corpora at once.

Each setting of the thresholds swept here is scored on every corpus given, and a setting is judged
by its *worst* corpus, not its average: a value that wins on one corpus's style and loses on
another's is fitted to that corpus. Hard constraints come first (no inverted error: a current
section called superseded by a copy; no decoy flagged; no copy flagged whose difference the labels
call `minor`, wording only: the scorer's precision does not count those, so without this a sweep
would trade them for recall), then the lowest recall, then the lowest precision, and only then the
mean recall over all corpora. The result, with every corpus's figures for every setting, is written as JSON (the data
kept in the repository: benchmarks/calibration/drift-sweep.json) and printed as a table.

Corpora are the benchmark's labelled ones (labels.json from ../shared/bench or build_corpus.py),
each crawled once into an index; only the drift analysis runs here (no model, no crawl):

    python benchmarks/calibrate_drift.py --bench-dir ../shared/bench \\
        --corpus openshift-runbooks/history=/tmp/b/repos/os-history:/tmp/b/idx/os-history ... \\
        --set prose_changed_share=0.10,0.15,0.20,0.25 --json-out benchmarks/calibration/drift-sweep.json

--corpus NAME=REPO:INDEX, where NAME is a variant folder under --bench-dir (or an absolute corpus
variant folder with labels.json), REPO the corpus repository the index was crawled from, INDEX the
crawled index. --set FIELD=V1,V2,... sweeps one DriftOptions field (repeat for a grid).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wikicheck.drift import Drift, DriftOptions  # noqa: E402
from wikicheck.store import Store  # noqa: E402

STALE = {"superseded", "contradicted", "obsolete"}


def parse_corpus(spec: str, bench: Path) -> tuple[str, Path, Path, Path]:
    name, _, rest = spec.partition("=")
    repo, _, index = rest.partition(":")
    if not (name and repo and index):
        raise SystemExit(f"--corpus {spec!r}: expected NAME=REPO:INDEX")
    labels = Path(name) if os.path.isabs(name) else bench / name
    if not (labels / "labels.json").exists():
        raise SystemExit(f"--corpus {spec!r}: no labels.json in {labels}")
    return name, labels, Path(repo), Path(index)


def parse_grid(sets: list[str]) -> list[dict[str, Any]]:
    fields = {f.name: f.type for f in dataclasses.fields(DriftOptions)}
    axes = []
    for s in sets:
        key, _, vals = s.partition("=")
        if key not in fields:
            raise SystemExit(f"--set {s!r}: {key!r} is not a DriftOptions field ({', '.join(sorted(fields))})")
        cast = int if fields[key] in (int, "int") else float
        axes.append([(key, cast(v)) for v in vals.split(",") if v])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def hits_as_findings(store_dir: Path, options: DriftOptions) -> list[dict[str, Any]]:
    """The drift verdicts as the scorer reads findings: path, heading, kind, level, newer."""
    with Store.open(store_dir) as st:
        d = Drift(st, st.model_id() or "", options)
        out = []
        for h in d.analyse():
            s = d.secs[h.section_id].row
            newer = d.secs[h.newer_id].row if h.newer_id in d.secs else None
            out.append({"path": s["path"], "heading": s["heading"], "heading_path": s["heading_path"],
                        "kind": h.kind, "level": h.level or ("info" if h.kind == "duplicate" else "warning"),
                        "newer": {"path": newer["path"], "heading": newer["heading"],
                                  "heading_path": newer["heading_path"]} if newer else None})
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-dir", required=True, help="the benchmark folder (score.py and the corpora)")
    ap.add_argument("--corpus", action="append", required=True, help="NAME=REPO:INDEX (repeat)")
    ap.add_argument("--set", action="append", default=[], help="FIELD=V1,V2,... of DriftOptions (repeat for a grid)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    bench = Path(args.bench_dir).resolve()
    sys.path.insert(0, str(bench))
    import score  # the benchmark's own scorer: the same matching and metrics as score.py

    corpora = [parse_corpus(c, bench) for c in args.corpus]
    grid = parse_grid(args.set)
    loaded = {name: score.Corpus(str(labels), str(repo), tempfile.mkdtemp()) for name, labels, repo, _ in corpora}
    rows = []
    for setting in grid:
        opts = DriftOptions(**setting)
        per: dict[str, dict[str, Any]] = {}
        t0 = time.perf_counter()
        for name, _, _, index in corpora:
            m = score.detection_metrics(loaded[name], hits_as_findings(index, opts))
            per[name] = {k: m[k] for k in ("precision", "recall", "tp", "fp", "positives", "inverted",
                                            "fp_rate_decoy", "removed_flagged", "minor_flagged")}
        worst = {"inverted": max(p["inverted"] for p in per.values()),
                 "decoys": max(p["fp_rate_decoy"] for p in per.values()),
                 "minor": max(p["minor_flagged"] for p in per.values()),
                 "recall": min(p["recall"] for p in per.values()),
                 "precision": min(p["precision"] for p in per.values()),
                 "mean_recall": sum(p["recall"] for p in per.values()) / len(per)}
        rows.append({"setting": setting, "worst": worst, "corpora": per, "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{json.dumps(setting):40} worst: inverted {worst['inverted']} decoys {worst['decoys']:.3f} minor {worst['minor']:.3f} "
              f"R {worst['recall']:.3f} P {worst['precision']:.3f} mean R {worst['mean_recall']:.3f}  "
              + "  ".join(f"{'/'.join(Path(n).parts[-2:])}:{p['precision']:.3f}/{p['recall']:.3f}"
                          for n, p in per.items()), flush=True)

    def rank(r: dict[str, Any]) -> tuple[float, ...]:
        w = r["worst"]
        return (w["inverted"], w["decoys"], w["minor"], -w["recall"], -w["precision"], -w["mean_recall"])

    best = min(rows, key=rank)
    print(f"best by worst corpus: {json.dumps(best['setting'])}")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps({
            "defaults": dataclasses.asdict(DriftOptions()), "grid": grid, "best": best["setting"],
            "rule": "fewest inverted, fewest decoys flagged, fewest minor changes flagged, then highest lowest recall, highest lowest precision, highest mean recall",
            "corpora": {name: {"labels": str(labels), "index": str(index)} for name, labels, _, index in corpora},
            "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
