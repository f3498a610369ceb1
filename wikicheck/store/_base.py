"""What the parts of the store share: its connection, Store.transaction and Store.set_meta (defined
in __init__), and the row a section is written as."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlite_utils import Database

from ..model import Section

# how long a connection waits for another writer's lock before "database is locked"
BUSY_TIMEOUT_MS = 30_000


class StorePart:
    """Base of the mixins Store is assembled from; each holds the SQL of one family of tables."""

    db: Database
    dialect: str  # "sqlite" | "postgresql": where a statement must differ, it says so

    @staticmethod
    def as_vector(v: Any) -> np.ndarray:
        """A stored vector as a float32 array: SQLite keeps its bytes; pgvector's loaders give a numpy
        array, or a pgvector.Vector (binary format)."""
        if hasattr(v, "to_numpy"):
            v = v.to_numpy()
        if isinstance(v, np.ndarray):
            return v.astype("<f4", copy=False)
        return np.frombuffer(v, dtype="<f4")

    def vector_rows(self, sql: str, params: list[Any]) -> Any:
        """`db.execute` for a statement that returns vectors: in binary on PostgreSQL (pg.PgConn.execute)."""
        if self.dialect == "postgresql":
            return self.db.conn.execute(sql, params, binary=True)  # type: ignore[call-arg]
        return self.db.execute(sql, params)

    if TYPE_CHECKING:
        def transaction(self) -> AbstractContextManager[None]: ...

        def set_meta(self, key: str, value: str) -> None: ...


def _section_row(s: Section) -> dict[str, Any]:
    return {
        "id": s.id, "document_id": s.document_id, "source": s.source, "path": s.path, "heading": s.heading,
        "heading_path": json.dumps(s.heading_path), "level": s.level, "ordinal": s.ordinal, "anchor": s.anchor,
        "line_start": s.line_start, "line_end": s.line_end, "text": s.text, "raw": s.raw,
        "content_hash": s.content_hash, "body_hash": s.body_hash, "changed_at": s.provenance.changed_at,
        "author": s.provenance.author, "commit": s.provenance.commit,
        "timestamp_source": s.provenance.timestamp_source,
    }


def write_rows(db: Database, table: str, rows: list[dict[str, Any]], *, update: bool) -> None:
    """Insert rows, or update them by id, with one prepared statement per set of columns (executemany).
    sqlite-utils' Table.insert/update introspect the table and look the row up on every call: for the
    sections of a crawl that per-row work cost more than the writes."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r), []).append(r)
    for cols, group in groups.items():
        if update:
            rest = [c for c in cols if c != "id"]
            sql = f"update [{table}] set {', '.join(f'[{c}] = ?' for c in rest)} where id = ?"
            params = [[r[c] for c in rest] + [r["id"]] for r in group]
        else:
            sql = (f"insert into [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
                   f"values ({', '.join('?' * len(cols))})")
            params = [[r[c] for c in cols] for r in group]
        db.conn.executemany(sql, params)
