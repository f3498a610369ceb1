"""What a rule yields, and what it may read while checking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol


@dataclass
class RuleHit:
    """What a rule found and where. The engine adds rule, level, owner and fingerprint."""

    kind: str
    message: str
    section_id: str | None = None  # section scope
    document_id: str | None = None  # document scope (applies to every section of the page)
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    newer_id: str | None = None
    key: str = ""  # stable part of the fingerprint besides rule and location
    level: str | None = None  # overrides the configured level (e.g. info for a wording-only change)


class Rule(Protocol):
    CODE: str
    NAME: str
    SCOPE: str  # "section" | "document" | "corpus"
    KINDS: tuple[str, ...]
    OPTIONS: dict[str, type]
    DEFAULTS: dict[str, Any]
    AGE_RULE: bool
    # A drift-based rule (WC2xx) also has DRIFT_RULE, the drift analysis it reports, and may have
    # DRIFT_OPTIONS, {its option: the DriftOptions field it sets}; the check context reads both.
    __doc__: str | None

    def check(self, target: Any, options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]: ...
