"""Crawl runs and their warnings (tables `crawls` and `warnings`), crawl bookkeeping, and the counts
`status`, the owner reports and the resolver read from crawled rows."""

from __future__ import annotations

import json
import os
from typing import Any

from ..dates import now_iso
from ._base import StorePart
from .records import CrawlRecord


class CrawlsPart(StorePart):
    def mark_running_crawls_killed(self) -> None:
        """Call with the index lock held: any crawl still marked running then was killed."""
        with self.transaction():
            self.db.execute("update crawls set status = 'killed' where status = 'running'")

    def newest_crawl(self) -> CrawlRecord | None:
        """Id, status and end of the newest crawl (one indexed query), None before any."""
        row = self.db.execute("select id, status, finished_at from crawls order by id desc limit 1").fetchone()
        return CrawlRecord(*row) if row is not None else None

    def live_section_counts(self, source: str) -> dict[str, int]:
        """{document_id: live sections} of a source's pages."""
        return dict(self.db.execute(
            "select document_id, count(*) from sections where source = ? and removed_at is null group by document_id",
            [source]).fetchall())

    def finish_history_import(self, source: str, head: str | None, checkpoint: str) -> None:
        """The history of `source` is read up to commit `head`: record it, and drop the source's
        checkpoints other than `checkpoint`."""
        with self.transaction():
            self.db.table("sources").update(source, {"last_commit": head})
            self.db.execute("delete from meta where key like ? and key != ?", [f"history:{source}:%", checkpoint])

    def distinct_texts(self) -> int:
        """How many distinct texts (content hashes) the live sections have."""
        return int(self.db.execute(
            "select count(distinct content_hash) from sections where removed_at is null").fetchone()[0])

    def timestamp_sources(self) -> dict[str, int]:
        """{where the date came from ("unknown" when nowhere): live sections}."""
        return dict(self.db.execute(
            "select coalesce(timestamp_source, 'unknown'), count(*) from sections where removed_at is null group by 1"
        ).fetchall())

    def git_authors(self) -> list[tuple[str, str, str | None]]:
        """(source, raw git author, newest changed_at) of the sections, then of the pages, dated by git."""
        authors: list[tuple[str, str, str | None]] = []
        for table in ("sections", "documents"):
            rows = self.db.query(f"select source, author, max(changed_at) as changed_at from {table} "
                                 "where author is not null and timestamp_source = 'git' group by source, author")
            authors.extend((r["source"], r["author"], r["changed_at"]) for r in rows)
        return authors

    def crawled_documents(self) -> list[dict[str, Any]]:
        """Every page a crawl saw, removed ones too; its address, owner and provenance, not its text
        (which can be large)."""
        return list(self.db.query(
            "select id, source, path, title, url, owner, author, changed_at, \"commit\", timestamp_source, removed_at "
            "from documents where known_from = 'crawl'"))

    # ------------------------------------------------------------------ crawl runs

    def start_crawl(self, sources: list[str]) -> int:
        with self.transaction():
            return self.db.table("crawls").insert({
                "started_at": now_iso(), "status": "running", "pid": os.getpid(),
                "sources": json.dumps(sources),
            }).last_pk  # type: ignore[return-value]

    def finish_crawl(self, crawl_id: int, status: str, counts: dict[str, Any]) -> None:
        with self.transaction():
            self.db.table("crawls").update(crawl_id, {"finished_at": now_iso(), "status": status, **counts})

    def add_warning(self, crawl_id: int, source: str, path: str, message: str) -> None:
        with self.transaction():
            self.db.table("warnings").insert({"crawl_id": crawl_id, "source": source, "path": path, "message": message})

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
