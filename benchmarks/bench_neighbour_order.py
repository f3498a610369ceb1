"""The check's all-sections neighbour search on an index's HNSW graph, with the queries in three orders:
as stored (what the check did before), shuffled, and in locality order (wikicheck.index.locality_order,
what the check does now). Same queries, same run, same hits.

    PYTHONPATH=<tree> python benchmarks/bench_neighbour_order.py --index /tmp/sc/synth/s1m --queries 100000

The queries are every (n / --queries)-th vector of the index itself, as the check queries every
distinct text. --threads: faiss's OpenMP threads (the check uses faiss's default, every core).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _result import code_dir, emit  # benchmarks/_result.py, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, help="an index directory with an HNSW sections.faiss")
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=24)
    ap.add_argument("--ef-search", type=int, default=64, help="the check's efSearch (DriftOptions.ef_search)")
    ap.add_argument("--threads", type=int, default=0, help="faiss threads (0: faiss's default)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    import faiss

    from wikicheck.index import INDEX_NAME, locality_order

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    wrapped = faiss.read_index(f"{args.index}/{INDEX_NAME}")
    graph = faiss.downcast_index(wrapped.index if hasattr(wrapped, "index") else wrapped)
    if not isinstance(graph, faiss.IndexHNSW):
        raise SystemExit(f"{args.index}/{INDEX_NAME} is not an HNSW index (below HNSW_THRESHOLD sections the search is exact)")
    graph.hnsw.efSearch = args.ef_search
    n = graph.ntotal
    storage = faiss.downcast_index(graph.storage)
    vecs = faiss.rev_swig_ptr(storage.get_xb(), n * storage.d).reshape(n, storage.d)
    q = np.ascontiguousarray(vecs[:: max(1, n // args.queries)][: args.queries])

    def timed(x: np.ndarray) -> tuple[float, np.ndarray]:
        t = time.perf_counter()
        _, found = graph.search(x, args.k)
        return time.perf_counter() - t, found

    t0 = time.perf_counter()
    order = locality_order(q)
    order_s = time.perf_counter() - t0
    shuffled = np.random.default_rng(0).permutation(len(q))
    row: dict[str, object] = {"index": args.index, "sections": n, "queries": len(q), "k": args.k,
                              "ef_search": args.ef_search, "order_s": round(order_s, 2), "code": code_dir()}
    base = None
    for name, perm in (("stored", None), ("shuffled", shuffled), ("locality", order), ("stored_again", None)):
        x = q if perm is None else np.ascontiguousarray(q[perm])
        secs, found = timed(x)
        if perm is not None:
            back = np.empty_like(found)
            back[perm] = found
            found = back
        if base is None:
            base = found
        row[f"{name}_s"] = round(secs, 2)
        row[f"{name}_same_hits"] = bool(np.array_equal(found, base))
    stored = min(float(row["stored_s"]), float(row["stored_again_s"]))  # type: ignore[arg-type]
    row["speedup"] = round(stored / (float(row["locality_s"]) + order_s), 2)  # type: ignore[arg-type]
    emit(row, args.json_out)


if __name__ == "__main__":
    main()
