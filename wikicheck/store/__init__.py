"""The store: the source of truth. The faiss index and the findings are derived from it.

Two backends behind one gate (#15): an SQLite file in the index directory (the default), or a
PostgreSQL database with pgvector (`--store postgresql://...`, see pg.py)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from sqlite_utils import Database

from ..errors import StoreEmpty, StoreNotFound, WikicheckError
from ..model import Document, Section
from ._base import BUSY_TIMEOUT_MS, _section_row, write_rows
from .claims import ClaimCachePart
from .crawls import CrawlsPart
from .embeddings import EmbeddingsPart
from .events import GuardEventsPart
from .files import (
    _LAST_OPENED,
    _SOUND,
    _corrupt,
    _damaged,
    _file_state,
    _quick_check,
    _refuse_unusable_file,
    damage_error,
    source_roots,
)
from .guard_reads import GuardReadsPart
from .migrations import migrations
from .pg import PgDatabase, applied_migrations, connect, is_store_url, migrate, other_tables, redact, register_vector
from .reads import HistoryReadsPart
from .records import CheckRun, CrawlRecord, FindingRow
from .runs import CheckRunsPart
from .sources import SourcesPart
from .vectors import VectorSearchPart
from .versions import VersionsPart

DB_NAME = "wikicheck.db"


@dataclass
class SectionChanges:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0


def local_dir(index: str | Path) -> Path:
    """Where this machine keeps the files of a store (lock, faiss index, ONNX export): its index
    directory; for a PostgreSQL store, which has no directory, one in the cache named after its URL
    (without the password): only what can be made again (the ONNX export) goes there."""
    if is_store_url(index):
        import hashlib

        from ..userdirs import cache_dir

        return cache_dir() / "stores" / hashlib.sha1(redact(str(index)).encode()).hexdigest()[:16]
    return Path(index)


def db_path_for(index: str | Path) -> Path:
    p = Path(index)
    return p if p.suffix == ".db" else p / DB_NAME


class Store(SourcesPart, VersionsPart, EmbeddingsPart, CheckRunsPart, GuardEventsPart, CrawlsPart, HistoryReadsPart,
            GuardReadsPart, ClaimCachePart, VectorSearchPart):
    """Typed reads and writes over the wikicheck database (SQLite, or PostgreSQL: pg.py): the only code that writes SQL
    (#13). Here: opening it, transactions, meta, and the pages and sections a crawl writes. Sources,
    section versions and renames, embeddings, check runs and findings, guard events, crawl runs and
    bookkeeping are in the parts it inherits (sources.py, versions.py, embeddings.py, runs.py,
    events.py, crawls.py, reads.py); the records they return are in records.py."""

    def __init__(self, db: Database, path: Path | None, url: str | None = None):
        self.db = db
        self.path = path
        self.url = url  # a PostgreSQL store's URL (then `path` is None)
        self.dialect = "postgresql" if url else "sqlite"

    @property
    def where(self) -> str:
        """The store for messages: its index directory, or its URL without the password."""
        if self.url:
            return redact(self.url)
        return str(self.path.parent) if self.path is not None else "the store"

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The database errors of this backend (what a best-effort write may meet)."""
        if self.url:
            import psycopg

            return (sqlite3.Error, psycopg.Error)
        return (sqlite3.Error,)

    # ------------------------------------------------------------------ open / close

    @classmethod
    def open(cls, index: str | Path, *, create: bool = False) -> "Store":
        """Open the store of an index directory (or a .db file, or a postgresql:// URL), applying
        pending migrations."""
        if is_store_url(index):
            return cls._open_postgresql(str(index), create)
        path = db_path_for(index)
        if not path.exists():
            if not create:
                raise StoreNotFound(f'no wikicheck store at {path}; run "wikicheck crawl SOURCE --index {index}" first')
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            _refuse_unusable_file(path, index, create)
        _LAST_OPENED[:] = [path]
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            _quick_check(conn, path)  # before anything (WAL, migrations) can write to a damaged file
            db = Database(conn)
            # another application's database: refuse before anything (WAL, our tables) changes the file
            other = sorted(set(db.table_names()) - {"_sqlite_migrations"})
            if other and not migrations.applied(db):
                conn.close()
                raise WikicheckError(f"{path}: not a wikicheck store (an SQLite database with tables "
                                     f"{', '.join(other[:5])}); give another --index")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            migrations.apply(db)
        except sqlite3.DatabaseError as e:
            if _corrupt(e):  # a damaged page met before quick_check could report it
                raise _damaged(path, str(e)) from None
            raise WikicheckError(f"{path}: not a wikicheck store or corrupted ({e}); move it away and re-crawl") from None
        conn.execute("PRAGMA foreign_keys=ON")  # after migrations (see STYLE.md §4)
        _SOUND[path.resolve()] = _file_state(path)  # migrations may have written: remember the new state
        return cls(db, path)

    @classmethod
    def _open_postgresql(cls, url: str, create: bool) -> "Store":
        raw = connect(url)
        try:
            if applied_migrations(raw) is None:
                if not create:
                    raise StoreNotFound(f'no wikicheck store in {redact(url)}; run "wikicheck crawl SOURCE '
                                        f'--store {redact(url)}" first')
                other = other_tables(raw)
                if other:
                    raise WikicheckError(f"{redact(url)}: not a wikicheck store (a database with tables "
                                         f"{', '.join(other[:5])}); give another database")
            migrate(raw, url)
            register_vector(raw)
        except BaseException:
            raw.close()
            raise
        return cls(PgDatabase(raw, url), None, url)  # type: ignore[arg-type]

    @classmethod
    def memory(cls) -> "Store":
        db = Database(memory=True)
        migrations.apply(db)
        db.conn.execute("PRAGMA foreign_keys=ON")
        return cls(db, None)

    def close(self) -> None:
        self.db.conn.close()

    def writer_lock_holder(self) -> str | None:
        """Who holds a PostgreSQL store's writer lock (pg.PgLock), None when nobody does; always None
        for SQLite, whose lock is a file of the index directory (lock.py)."""
        if not self.url:
            return None
        from .pg import holder

        return holder(self.db.conn.raw)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ validation (issue 11)

    def require_crawled(self) -> None:
        """Refuse a store that holds nothing: no completed crawl and no section. An empty store is
        no wiki at all, and `check` on it must not read as a clean one (exit 0, 0 findings)."""
        if self.db.execute("select 1 from crawls where status = 'ok' limit 1").fetchone():
            return
        if self.db.execute("select 1 from sections where known_from = 'crawl' limit 1").fetchone():
            return  # written by the library, not a crawl (benchmarks/synth.py); readers.py judges unfinished crawls
        where = self.path if self.path is not None else "the store"
        index = self.path.parent if self.path is not None else "DIR"
        if self.url:
            raise StoreEmpty(f'{self.where}: no crawl has completed; run "wikicheck crawl SOURCE --store URL"')
        raise StoreEmpty(f'{where}: no crawl has completed; run "wikicheck crawl SOURCE --index {index}"')

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.url:  # PostgreSQL: a transaction, or a savepoint inside one (pg.PgConn)
            with self.db.conn.transaction():  # type: ignore[attr-defined]
                yield
            return
        with self.db.conn:
            # BEGIN now: sqlite-utils commits each insert/upsert on its own unless a transaction is open.
            # IMMEDIATE: take the write lock first (waiting for another writer up to the busy timeout). A
            # deferred transaction that reads, then writes after another process committed (the guard's
            # exposure events while a crawl runs) fails at once with "database is locked", timeout or not.
            if not self.db.conn.in_transaction:
                self.db.conn.execute("BEGIN IMMEDIATE")
            yield

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("select value from meta where key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("insert into meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value",
                        [key, value])

    # ------------------------------------------------------------------ documents and sections

    def document_fingerprints(self, source: str) -> dict[str, tuple[str, str | None]]:
        # pages a crawl saw: not those only the history knows (issue 12), which no crawl can skip or remove
        rows = self.db.execute("select path, fingerprint, removed_at from documents where source = ? "
                               "and known_from = 'crawl'", [source])
        return {p: (f, r) for p, f, r in rows.fetchall()}

    def save_document(self, doc: Document, sections: list[Section], ts: str) -> SectionChanges:
        """Write a page and its sections in one transaction; report what changed."""
        m = doc.meta
        changes = SectionChanges()
        with self.transaction():
            existing = self.db.execute("select first_seen from documents where id = ?", [doc.id]).fetchone()
            self.db["documents"].upsert(
                {
                    "id": doc.id, "source": doc.source, "path": doc.path, "kind": doc.kind,
                    "title": doc.title, "url": doc.url, "fingerprint": doc.fingerprint, "size": doc.size,
                    "mtime": doc.mtime, "changed_at": doc.provenance.changed_at, "author": doc.provenance.author,
                    "commit": doc.provenance.commit, "timestamp_source": doc.provenance.timestamp_source,
                    "owner": _str(m.get("owner")), "status": _str(m.get("status")),
                    "superseded_by": _str(m.get("superseded_by")), "last_reviewed": _str(m.get("last_reviewed")),
                    "review_by": _str(m.get("review_by") or m.get("expires")),
                    "meta": json.dumps(m, sort_keys=True, default=str), "text": doc.text,
                    "first_seen": (existing[0] if existing else None) or ts, "last_seen": ts, "removed_at": None,
                    "known_from": "crawl",
                },
                pk="id",
            )
            # a section only the history knew (its row was written with the versions) is new to the crawl
            old = {
                r[0]: (r[1], r[2])
                for r in self.db.execute(
                    "select id, content_hash, removed_at from sections where document_id = ? and known_from = 'crawl'",
                    [doc.id]).fetchall()
            }
            history = {r[0] for r in self.db.execute(
                "select id from sections where document_id = ? and known_from = 'history'", [doc.id]).fetchall()}
            seen = set()
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for s in sections:
                seen.add(s.id)
                prev = old.get(s.id)
                if prev is None:
                    changes.new += 1
                elif prev[0] != s.content_hash or prev[1] is not None:
                    changes.changed += 1
                else:
                    changes.unchanged += 1
                row = _section_row(s)
                row["last_seen"] = ts
                row["removed_at"] = None
                row["known_from"] = "crawl"
                if prev is not None and prev[0] == s.content_hash and s.provenance.timestamp_source != "git":
                    # a page date (front matter, page metadata, mtime) moves when any section of the page
                    # changes; a section whose text did not change keeps the date it got when it did
                    for k in ("changed_at", "author", "commit", "timestamp_source"):
                        row.pop(k)
                if prev is None:
                    row["first_seen"] = ts
                (updates if prev is not None or s.id in history else inserts).append(row)
            write_rows(self.db, "sections", inserts, update=False)
            write_rows(self.db, "sections", updates, update=True)
            gone = [sid for sid, (_, removed) in old.items() if sid not in seen and removed is None]
            for sid in gone:
                self.db.execute("update sections set removed_at = ? where id = ?", [ts, sid])
            changes.removed = len(gone)
        return changes

    def mark_removed(self, source: str, present: set[str], ts: str) -> tuple[int, int]:
        """Mark pages no longer in the source, and their sections, as removed. History is kept."""
        docs = sections = 0
        with self.transaction():
            rows = self.db.execute(
                "select id, path from documents where source = ? and removed_at is null", [source]
            ).fetchall()
            for doc_id, path in rows:
                if path in present:
                    continue
                docs += 1
                self.db.execute("update documents set removed_at = ? where id = ?", [ts, doc_id])
                cur = self.db.execute(
                    "update sections set removed_at = ? where document_id = ? and removed_at is null", [ts, doc_id])
                sections += cur.rowcount
                self._close_open_versions(doc_id, ts, None)
        return docs, sections

    def sections(self, where: str = "removed_at is null", params: list[Any] | None = None) -> list[dict[str, Any]]:
        rows = self.db.query(f"select * from sections where {where} order by path, line_start", params or [])
        return [_decode_section(r) for r in rows]

    def section(self, section_id: str) -> dict[str, Any] | None:
        rows = self.sections("id = ?", [section_id])
        return rows[0] if rows else None

    def documents(self, where: str = "removed_at is null", params: list[Any] | None = None) -> list[dict[str, Any]]:
        return list(self.db.query(f"select * from documents where {where} order by source, path", params or []))

    # ------------------------------------------------------------------ embeddings

    def model_id(self) -> str | None:
        return self.get_meta("model_id")


def keys_digest(keys: np.ndarray) -> str:
    """The first fields of Store.index_state, computed over faiss ids: equal when the ids are the
    live keys with vectors (count, weighted sum and maximum), at no query's cost."""
    k = np.asarray(keys, dtype="int64")
    weighted = int(((k * 2654435761) % 1000000007).sum()) if len(k) else 0
    return f"{len(k)}:{weighted}:{int(k.max()) if len(k) else 0}"


def _str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def _decode_section(r: dict[str, Any]) -> dict[str, Any]:
    r = dict(r)
    r["heading_path"] = json.loads(r["heading_path"]) if r.get("heading_path") else []
    return r


__all__ = ["DB_NAME", "CheckRun", "is_store_url", "local_dir", "redact", "CrawlRecord", "FindingRow", "SectionChanges", "Store", "damage_error", "db_path_for",
           "keys_digest", "source_roots"]
