"""Reads of the history and the guard's bookkeeping: what drift analysis and the retrieval guard ask
the store (section versions, the last finished runs, one read snapshot, exposure events)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ._base import BUSY_TIMEOUT_MS, StorePart


class HistoryReadsPart(StorePart):
    # ------------------------------------------------------------------ drift analysis

    def all_versions(self) -> list[dict[str, Any]]:
        """Every section version without its text, oldest first: the history drift analysis reads."""
        return list(self.db.query(
            "select id, section_id, document_id, source, path, heading_path, body_hash, valid_from, valid_to, \"commit\", "
            "author, ended_by_commit, seen_at, closed_at from section_versions order by valid_from, id"))

    def version_text(self, version_id: int) -> str:
        """The text of one section version ("" when there is no such version)."""
        row = self.db.execute("select text from section_versions where id = ?", [version_id]).fetchone()
        return row[0] if row else ""

    # ------------------------------------------------------------------ the retrieval guard

    @contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """One read transaction, rolled back at the end (read only); inside a transaction already, that one."""
        conn = self.db.conn
        own = not conn.in_transaction
        if own and self.dialect == "postgresql":
            conn.begin_snapshot()  # type: ignore[attr-defined]
        elif own:
            conn.execute("BEGIN")  # one snapshot (WAL): no crawl commit lands half way through the reads
        try:
            yield
        finally:
            if own:
                conn.rollback()  # read only

    def last_ok_ids(self) -> tuple[int | None, int | None]:
        """(id of the last check run, id of the last crawl) that finished ok: a guard reloads when they change."""
        run = self.db.execute("select max(id) from check_runs where status = 'ok'").fetchone()[0]
        crawl = self.db.execute("select max(id) from crawls where status = 'ok'").fetchone()[0]
        return run, crawl

    def latest_version(self, section_id: str) -> dict[str, Any] | None:
        """The newest version (history row) of a section, or None."""
        rows = list(self.db.query(
            "select * from section_versions where section_id = ? order by valid_from desc limit 1", [section_id]))
        return rows[0] if rows else None

    def versions_with_body(self, body_hashes: list[str]) -> list[dict[str, Any]]:
        """The versions of any section whose text hashes to one of `body_hashes`, newest first."""
        q = ",".join("?" * len(body_hashes))
        return list(self.db.query(
            f"select * from section_versions where body_hash in ({q}) order by valid_from desc, id desc", body_hashes))

    def ended_versions(self, document_id: str) -> list[dict[str, Any]]:
        """The versions of a page's sections that ended (earlier wordings, removed sections), last ended first."""
        return list(self.db.query(
            "select * from section_versions where document_id = ? and valid_to is not null "
            "order by valid_to desc", [document_id]))

    def record_guard_events(self, rows: list[tuple[str, str, str, str | None]], *, wait: float = 0.25) -> None:
        """Exposure: (at, section_id, verdict, replaces) of each section the retrieval guard served or withheld.

        Waits at most `wait` seconds for the write lock (sqlite3.OperationalError after that): a crawl
        holds it while it writes, and a search must not stall behind it for the store's 30 s busy
        timeout to log what it served. The timeout is set back afterwards."""
        conn = self.db.conn
        if self.dialect == "postgresql":  # an insert waits for no other writer there (MVCC)
            with self.transaction():
                conn.executemany("insert into guard_events (at, section_id, verdict, replaces) values (?, ?, ?, ?)", rows)
            return
        conn.execute(f"pragma busy_timeout = {max(0, int(wait * 1000))}")
        try:
            with self.transaction():
                conn.executemany(
                    "insert into guard_events (at, section_id, verdict, replaces) values (?, ?, ?, ?)", rows)
        finally:
            conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
