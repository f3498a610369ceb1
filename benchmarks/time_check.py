"""Time one `check` of an existing index in this process: wall time, peak RSS and a digest of the
findings' fingerprints, so that two trees can be compared on the same store.

    PYTHONPATH=/path/to/tree python benchmarks/time_check.py --index /tmp/scale/s100000 [--profile out.prof] [--ray ADDRESS]

Nothing is recorded (record="no") unless --record: the store is left as it was, so runs can be
repeated. check_s is the whole call; rules_s the rules alone (CheckResult.seconds, no recording).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import time

from _result import code_dir, emit  # benchmarks/_result.py, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--profile", default=None, help="write a cProfile of the check to this file")
    ap.add_argument("--fingerprints-out", default=None, help="write the sorted fingerprints here, one a line")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--record", action="store_true", help='write the verdicts (record="verdicts"), for the guard benchmarks')
    ap.add_argument("--ray", default=None, help="check --ray: neighbour search and claims on this Ray cluster (auto, local, HOST:PORT)")
    args = ap.parse_args()
    from wikicheck.check import run_checks
    from wikicheck.store import Store

    t0 = time.perf_counter()
    with Store.open(args.index) as st:
        n = st.counts()["sections"]
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            res = prof.runcall(run_checks, st, record="verdicts" if args.record else "no", ray=args.ray)
            prof.dump_stats(args.profile)
        else:
            res = run_checks(st, record="verdicts" if args.record else "no", ray=args.ray)
    seconds = time.perf_counter() - t0
    fps = sorted(f.fingerprint for f in res.findings)
    digest = hashlib.sha256("\n".join(fps).encode()).hexdigest()[:16]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"index": args.index, "sections": n, "check_s": round(seconds, 2), "rules_s": round(res.seconds, 2), "findings": len(fps),
           "fingerprints_sha256": digest, "peak_rss_mb": round(peak_mb), "code": code_dir(),
           **({"ray": res.ray} if res.ray is not None else {})}
    emit(row, args.json_out, args.fingerprints_out, fps)


if __name__ == "__main__":
    main()
