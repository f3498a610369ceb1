"""The typed records the store hands back (#13): frozen dataclasses, not rows indexed by column name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CrawlRecord:
    """What the newest crawl wrote of itself: `status` is "running" until it ends (or dies)."""

    id: int
    status: str | None
    finished_at: str | None


__all__ = ["CrawlRecord"]
