"""What a check yields: its findings (the JSON contract's objects) and the result of a run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .model import normalise_text
from .vocabulary import LEVELS


@dataclass
class Finding:
    rule: str
    name: str
    kind: str
    level: str
    path: str
    heading: str
    heading_path: list[str]
    section_id: str | None
    document_id: str
    scope: str
    line: int | None
    message: str
    evidence: dict[str, Any]
    newer: dict[str, Any] | None
    owner: str | None
    changed_at: str | None
    fingerprint: str
    source: str = ""
    new: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "name": self.name, "kind": self.kind, "level": self.level, "path": self.path,
            "heading": self.heading, "heading_path": self.heading_path, "section_id": self.section_id,
            "document_id": self.document_id, "scope": self.scope, "line": self.line, "source": self.source,
            "message": self.message, "evidence": self.evidence, "newer": self.newer, "owner": self.owner,
            "changed_at": self.changed_at, "fingerprint": self.fingerprint, "new": self.new,
        }


@dataclass
class CheckResult:
    run_id: int
    findings: list[Finding]
    resolved: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    suppressed: int = 0
    baseline_run: int | None = None  # the recorded run "new" and "resolved" are counted from
    recorded: str = "no"  # what this check wrote: RECORD_MODES
    ray: dict[str, Any] | None = None  # check --ray: the cluster and the work it did (ray_engine.RayCheckWork)

    def summary(self) -> dict[str, Any]:
        by_level: dict[str, int] = {lvl: 0 for lvl in LEVELS}
        by_kind: dict[str, int] = {}
        for f in self.findings:
            by_level[f.level] += 1
            by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        return {
            "run_id": self.run_id, "findings": len(self.findings), "by_level": by_level,
            "by_kind": dict(sorted(by_kind.items())), "new": sum(f.new for f in self.findings),
            "resolved": len(self.resolved), "suppressed": self.suppressed, "seconds": round(self.seconds, 3),
            "sections": None, "documents": None, "baseline_run": self.baseline_run, "recorded": self.recorded,
            **({"ray": self.ray} if self.ray is not None else {}),
        }


def fingerprint(rule: str, location: str, key: str) -> str:
    """Stable across runs: rule, where, and what (never a date or a count that moves every day)."""
    return hashlib.sha256(f"{rule}\x1f{location}\x1f{normalise_text(key)}".encode()).hexdigest()[:20]


__all__ = ["CheckResult", "Finding", "fingerprint"]
