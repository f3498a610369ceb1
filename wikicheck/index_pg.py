"""The vector index of a PostgreSQL store (#15): pgvector in the database, searched there.

It answers as VectorIndex (index.py) does for an SQLite store, so the guard does not know which
backend it searches: exact below HNSW_THRESHOLD live sections, an HNSW graph (faiss's M,
ef_construction and ef_search) above. Nothing is loaded into memory and no file is written: a
`wikicheck serve` replica holds no copy of the index, and sees a crawl as soon as it commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .dates import now_iso
from .index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, HNSW_THRESHOLD, OK, IndexHealth, Manifest
from .store import Store

KIND_GRAPH = f"pgvector(hnsw, m={HNSW_M})"
KIND_EXACT = "pgvector(exact)"
RESCORE_EXTRA = 16  # candidates asked of pgvector beyond k, rescored as faiss scores them (PgVectorIndex.search)


def build_pg_index(store: Store, model_id: str) -> tuple[Manifest, bool]:
    """Make the store's vector search what its size calls for (the graph past HNSW_THRESHOLD live
    sections, none below it); (manifest, graph created now?). The caller holds the writer's lock."""
    graph = store.live_vector_count(model_id) > HNSW_THRESHOLD
    created = store.ensure_vector_graph(model_id, int(store.get_meta("dim") or 0), graph, m=HNSW_M,
                                        ef_construction=HNSW_EF_CONSTRUCTION)
    manifest = pg_manifest(store, model_id)
    assert manifest is not None
    return manifest, created


def pg_manifest(store: Store, model_id: str | None, *, state: bool = True) -> Manifest | None:
    """The manifest of a PostgreSQL store's vector search, as it is now (None before any vector): the
    database is the index, so it always holds what the store says (its state is the store's; without
    `state`, which reads every live section's hash, it is left empty)."""
    if not model_id:
        return None
    graph = store.vector_graph(model_id)
    return Manifest(model_id, int(store.get_meta("dim") or 0), store.live_vector_count(model_id),
                    store.index_state(model_id) if state else "", now_iso(), KIND_GRAPH if graph else KIND_EXACT)


class PgVectorIndex:
    """VectorIndex's interface over pgvector."""

    def __init__(self, store: Store, model_id: str):
        self.store, self.model_id = store, model_id
        self.found: IndexHealth = OK
        self.rebuild = None
        self._excluded: list[int] = []
        manifest = pg_manifest(store, model_id, state=False)
        assert manifest is not None
        self.manifest = manifest
        self.graph = manifest.kind == KIND_GRAPH

    def damage_note(self, index_dir: str | Path) -> str | None:
        return None  # no file to damage

    def exclude(self, keys: Any) -> None:
        self._excluded = sorted({int(k) for k in keys})

    def search(self, vectors: np.ndarray, k: int, ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, keys) as VectorIndex.search gives them. pgvector picks each query's candidates
        (RESCORE_EXTRA more than `k`); the batch is then scored as the flat faiss index of an SQLite
        store scores it: one faiss search of all the queries over the candidates of all of them, added
        by key as index._build adds them. So sections whose scores differ in the last bits between
        pgvector's arithmetic and faiss's rank alike on both backends, and the batch costs one faiss
        call. A query may so find another query's candidate: a live section, nearer than its own last."""
        import faiss

        x = np.ascontiguousarray(vectors, dtype="float32")
        n = len(x)
        scores = np.zeros((n, k), dtype="float32")
        keys = -np.ones((n, k), dtype="int64")
        found: dict[int, np.ndarray] = {}
        for hits in self.store.nearest_sections(self.model_id, self.manifest.dim, x, k + RESCORE_EXTRA,
                                                exclude=self._excluded, graph=self.graph,
                                                ef_search=ef_search or HNSW_EF_SEARCH):
            for key, _, vec in hits:
                found[key] = vec
        if not found:
            return scores, keys
        order = sorted(found)
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(len(found[order[0]])))
        flat.add_with_ids(np.ascontiguousarray(np.stack([found[key] for key in order])), np.array(order, dtype="int64"))
        s, f = flat.search(x, min(k, len(order)))
        scores[:, :s.shape[1]], keys[:, :f.shape[1]] = s, f
        return scores, keys

    def reconstruct(self, key: int) -> np.ndarray:
        v = self.store.vector_of_key(self.model_id, key)
        if v is None:
            raise RuntimeError(f"no vector for section key {key}")
        return np.asarray(v, dtype="float32")


def load_vector_index(store: Store, index_dir: str | Path, model_id: str) -> Any:
    """The index a guard searches: the verified faiss file of an SQLite store (rebuilt from the
    store when it must be, VectorIndex.load), or the database's own search for a PostgreSQL store."""
    from .index import VectorIndex

    if store.url:
        return PgVectorIndex(store, model_id)
    return VectorIndex.load(store, index_dir, model_id)


def build_vector_index(store: Store, index_dir: str | Path, model_id: str) -> tuple[Manifest, bool]:
    """After a crawl: write the faiss index (index.build_index), or make the database's vector search
    what the store's size calls for."""
    from .index import build_index

    if store.url:
        return build_pg_index(store, model_id)
    return build_index(store, index_dir, model_id)
