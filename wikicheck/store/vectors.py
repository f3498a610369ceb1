"""Vector search inside the database (PostgreSQL + pgvector, #15): the guard of a PostgreSQL store
asks the database for a query's nearest sections, so any number of stateless `wikicheck serve`
replicas share one store and see a crawl as soon as it commits.

The search mirrors the faiss index of an SQLite store (index.py): exact while the live sections are
at most HNSW_THRESHOLD (a scan ordered by inner product, the same hits as IndexFlatIP), an HNSW graph
with faiss's parameters (M, ef_construction, ef_search) past it. The graph is a partial expression
index per model, `(vector::vector(dim)) vector_ip_ops where model_id = '...'`: the column holds
vectors of any model and size, the graph one model's.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ._base import StorePart

GRAPH_MAX_CANDIDATES = 1000  # pgvector's largest hnsw.ef_search


def graph_name(model_id: str) -> str:
    return "idx_embeddings_hnsw_" + hashlib.sha1(model_id.encode()).hexdigest()[:12]


class VectorSearchPart(StorePart):
    def _literal(self, value: str) -> str:
        """`value` as an SQL string literal: a partial index is only used by a query whose predicate
        names the same constant, so the model id is written into the statement, never bound."""
        return "'" + value.replace("'", "''") + "'"

    def vector_graph(self, model_id: str) -> bool:
        """Whether the HNSW graph of this model's vectors exists."""
        return bool(self.db.execute("select to_regclass(?) is not null", [graph_name(model_id)]).fetchone()[0])

    def ensure_vector_graph(self, model_id: str, dim: int, graph: bool, *, m: int, ef_construction: int) -> bool:
        """Make the HNSW graph of this model's vectors exist when `graph`, and not exist otherwise (the
        search is then exact). True when it was created now. Building it reads every vector of the model
        once; afterwards PostgreSQL keeps it up to date on every insert."""
        name = graph_name(model_id)
        has = self.vector_graph(model_id)
        if graph and not has:
            self.db.execute(
                f"create index if not exists {name} on embeddings using hnsw ((vector::vector({int(dim)})) vector_ip_ops) "
                f"with (m = {int(m)}, ef_construction = {int(ef_construction)}) where model_id = {self._literal(model_id)}")
            self.db.execute("analyze embeddings")  # the planner's row counts: a fresh table looks empty to it
            return True
        if not graph and has:
            self.db.execute(f"drop index if exists {name}")
        return False

    def nearest_sections(self, model_id: str, dim: int, query: np.ndarray, k: int, *, exclude: list[int],
                         graph: bool, ef_search: int) -> list[tuple[int, float, np.ndarray]]:
        """The `k` live sections nearest to `query` by inner product: [(key, score, vector)], best first.

        With `graph`, the HNSW graph gives the nearest vectors of the model (each a distinct text), and
        they are joined to the live sections with that text. Removed sections keep their vectors, so it
        is asked for more than `k`, and for four times as many while fewer than `k` live sections come
        back, up to GRAPH_MAX_CANDIDATES (pgvector's largest ef_search); past that the search is exact."""
        q = np.asarray(query, dtype="float32")
        model = self._literal(model_id)
        excl = [int(x) for x in exclude]
        want = int(k) * 2 + len(excl) + 16
        while graph and want <= GRAPH_MAX_CANDIDATES:
            found = self._graph_candidates(model, dim, q, want, excl, k, ef_search)
            if len(found) >= k:
                return found
            want *= 4
        rows = self.db.execute(
            "select s.key, e.vector <#> ? as d, e.vector from sections s join embeddings e "
            f"on e.content_hash = s.content_hash and e.model_id = {model} "
            "where s.removed_at is null and not (s.key = any(?)) order by d, s.key limit ?",
            [q, excl, int(k)]).fetchall()
        return [(int(key), -float(d), _array(v)) for key, d, v in rows]

    def _graph_candidates(self, model: str, dim: int, q: np.ndarray, want: int, excl: list[int], k: int,
                          ef_search: int) -> list[tuple[int, float, np.ndarray]]:
        expr = f"(vector::vector({int(dim)}))"
        with self.transaction():
            self.db.execute(f"set local hnsw.ef_search = {max(int(ef_search), min(want, GRAPH_MAX_CANDIDATES))}")
            rows = self.db.execute(
                f"select s.key, h.d, h.vector from (select content_hash, vector, {expr} <#> ?::vector({int(dim)}) as d "
                "from embeddings "
                f"where model_id = {model} order by {expr} <#> ?::vector({int(dim)}) limit ?) h "
                "join sections s on s.content_hash = h.content_hash "
                "where s.removed_at is null and not (s.key = any(?)) order by h.d, s.key limit ?",
                [q, q, want, excl, int(k)]).fetchall()
        return [(int(key), -float(d), _array(v)) for key, d, v in rows]

    def live_vector_count(self, model_id: str) -> int:
        """How many live sections have a vector of this model (what an index of them holds)."""
        return int(self.db.execute(
            "select count(*) from sections s join embeddings e on e.content_hash = s.content_hash and e.model_id = ? "
            "where s.removed_at is null", [model_id]).fetchone()[0])

    def vector_of_key(self, model_id: str, key: int) -> Any:
        got = self.vectors_for_keys(model_id, [int(key)])  # type: ignore[attr-defined]
        return got.get(int(key))


def _array(v: Any) -> np.ndarray:
    """A pgvector value as a float32 array (its loader gives numpy arrays, or Vector objects)."""
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype="float32")
