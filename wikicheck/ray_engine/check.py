"""`wikicheck check --ray`: the check's two bulk steps on a Ray cluster.

* The neighbour search of every section (drift.core.Corpus.neighbours): the faiss index is put in
  Ray's object store once, the queries (in locality order for a graph, as index.search_batch orders
  them) are split into one contiguous part per CPU slot, and each part is searched by a task of one
  CPU. A query's search depends on that query and the index alone, so the hits are the local ones.
* Claim extraction (claims.extract_claims) of every live text the store's claim cache does not
  hold: a pure function of the text, in tasks of one CPU over parts of the texts.

Everything else (history, lineage, pages, contradictions, comparing claims) runs in the check's own
process: it reads the whole corpus at once. The results are identical to the local check's."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..claims import Claim
from ..errors import WikicheckError
from .cluster import RayCluster, _ray, failure

# claim extraction: texts per task (each task returns its texts' claims in one object)
CLAIM_PART = 2048


def _search_part(blob: np.ndarray, x: np.ndarray, k: int, ef_search: int | None, graph: bool) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(1)  # the task holds one CPU
    index = faiss.deserialize_index(blob)
    if graph and ef_search:
        return index.search(x, k, params=faiss.SearchParametersHNSW(efSearch=ef_search))
    return index.search(x, k)


def _claims_part(texts: list[str]) -> list[frozenset[Claim]]:
    from ..claims import extract_claims

    return [extract_claims(t) for t in texts]


def _get(ray: Any, refs: list[Any], what: str) -> list[Any]:
    try:
        return list(ray.get(refs))
    except ray.exceptions.RayError as e:
        raise WikicheckError(f"{what} on the Ray cluster failed: {failure(e)}; nothing was recorded, "
                             "run the check again (or without --ray)") from None


class RayCheckWork:
    """What the drift corpus hands to the cluster (Corpus(executor=...))."""

    def __init__(self, cluster: RayCluster) -> None:
        self.cluster = cluster
        self.parts = max(1, int(cluster.cpus))
        self.done: dict[str, float] = {"queries": 0, "query_parts": 0, "search_s": 0.0,
                                       "texts": 0, "text_parts": 0, "claims_s": 0.0}

    def search(self, index: Any, x: np.ndarray, k: int, ef_search: int | None, graph: bool) -> tuple[np.ndarray, np.ndarray]:
        """index.search(x, k) over the cluster; (scores, ids) in the order of `x`."""
        import faiss

        from ..index import search_order

        ray = _ray()
        t0 = time.perf_counter()
        n = len(x)
        order = search_order(x, graph)
        if order is None:
            order = np.arange(n)
        blob = ray.put(faiss.serialize_index(index))
        task = ray.remote(num_cpus=1)(_search_part)
        parts = [p for p in np.array_split(order, min(self.parts, max(1, n))) if len(p)]
        refs = [task.remote(blob, np.ascontiguousarray(x[p]), k, ef_search, graph) for p in parts]
        sims = np.empty((n, k), dtype="float32")
        ids = np.empty((n, k), dtype="int64")
        for p, (s, i) in zip(parts, _get(ray, refs, "the neighbour search")):
            sims[p], ids[p] = s, i
        self.done["queries"] += n
        self.done["query_parts"] += len(parts)
        self.done["search_s"] += time.perf_counter() - t0
        return sims, ids

    def claims(self, texts: list[str]) -> list[frozenset[Claim]]:
        """extract_claims of each text, in order."""
        ray = _ray()
        t0 = time.perf_counter()
        task = ray.remote(num_cpus=1)(_claims_part)
        size = max(1, min(CLAIM_PART, -(-len(texts) // self.parts)))
        refs = [task.remote(texts[s:s + size]) for s in range(0, len(texts), size)]
        out: list[frozenset[Claim]] = []
        for got in _get(ray, refs, "claim extraction"):
            out.extend(got)
        self.done["texts"] += len(texts)
        self.done["text_parts"] += len(refs)
        self.done["claims_s"] += time.perf_counter() - t0
        return out

    def describe(self) -> dict[str, Any]:
        return {"address": self.cluster.address, "nodes": self.cluster.nodes, "cpus": self.cluster.cpus,
                **{k: round(v, 3) if k.endswith("_s") else int(v) for k, v in self.done.items()}}
