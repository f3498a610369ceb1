"""The typed records the store hands back (#13): frozen dataclasses, not rows indexed by column name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FindingRow:
    """A finding as a check run recorded it, in table `findings`; JSON columns decoded."""

    run_id: int
    fingerprint: str
    rule: str
    name: str
    kind: str
    level: str
    scope: str  # section | document
    source: str
    document_id: str
    section_id: str | None
    path: str
    heading: str | None
    heading_path: list[str]
    line: int | None
    message: str
    evidence: dict[str, Any]
    newer_section_id: str | None
    newer: dict[str, Any] | None  # {path, heading, section_id, changed_at}
    owner: str | None
    changed_at: str | None
    first_seen_run: int | None
    id: int | None = None  # given by the store when the row is written

    def to_dict(self) -> dict[str, Any]:
        """The row as `select *` gives it (columns in table order), JSON columns decoded."""
        d = dataclasses.asdict(self)
        return {"id": d.pop("id"), **d}


@dataclass(frozen=True)
class CheckRun:
    """A check run that finished, as the owner reports show it."""

    id: int
    started_at: str | None
    finished_at: str | None
    findings: int | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "started_at": self.started_at, "finished_at": self.finished_at,
                "findings": self.findings}


@dataclass(frozen=True)
class CrawlRecord:
    """What the newest crawl wrote of itself: `status` is "running" until it ends (or dies)."""

    id: int
    status: str | None
    finished_at: str | None


__all__ = ["CheckRun", "CrawlRecord", "FindingRow"]
