"""What the retrieval guard reads on demand: the sections and pages of the results it returns, and
the findings behind their verdicts, from one read snapshot that stays open while the guard serves
what it loaded (so a crawl writing meanwhile changes nothing it answers with). The guard keeps only
lookups in memory (which keys are live, which findings concern which section); texts, provenance
and the findings' messages and evidence are read here for the results being returned."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

import numpy as np
from sqlite_utils import Database

from ._base import BUSY_TIMEOUT_MS, StorePart

_CHUNK = 500  # bound parameters per query
# what str.strip() removes: a section whose text is only these has no text of its own (guard_policy.has_text)
_BLANK = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
         "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _section(r: dict[str, Any]) -> dict[str, Any]:
    r = dict(r)
    r["heading_path"] = json.loads(r["heading_path"]) if r.get("heading_path") else []
    return r


class GuardReadsPart(StorePart):
    path: Any

    # ------------------------------------------------------------------ the snapshot

    def open_reader(self) -> Any:
        """A second, read-only connection to this store (a Store), for a snapshot held open between
        reads; the store itself when it has no file."""
        url = getattr(self, "url", None)
        if url:
            from .pg import PgDatabase, connect, register_vector

            raw = connect(url)
            register_vector(raw)
            return type(self)(PgDatabase(raw, url), None, url)  # type: ignore[call-arg]
        if self.path is None:
            return self
        from urllib.parse import quote

        conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
        return type(self)(Database(conn), self.path)  # type: ignore[call-arg]

    def begin_snapshot(self) -> None:
        """Start a read transaction and take its snapshot now (WAL): every later read of this
        connection sees the store as it is at this moment, until end_snapshot."""
        conn = self.db.conn
        if conn.in_transaction:
            conn.rollback()
        if self.dialect == "postgresql":
            conn.begin_snapshot()  # type: ignore[attr-defined]
            conn.execute("select 1").fetchone()  # REPEATABLE READ takes its snapshot at the first query
            return
        conn.execute("BEGIN")
        conn.execute("select count(*) from sqlite_master").fetchone()

    def end_snapshot(self) -> None:
        if self.db.conn.in_transaction:
            self.db.conn.rollback()

    # ------------------------------------------------------------------ sections

    def live_keys(self) -> np.ndarray:
        """The keys of every live section, sorted."""
        rows = self.db.execute("select key from sections where removed_at is null order by key").fetchall()
        return np.fromiter((r[0] for r in rows), dtype="int64", count=len(rows))

    def textless_live_keys(self) -> list[int]:
        """Keys of live sections without text of their own (empty, or whitespace only)."""
        trim = "btrim" if self.dialect == "postgresql" else "trim"  # SQLite's trim(X, Y) is PostgreSQL's btrim
        return [r[0] for r in self.db.execute(
            f"select key from sections where removed_at is null and (text is null or {trim}(text, ?) = '')", [_BLANK])]

    def live_sections_by_keys(self, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
        keys = list(dict.fromkeys(int(k) for k in keys))
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            for r in self.db.query(f"select * from sections where removed_at is null and key in ({','.join('?' * len(chunk))})",
                                   chunk):
                out[r["key"]] = _section(r)
        return out

    def live_section_by_id(self, section_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from sections where id = ? and removed_at is null", [section_id]))
        return _section(rows[0]) if rows else None

    def live_sections_of_documents(self, document_ids: list[str]) -> list[dict[str, Any]]:
        """The live sections of these pages, by path and line (the order Store.sections gives)."""
        return self._live_sections_where("document_id", document_ids)

    def live_sections_with_bodies(self, body_hashes: list[str]) -> list[dict[str, Any]]:
        """The live sections whose text hashes to one of `body_hashes`, by path and line."""
        return self._live_sections_where("body_hash", body_hashes)

    def _live_sections_where(self, column: str, values: list[str]) -> list[dict[str, Any]]:
        """Live sections whose `column` (one of this module's own, never a caller's text) is one of
        `values`, by path and line."""
        if not values:
            return []
        q = ",".join("?" * len(values))
        return [_section(r) for r in self.db.query(
            f"select * from sections where removed_at is null and {column} in ({q}) order by path, line_start",
            values)]

    def live_section_ids(self) -> Iterator[str]:
        for (sid,) in self.db.execute("select id from sections where removed_at is null order by path, line_start"):
            yield sid

    def live_page_paths(self) -> Iterator[tuple[str, str]]:
        """(path, document id) of every page that has live sections."""
        yield from self.db.execute("select distinct path, document_id from sections where removed_at is null")

    # ------------------------------------------------------------------ pages

    def document_without_text(self, document_id: str) -> dict[str, Any] | None:
        """A live page's row as Store.documents gives it, without its text."""
        cols = getattr(self, "_doc_cols", None)
        if cols is None:
            names = [d[0] for d in self.db.execute("select * from documents limit 0").description]
            cols = ", ".join(f'"{n}"' for n in names if n != "text")
            self._doc_cols = cols
        rows = list(self.db.query(f"select {cols} from documents where id = ? and removed_at is null", [document_id]))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ verdicts

    def latest_finding_refs(self) -> Iterator[tuple[int, str, str | None, str]]:
        """(id, scope, section id, document id) of each finding of the newest finished run, in the
        order Store.latest_findings gives them."""
        run = self.db.execute("select max(id) from check_runs where status = 'ok'").fetchone()[0]
        if not run:
            return
        cur = self.db.execute("select * from findings where run_id = ? order by path, line", [run])
        names = [d[0] for d in cur.description]
        i_id, i_scope, i_sec, i_doc = (names.index(n) for n in ("id", "scope", "section_id", "document_id"))
        for r in cur:
            yield r[i_id], r[i_scope], r[i_sec], r[i_doc]

    def findings_by_ids(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Findings as dicts (Store.latest_findings' rows, to_dict), by id."""
        from .runs import _finding

        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            for r in self.db.query(f"select * from findings where id in ({','.join('?' * len(chunk))})", chunk):
                out[r["id"]] = _finding(r).to_dict()
        return out
