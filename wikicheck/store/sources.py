"""Sources (table `sources`) and what the last crawl of an HTTP source learnt (table `http_cache`)."""

from __future__ import annotations

import json
from typing import Any

from ..dates import now_iso
from ..errors import WikicheckError
from ._base import StorePart


class SourcesPart(StorePart):
    def ensure_source(self, name: str, root: str, kind: str) -> dict[str, Any]:
        row = self.source(name)
        if row and row["root"] != root:
            raise WikicheckError(
                f'source name "{name}" is already used in this index for {row["root"]}; '
                f"crawl {root} with --name OTHER, or into another --index"
            )
        if not row:
            with self.transaction():
                self.db.table("sources").insert(
                    {"name": name, "root": root, "kind": kind, "last_commit": None, "added_at": now_iso(),
                     "last_crawled_at": None})
            row = self.source(name)
        elif row["kind"] != kind:
            with self.transaction():
                self.db.table("sources").update(name, {"kind": kind})
        return row  # type: ignore[return-value]

    def source(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db.table("sources").rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def sources(self) -> list[dict[str, Any]]:
        return list(self.db.table("sources").rows_where(order_by="name"))

    def set_source_commit(self, name: str, commit: str | None) -> None:
        with self.transaction():
            self.db.table("sources").update(name, {"last_commit": commit, "last_crawled_at": now_iso()})

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
