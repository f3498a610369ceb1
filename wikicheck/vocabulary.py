"""The words findings are made of: levels, and the kinds of finding with what each one means.

Every consumer reads this module: the check engine and the config (levels), the retrieval guard
(a kind's verdict), the risk score (a kind's weight) and the owner reports (a kind's suggested
action). A rule that yields a new kind adds it here, next to its own module and the rule registry
(#13); a kind that is not listed here warns in the guard, weighs 1 and is advised "update".

This module imports nothing from the package, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["info", "warning", "error"]
LEVELS: tuple[Level, ...] = ("info", "warning", "error")  # lowest first
LEVEL_RANK: dict[str, int] = {lvl: i for i, lvl in enumerate(LEVELS)}

Verdict = Literal["ok", "warn", "block"]
VERDICTS: tuple[Verdict, ...] = ("ok", "warn", "block")
VERDICT_RANK: dict[str, int] = {v: i for i, v in enumerate(VERDICTS)}

Action = Literal["update", "archive", "redirect"]


def level_at_least(level: str, threshold: str) -> bool:
    """Whether `level` is `threshold` or above (both from LEVELS)."""
    return LEVEL_RANK[level] >= LEVEL_RANK[threshold]


# ----------------------------------------------------------------------------- advice


@dataclass(frozen=True)
class Situation:
    """What the owner report knows about a finding when it suggests what to do."""

    kind: str
    message: str
    evidence: Mapping[str, Any]
    newer_where: str | None  # 'path §heading' of the newer section, when the finding names one
    age_days: int | None  # since the section (or page) last changed
    served: int  # times the guard handed it to an agent (served or warned) within the exposure window
    events_known: bool  # whether the guard recorded anything at all (so 0 means "nobody asked")
    window_days: int  # the exposure window


Advice = tuple[Action, list[str]]  # the action and the reasons for it


def _redirect_to_newer(what: str) -> Callable[[Situation], Advice | None]:
    def advise(s: Situation) -> Advice | None:
        if not s.newer_where:
            return None
        return "redirect", [f"this section is {what} {s.newer_where}; two copies drift apart, so keep one",
                            f"replace it with a link to {s.newer_where}, or delete it"]
    return advise


def _obsolete(s: Situation) -> Advice:
    return _redirect_to_newer("an older copy of")(s) or ("archive", ["the section it was copied from no longer exists"])


def _deprecated(s: Situation) -> Advice:
    where = s.newer_where
    return ("redirect" if where else "archive", [
        "the page is marked deprecated" + (f"; {where} replaces it" if where else ""),
        f"point readers to {where} and archive this page" if where
        else "archive it, or remove the deprecation if the page is still right"])


def _contradicted(s: Situation) -> Advice:
    return "update", [f"{s.newer_where} is newer and gives different values for the same procedure" if s.newer_where
                      else "a newer section gives different values for the same procedure",
                      "bring the values below in line with it, or redirect to it if this page repeats it"]


def _retired_term(s: Situation) -> Advice:
    ev = s.evidence
    reasons = [f"mentions {ev.get('term')!s}, which is retired" + (f" ({ev['reason']})" if ev.get("reason") else "")]
    if ev.get("replacement"):
        reasons.append(f"use {ev['replacement']} instead")
    return "update", reasons


def _stale(s: Situation) -> Advice:
    limit = s.evidence.get("max_age_days")
    age = s.age_days
    if age is not None and limit and age > 2 * int(limit) and s.events_known and s.served == 0:
        return "archive", [f"unchanged for {age} days (limit {limit}) and no agent was served it in the last "
                           f"{s.window_days} days", "archive it if nobody needs it; otherwise review and update it"]
    return "update", [f"unchanged for {age} days" + (f" (limit {limit})" if limit else ""),
                      "review it: update what changed, then bump its date or set last_reviewed"]


def _review_expired(s: Situation) -> Advice:
    return "update", ["its review date has passed",
                      "review it and set last_reviewed (and review_by) in the front matter"]


def _broken_link(s: Situation) -> Advice:
    return "update", [f"the link {s.evidence.get('href')!s} leads nowhere", "fix the link or remove it"]


def default_advice(s: Situation) -> Advice:
    """For a kind without advice of its own (or when its advice does not apply): update, saying why."""
    return "update", [s.message or s.kind]


# ----------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """A kind of finding and what it means to each consumer."""

    name: str
    verdict: Verdict  # what the retrieval guard makes of it (at or above [guard] min-block-level for "block")
    weight: int  # its factor in the risk score (risk.py)
    meaning: str  # why it weighs what it does, for the risk formula's documentation
    advise: Callable[[Situation], Advice | None]  # the owner report's suggested action; None: default_advice


# Listed heaviest first: the risk formula's description is generated in this order.
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("contradicted", "block", 3, "a newer section says otherwise", _contradicted),
    Kind("superseded", "block", 3, "a newer section says otherwise", _redirect_to_newer("an older copy of")),
    Kind("obsolete", "block", 3, "a newer section says otherwise", _obsolete),
    Kind("deprecated", "block", 2, "marked obsolete, or names a host or command that is gone", _deprecated),
    Kind("retired_term", "block", 2, "marked obsolete, or names a host or command that is gone", _retired_term),
    Kind("review_expired", "warn", 1, "may still be right; nobody confirmed it", _review_expired),
    Kind("stale", "warn", 1, "may still be right; nobody confirmed it", _stale),
    Kind("broken_link", "warn", 1, "may still be right; nobody confirmed it", _broken_link),
    Kind("duplicate", "warn", 1, "may still be right; nobody confirmed it", _redirect_to_newer("identical to")),
)}
DEFAULT_WEIGHT = 1  # of a kind not in KINDS


def kinds_with_verdict(verdict: Verdict) -> tuple[str, ...]:
    return tuple(k.name for k in KINDS.values() if k.verdict == verdict)


BLOCK_KINDS = kinds_with_verdict("block")
WARN_KINDS = kinds_with_verdict("warn")


def kind_weight(kind: str) -> int:
    k = KINDS.get(kind)
    return k.weight if k is not None else DEFAULT_WEIGHT


def weights_text() -> str:
    """'contradicted/superseded/obsolete 3, deprecated/retired_term 2, ...': the kind part of the risk formula."""
    groups: dict[int, list[str]] = {}
    for k in KINDS.values():
        groups.setdefault(k.weight, []).append(k.name)
    return ", ".join(f"{'/'.join(names)} {w}" for w, names in sorted(groups.items(), reverse=True))


def advise(s: Situation) -> Advice:
    """The suggested action for a finding and the reasons for it (before the exposure reasons)."""
    k = KINDS.get(s.kind)
    return (k.advise(s) if k is not None else None) or default_advice(s)


__all__ = [
    "BLOCK_KINDS",
    "KINDS",
    "LEVELS",
    "LEVEL_RANK",
    "VERDICTS",
    "VERDICT_RANK",
    "WARN_KINDS",
    "Advice",
    "Kind",
    "Level",
    "Situation",
    "Verdict",
    "advise",
    "kind_weight",
    "level_at_least",
    "weights_text",
]
