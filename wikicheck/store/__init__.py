"""The SQLite store: the source of truth. The faiss index and the findings are derived from it."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from sqlite_utils import Database

from ..dates import now_iso
from ..errors import StoreEmpty, StoreNotFound, WikicheckError
from ..migrations import migrations
from ..model import Document, Section
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
from .reads import HistoryReadsPart
from .records import CheckRun, CrawlRecord, FindingRow
from .runs import CheckRunsPart

DB_NAME = "wikicheck.db"


@dataclass
class SectionChanges:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0


def db_path_for(index: str | Path) -> Path:
    p = Path(index)
    return p if p.suffix == ".db" else p / DB_NAME


class Store(EmbeddingsPart, CheckRunsPart, GuardEventsPart, CrawlsPart, HistoryReadsPart, GuardReadsPart):
    """Typed reads and writes over the wikicheck SQLite database: the only code that writes SQL
    (#13). Check runs and findings, guard events, crawl bookkeeping and embeddings are in the
    parts it inherits (runs.py, events.py, crawls.py, embeddings.py); the records they return are
    in records.py."""

    def __init__(self, db: Database, path: Path | None):
        self.db = db
        self.path = path

    # ------------------------------------------------------------------ open / close

    @classmethod
    def open(cls, index: str | Path, *, create: bool = False) -> "Store":
        """Open the store of an index directory (or a .db file), applying pending migrations."""
        path = db_path_for(index)
        if not path.exists():
            if not create:
                raise StoreNotFound(f'no wikicheck store at {path}; run "wikicheck crawl SOURCE --index {index}" first')
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            _refuse_unusable_file(path, index, create)
        _LAST_OPENED[:] = [path]
        try:
            conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
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
    def memory(cls) -> "Store":
        db = Database(memory=True)
        migrations.apply(db)
        db.conn.execute("PRAGMA foreign_keys=ON")
        return cls(db, None)

    def close(self) -> None:
        self.db.conn.close()

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
        raise StoreEmpty(f'{where}: no crawl has completed; run "wikicheck crawl SOURCE --index {index}"')

    def vectors_for_keys(self, model_id: str, keys: list[int]) -> dict[int, np.ndarray]:
        """The stored vector of each of these section keys (a sample, to compare the faiss index with)."""
        out: dict[int, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.db.execute(
                f"""select s.key, e.vector from sections s join embeddings e
                    on e.content_hash = s.content_hash and e.model_id = ?
                    where s.key in ({",".join("?" * len(chunk))})""", [model_id, *chunk])
            out.update((k, np.frombuffer(v, dtype="<f4")) for k, v in rows)
        return out

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
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
        self.db.execute("insert or replace into meta (key, value) values (?, ?)", [key, value])

    # ------------------------------------------------------------------ sources

    def ensure_source(self, name: str, root: str, kind: str) -> dict[str, Any]:
        row = self.source(name)
        if row and row["root"] != root:
            raise WikicheckError(
                f'source name "{name}" is already used in this index for {row["root"]}; '
                f"crawl {root} with --name OTHER, or into another --index"
            )
        if not row:
            with self.transaction():
                self.db["sources"].insert(
                    {"name": name, "root": root, "kind": kind, "last_commit": None, "added_at": now_iso(),
                     "last_crawled_at": None})
            row = self.source(name)
        elif row["kind"] != kind:
            with self.transaction():
                self.db["sources"].update(name, {"kind": kind})
        return row  # type: ignore[return-value]

    def source(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db["sources"].rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def sources(self) -> list[dict[str, Any]]:
        return list(self.db["sources"].rows_where(order_by="name"))

    def set_source_commit(self, name: str, commit: str | None) -> None:
        with self.transaction():
            self.db["sources"].update(name, {"last_commit": commit, "last_crawled_at": now_iso()})

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
                    if s.id in history:
                        self.db["sections"].update(s.id, row)
                    else:
                        self.db["sections"].insert(row)
                else:
                    self.db["sections"].update(s.id, row)
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

    # ------------------------------------------------------------------ http sources

    def http_cache(self, source: str) -> dict[str, dict[str, Any]]:
        """What the last crawl of an HTTP source learnt, by URL: validators, fingerprint, links."""
        rows = self.db.query("select * from http_cache where source = ?", [source])
        return {r["url"]: {**r, "links": json.loads(r["links"] or "[]")} for r in rows}

    def replace_http_cache(self, source: str, rows: dict[str, dict[str, Any]]) -> None:
        cols = ("kind", "path", "doc_url", "etag", "last_modified", "fingerprint", "fetched_at")
        with self.transaction():
            self.db.execute("delete from http_cache where source = ?", [source])
            self.db.conn.executemany(
                f"insert into http_cache (source, url, links, {', '.join(cols)}) values (?, ?, ?{', ?' * len(cols)})",
                [(source, url, json.dumps(r.get("links") or []), *(r.get(c) for c in cols)) for url, r in rows.items()])

    # ------------------------------------------------------------------ versions

    def open_versions(self, document_id: str) -> dict[str, dict[str, Any]]:
        rows = self.db.query(
            "select * from section_versions where document_id = ? and valid_to is null", [document_id])
        return {r["section_id"]: r for r in rows}

    def apply_versions(
        self, document_id: str, source: str, path: str, sections: list[Section] | None,
        valid_from: str | None, commit: str | None, author: str | None, origin: str,
        checkpoint: tuple[str, int] | None = None, seen_at: str | None = None, kind: str | None = None,
    ) -> int:
        """Record a new state of a page: close versions whose text changed or went away, open new ones.

        `sections` None means the page was deleted. `seen_at`: the crawl that observed the change
        (sources without commits match moves by it). Returns the number of versions opened.
        A page or section that has no row yet gets one, known from the history (see _history_rows).
        """
        added = 0
        opened: list[Section] = []
        with self.transaction():
            current = self.open_versions(document_id)
            present = {s.id: s for s in sections or []}
            for sid, row in current.items():
                s = present.get(sid)
                if s is None or s.body_hash != row["body_hash"] or s.content_hash != row["content_hash"]:
                    self.db.execute(
                        "update section_versions set valid_to = ?, ended_by_commit = ?, closed_at = ? where id = ?",
                        [valid_from, commit, seen_at, row["id"]])
            for sid, s in present.items():
                row = current.get(sid)
                if row is None or s.body_hash != row["body_hash"] or s.content_hash != row["content_hash"]:
                    opened.append(s)
            # the rows the versions refer to first
            self._history_rows(document_id, source, path, kind, sections, opened, valid_from, commit, author,
                               origin, seen_at)
            for s in opened:
                self.db["section_versions"].insert({
                    "section_id": s.id, "document_id": document_id, "source": source, "path": path,
                    "heading_path": json.dumps(s.heading_path), "content_hash": s.content_hash,
                    "body_hash": s.body_hash, "text": s.text, "valid_from": valid_from, "valid_to": None,
                    "commit": commit, "author": author, "ended_by_commit": None, "origin": origin,
                    "seen_at": seen_at, "closed_at": None,
                })
                added += 1
            if checkpoint:
                self.set_meta(checkpoint[0], str(checkpoint[1]))
        return added

    def _history_rows(self, document_id: str, source: str, path: str, kind: str | None,
                      sections: list[Section] | None, opened: list[Section], valid_from: str | None,
                      commit: str | None, author: str | None, origin: str, seen_at: str | None) -> None:
        """Rows in `documents` and `sections` for a page and sections that only the history knows so
        far (issue 12: every version refers to a row, a foreign key): a past version in git log that
        no crawl saw at the source, or one the crawl is about to save (which makes it a crawled row).
        Such a row is removed (`removed_at`: the crawl that recorded it), so nothing serves, embeds or
        checks it; it holds the address and the last text the history has, and `known_from = 'history'`."""
        removed = seen_at or valid_from or now_iso()
        ts_source = "git" if origin == "git" else None
        doc = self.db.execute("select known_from from documents where id = ?", [document_id]).fetchone()
        if doc is None:
            self.db["documents"].insert({
                "id": document_id, "source": source, "path": path, "kind": kind, "changed_at": valid_from,
                "author": author, "commit": commit, "timestamp_source": ts_source, "removed_at": removed,
                "known_from": "history"})
        elif doc[0] == "history" and sections is not None:
            self.db.execute("update documents set changed_at = ?, author = ?, \"commit\" = ? where id = ?",
                            [valid_from, author, commit, document_id])
        if not opened:
            return
        known = dict(self.db.execute(
            "select id, known_from from sections where document_id = ?", [document_id]).fetchall())
        for s in opened:
            if known.get(s.id, "history") != "history":
                continue
            row = _section_row(s)
            if not row["changed_at"]:  # a past version has the date of its commit
                row.update(changed_at=valid_from, author=author, commit=commit, timestamp_source=ts_source)
            if s.id in known:
                self.db["sections"].update(s.id, row)  # its last text; recorded when it was first
            else:
                self.db["sections"].insert({**row, "removed_at": removed, "known_from": "history"})

    def _close_open_versions(self, document_id: str, ts: str, commit: str | None) -> None:
        self.db.execute(
            "update section_versions set valid_to = ?, ended_by_commit = ?, closed_at = ? "
            "where document_id = ? and valid_to is null",
            [ts, commit, ts, document_id])

    def record_rename(self, source: str, old_path: str, new_path: str, at: str | None,
                      commit: str | None = None, origin: str = "git", similarity: int | None = None) -> None:
        """The source says page `old_path` is now `new_path` (git rename, HTTP redirect or canonical URL).

        Idempotent: the same rename seen again (a re-crawl, a history import resumed) is one row."""
        if old_path == new_path:
            return
        with self.transaction():
            self.db.execute(
                "insert or ignore into renames (source, old_path, new_path, at, \"commit\", origin, similarity) "
                "values (?, ?, ?, ?, ?, ?, ?)", [source, old_path, new_path, at or "", commit, origin, similarity])

    def renames(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every rename the sources reported, oldest first."""
        where, params = ("where source = ?", [source]) if source else ("", [])
        return list(self.db.query(f"select * from renames {where} order by at, id", params))

    def versions(self, section_id: str) -> list[dict[str, Any]]:
        return list(self.db.query(
            "select * from section_versions where section_id = ? order by valid_from, id", [section_id]))

    # ------------------------------------------------------------------ embeddings

    def model_id(self) -> str | None:
        return self.get_meta("model_id")

    # ------------------------------------------------------------------ crawl runs

    def start_crawl(self, sources: list[str]) -> int:
        with self.transaction():
            return self.db["crawls"].insert({
                "started_at": now_iso(), "status": "running", "pid": os.getpid(),
                "sources": json.dumps(sources),
            }).last_pk  # type: ignore[return-value]

    def finish_crawl(self, crawl_id: int, status: str, counts: dict[str, Any]) -> None:
        with self.transaction():
            self.db["crawls"].update(crawl_id, {"finished_at": now_iso(), "status": status, **counts})

    def add_warning(self, crawl_id: int, source: str, path: str, message: str) -> None:
        with self.transaction():
            self.db["warnings"].insert({"crawl_id": crawl_id, "source": source, "path": path, "message": message})

    def last_crawl(self) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from crawls order by id desc limit 1"))
        return rows[0] if rows else None

    def counts(self) -> dict[str, int]:
        q = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "documents": q("select count(*) from documents where removed_at is null"),
            "documents_removed": q("select count(*) from documents where removed_at is not null and known_from = 'crawl'"),
            "documents_history_only": q("select count(*) from documents where known_from = 'history'"),
            "sections": q("select count(*) from sections where removed_at is null"),
            "sections_removed": q("select count(*) from sections where removed_at is not null and known_from = 'crawl'"),
            "sections_history_only": q("select count(*) from sections where known_from = 'history'"),
            "section_versions": q("select count(*) from section_versions"),
            "embeddings": q("select count(*) from embeddings"),
            "crawls": q("select count(*) from crawls"),
        }


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


def _section_row(s: Section) -> dict[str, Any]:
    return {
        "id": s.id, "document_id": s.document_id, "source": s.source, "path": s.path, "heading": s.heading,
        "heading_path": json.dumps(s.heading_path), "level": s.level, "ordinal": s.ordinal, "anchor": s.anchor,
        "line_start": s.line_start, "line_end": s.line_end, "text": s.text, "raw": s.raw,
        "content_hash": s.content_hash, "body_hash": s.body_hash, "changed_at": s.provenance.changed_at,
        "author": s.provenance.author, "commit": s.provenance.commit,
        "timestamp_source": s.provenance.timestamp_source,
    }


def _decode_section(r: dict[str, Any]) -> dict[str, Any]:
    r = dict(r)
    r["heading_path"] = json.loads(r["heading_path"]) if r.get("heading_path") else []
    return r


__all__ = ["DB_NAME", "CheckRun", "CrawlRecord", "FindingRow", "SectionChanges", "Store", "damage_error", "db_path_for",
           "keys_digest", "source_roots"]
