"""Embeddings (table `embeddings`): one vector per distinct text and model, and what the faiss index is built from."""

from __future__ import annotations

import json

import numpy as np

from ..dates import now_iso
from ._base import StorePart


class EmbeddingsPart(StorePart):

    def _one_per_hash(self, where: str, params: list[str]) -> list[tuple[str, str]]:
        """(content_hash, text to embed) of the live sections matching `where` (over sections `s`),
        one per content hash (equal hashes embed equal texts), by hash."""
        # SQLite returns the other columns of a group from one of its rows; PostgreSQL says so: distinct on
        head = ("select distinct on (s.content_hash) s.content_hash, s.heading_path, s.text"
                if self.dialect == "postgresql" else "select s.content_hash, s.heading_path, s.text")
        group = "" if self.dialect == "postgresql" else " group by s.content_hash"
        rows = self.db.execute(f"{head} from sections s where s.removed_at is null{where}{group} "
                               "order by s.content_hash", params).fetchall()
        return [(h, " > ".join(json.loads(hp)) + "\n\n" + t) for h, hp, t in rows]

    def pending_embeddings(self, model_id: str) -> list[tuple[str, str]]:
        """(content_hash, text to embed) of live sections that have no vector for this model."""
        return self._one_per_hash(" and not exists (select 1 from embeddings e where e.content_hash = s.content_hash "
                                  "and e.model_id = ?)", [model_id])

    def live_texts(self) -> list[tuple[str, str]]:
        """(content_hash, text to embed) of every live section, one per content hash, by hash."""
        return self._one_per_hash("", [])

    def put_embeddings(self, model_id: str, hashes: list[str], vectors: np.ndarray) -> None:
        ts = now_iso()
        vecs = np.asarray(vectors, dtype="<f4")
        pg = self.dialect == "postgresql"  # a pgvector value (pg.register_vector), else the float32 bytes
        with self.transaction():
            self.db.conn.executemany(
                "insert into embeddings (content_hash, model_id, vector, created_at) values (?, ?, ?, ?) "
                "on conflict (content_hash, model_id) do update set vector = excluded.vector, created_at = excluded.created_at",
                [(h, model_id, vecs[i] if pg else vecs[i].tobytes(), ts) for i, h in enumerate(hashes)],
            )

    def live_vectors(self, model_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of every live section that has a vector for this model."""
        rows = self.vector_rows(
            """select s.key, e.vector from sections s join embeddings e
               on e.content_hash = s.content_hash and e.model_id = ?
               where s.removed_at is null order by s.key""",
            [model_id],
        ).fetchall()
        if not rows:
            return np.zeros(0, dtype="int64"), np.zeros((0, 0), dtype="float32")
        keys = np.fromiter((r[0] for r in rows), dtype="int64", count=len(rows))
        vecs = np.frombuffer(b"".join(_bytes(r[1]) for r in rows), dtype="<f4").reshape(len(rows), -1)  # one copy
        return keys, vecs.astype("float32", copy=False)

    def vectors_for_hashes(self, model_id: str, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            q = ",".join("?" * len(chunk))
            for h, v in self.vector_rows(
                f"select content_hash, vector from embeddings where model_id = ? and content_hash in ({q})",
                [model_id, *chunk]):
                out[h] = self.as_vector(v)
        return out

    def index_state(self, model_id: str) -> str:
        """A digest of what the index should contain; the manifest records it."""
        row = self.db.execute(
            """select count(*), coalesce(sum(s.key * 2654435761 % 1000000007), 0),
                      coalesce(max(s.key), 0)
               from sections s join embeddings e on e.content_hash = s.content_hash and e.model_id = ?
               where s.removed_at is null""",
            [model_id],
        ).fetchone()
        if self.dialect == "postgresql":
            concat = "select string_agg(content_hash, '' order by key) from sections where removed_at is null"
        else:
            concat = """select group_concat(content_hash, '') from (select s.content_hash from sections s
                        where s.removed_at is null order by s.key)"""
        hashes = self.db.execute(concat).fetchone()[0] or ""
        import hashlib
        return f"{row[0]}:{int(row[1])}:{row[2]}:{hashlib.sha1(hashes.encode()).hexdigest()[:16]}"

    def vectors_for_keys(self, model_id: str, keys: list[int]) -> dict[int, np.ndarray]:
        """The stored vector of each of these section keys (a sample, to compare the faiss index with)."""
        out: dict[int, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.vector_rows(
                f"""select s.key, e.vector from sections s join embeddings e
                    on e.content_hash = s.content_hash and e.model_id = ?
                    where s.key in ({",".join("?" * len(chunk))})""", [model_id, *chunk])
            out.update((k, self.as_vector(v)) for k, v in rows)
        return out


def _bytes(v: object) -> bytes:
    """A stored vector's float32 bytes (StorePart.as_vector's array for a pgvector value)."""
    return v if isinstance(v, bytes) else StorePart.as_vector(v).tobytes()
