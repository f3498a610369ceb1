"""Section versions and renames (tables `section_versions` and `renames`): the history of every
section, and the rows of pages and sections that only the history knows (issue 12)."""

from __future__ import annotations

import json
from typing import Any

from ..dates import now_iso
from ..model import Section
from ._base import StorePart, _section_row


class VersionsPart(StorePart):
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
            # one statement for the batch (executemany): on PostgreSQL each statement is a round trip
            self.db.conn.executemany(
                "update section_versions set valid_to = ?, ended_by_commit = ?, closed_at = ? where id = ?",
                [[valid_from, commit, seen_at, row["id"]] for sid, row in current.items()
                 if (s := present.get(sid)) is None or s.body_hash != row["body_hash"]
                 or s.content_hash != row["content_hash"]])
            for sid, s in present.items():
                was = current.get(sid)
                if was is None or s.body_hash != was["body_hash"] or s.content_hash != was["content_hash"]:
                    opened.append(s)
            # the rows the versions refer to first
            self._history_rows(document_id, source, path, kind, sections, opened, valid_from, commit, author,
                               origin, seen_at)
            if opened:
                self.db.table("section_versions").insert_all([{
                    "section_id": s.id, "document_id": document_id, "source": source, "path": path,
                    "heading_path": json.dumps(s.heading_path), "content_hash": s.content_hash,
                    "body_hash": s.body_hash, "text": s.text, "valid_from": valid_from, "valid_to": None,
                    "commit": commit, "author": author, "ended_by_commit": None, "origin": origin,
                    "seen_at": seen_at, "closed_at": None,
                } for s in opened])
                added += len(opened)
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
            self.db.table("documents").insert({
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
                self.db.table("sections").update(s.id, row)  # its last text; recorded when it was first
            else:
                self.db.table("sections").insert({**row, "removed_at": removed, "known_from": "history"})

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
                "insert into renames (source, old_path, new_path, at, \"commit\", origin, similarity) "
                "values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing", [source, old_path, new_path, at or "", commit, origin, similarity])

    def renames(self, source: str | None = None) -> list[dict[str, Any]]:
        """Every rename the sources reported, oldest first."""
        where, params = ("where source = ?", [source]) if source else ("", [])
        return list(self.db.query(f"select * from renames {where} order by at, id", params))

    def versions(self, section_id: str) -> list[dict[str, Any]]:
        return list(self.db.query(
            "select * from section_versions where section_id = ? order by valid_from, id", [section_id]))
