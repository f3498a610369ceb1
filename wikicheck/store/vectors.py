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
GRAPH_BUILD_MEMORY = "2GB"  # maintenance_work_mem while the graph is built (~1.5 KB a vector of 384 dims with m=32)


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
            with self.transaction():
                # the graph is built fast while it fits in maintenance_work_mem (64 MB by default: at 100k x 384
                # dims it does not, and the build slows down many times); for this build only
                self.db.execute(f"set local maintenance_work_mem = '{GRAPH_BUILD_MEMORY}'")
                self.db.execute(
                    f"create index if not exists {name} on embeddings using hnsw ((vector::vector({int(dim)})) "
                    f"vector_ip_ops) with (m = {int(m)}, ef_construction = {int(ef_construction)}) "
                    f"where model_id = {self._literal(model_id)}")
            self.db.execute("analyze embeddings")  # the planner's row counts: a fresh table looks empty to it
            return True
        if not graph and has:
            self.db.execute(f"drop index if exists {name}")
        return False

    def nearest_sections(self, model_id: str, dim: int, queries: np.ndarray, k: int, *, exclude: list[int],
                         graph: bool, ef_search: int) -> list[list[tuple[int, float, np.ndarray]]]:
        """For each query, the `k` live sections nearest to it by inner product, leaving out the keys
        `exclude`: [(key, score, vector)], best first. One statement for the whole batch (a LATERAL
        search per query), not one per query.

        Each query asks for more than `k` (with `graph`: the nearest vectors of the model, each a
        distinct text, joined to the live sections with that text; removed sections keep their vectors);
        the left-out keys are dropped here (in SQL, a long list of them turns a top-N into a scan), and
        the queries that got fewer than `k` ask again for four times as many. Through the graph that goes
        up to GRAPH_MAX_CANDIDATES (pgvector's largest ef_search); past that, exact."""
        x = np.asarray(queries, dtype="float32")
        skip = {int(v) for v in exclude}
        out: list[list[tuple[int, float, np.ndarray]] | None] = [None] * len(x)
        todo = list(range(len(x)))
        want = int(k) * 2 + 16
        while graph and todo and want <= GRAPH_MAX_CANDIDATES:
            with self.transaction():
                self.db.execute(f"set local hnsw.ef_search = {max(int(ef_search), want)}")
                got = self._batch(self.graph_sql(model_id, dim), x[todo], [want], k, skip)
            todo = self._keep(out, todo, got, k, complete=False)
            want *= 4
        limit = int(k) + 16
        total = self.live_vector_count(model_id) if todo else 0
        while todo:
            got = self._batch(self.exact_sql(model_id), x[todo], [limit], k, skip)
            todo = self._keep(out, todo, got, k, complete=limit >= total)
            limit *= 4
        return [hits or [] for hits in out]

    @staticmethod
    def _keep(out: list[Any], todo: list[int], got: list[list[Any]], k: int, complete: bool) -> list[int]:
        """Record the queries of `todo` that found `k` (or all there is, when `complete`); the others."""
        for i, hits in zip(todo, got):
            if len(hits) >= k or complete:
                out[i] = hits
        return [i for i in todo if out[i] is None]

    def exact_sql(self, model_id: str) -> str:
        """Exact search of a batch of queries (?: the queries, how many sections each)."""
        return ("select q.i, c.key, c.d, c.vector from unnest(?::vector[]) with ordinality as q(v, i) "
                "cross join lateral (select s.key, e.vector <#> q.v as d, e.vector from sections s join embeddings e "
                f"on e.content_hash = s.content_hash and e.model_id = {self._literal(model_id)} "
                "where s.removed_at is null order by d, s.key limit ?) c order by q.i, c.d, c.key")

    def graph_sql(self, model_id: str, dim: int) -> str:
        """Search of a batch of queries through the model's HNSW graph (?: the queries, the candidates
        per query). The ORDER BY is the graph's expression, so the graph answers."""
        expr, typ = f"(vector::vector({int(dim)}))", f"vector({int(dim)})"
        return ("select q.i, s.key, h.d, h.vector from unnest(?::vector[]) with ordinality as q(v, i) "
                f"cross join lateral (select content_hash, vector, {expr} <#> q.v::{typ} as d from embeddings "
                f"where model_id = {self._literal(model_id)} order by {expr} <#> q.v::{typ} limit ?) h "
                "join sections s on s.content_hash = h.content_hash "
                "where s.removed_at is null order by q.i, h.d, s.key")

    def _batch(self, sql: str, x: np.ndarray, params: list[Any], k: int,
               skip: set[int]) -> list[list[tuple[int, float, np.ndarray]]]:
        from pgvector import Vector

        out: list[list[tuple[int, float, np.ndarray]]] = [[] for _ in range(len(x))]
        for i, key, d, v in self.vector_rows(sql, [[Vector(q) for q in x], *params]):
            hits = out[int(i) - 1]
            if len(hits) < k and int(key) not in skip:
                hits.append((int(key), -float(d), self.as_vector(v)))
        return out

    def live_vector_count(self, model_id: str) -> int:
        """How many live sections have a vector of this model (what an index of them holds)."""
        return int(self.db.execute(
            "select count(*) from sections s join embeddings e on e.content_hash = s.content_hash and e.model_id = ? "
            "where s.removed_at is null", [model_id]).fetchone()[0])

    def vector_of_key(self, model_id: str, key: int) -> Any:
        got = self.vectors_for_keys(model_id, [int(key)])  # type: ignore[attr-defined]
        return got.get(int(key))

