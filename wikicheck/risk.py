"""Risk of a finding: what an owner should fix first (issue 5).

The formula, shown with its components next to every item of an owner report::

    risk = severity × kind × age × exposure

severity  the finding's level: info 1 · warning 2 · error 3
kind      (the weights are in wikicheck.vocabulary)
          3  contradicted, superseded, obsolete: a newer section says otherwise, and an agent that
             follows this one does the wrong thing
          2  deprecated, retired_term: marked obsolete, or names a host or command that is gone
          1  review_expired, stale, broken_link, duplicate: may still be right; nobody confirmed it
age       1 + log2(1 + years since the section last changed) / 2
             0 y: 1 · 1 y: 1.5 · 3 y: 2 · 7 y: 2.5; an unknown date counts as 1 year
exposure  1 + log2(1 + hits) / 2, with hits = served + warned + (blocked + replaced) / 2, counted
          from the retrieval guard's events of the last 30 days (table guard_events):
             served    the guard handed the section to an agent as it is (or as a replacement)
             warned    handed it out with a warning
             blocked   withheld it (policies demote and annotate still show it)
             replaced  withheld it and served the newer section in its place
          0 hits: 1 · 1: 1.5 · 3: 2 · 15: 3 · 63: 4. A page-level finding counts its page's sections.

Severity and kind set the order between kinds of problem; age and exposure move an item up within
them, and advice that agents are actually being served can overtake a louder finding nobody reads.

Exposure recording can be turned off: ``[guard] record-events = false`` in wikicheck.toml, or
``WIKICHECK_NO_EVENTS=1`` in the environment (the CLI and the services read both); ``wikicheck
search --no-events`` for one command.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .config import record_events_enabled  # the opt-out (re-exported: it was defined here)
from .dates import iso
from .vocabulary import DEFAULT_WEIGHT, KINDS, LEVEL_RANK, LEVELS, kind_weight, weights_text

SEVERITY: dict[str, int] = {lvl: LEVEL_RANK[lvl] + 1 for lvl in LEVELS}  # info 1, warning 2, error 3
KIND_WEIGHT = {k.name: k.weight for k in KINDS.values()}  # the weights live in wikicheck.vocabulary
DEFAULT_KIND_WEIGHT = DEFAULT_WEIGHT
EXPOSURE_DAYS = 30
UNKNOWN_AGE_YEARS = 1.0
HIT_WEIGHTS = {"served": 1.0, "warned": 1.0, "blocked": 0.5, "replaced": 0.5}

FORMULA = "risk = severity × kind × age × exposure"
FORMULA_PARTS = {
    "severity": "level: " + ", ".join(f"{lvl} {f}" for lvl, f in SEVERITY.items()),
    "kind": weights_text(),
    "age": "1 + log2(1 + years since last change) / 2 (unknown date: 1 year)",
    "exposure": f"1 + log2(1 + served + warned + (blocked + replaced) / 2) / 2, guard events of the last {EXPOSURE_DAYS} days",
}


@dataclass
class Exposure:
    """How often the retrieval guard handed out, warned on, withheld or replaced a section."""

    served: int = 0
    warned: int = 0
    blocked: int = 0
    replaced: int = 0

    def __add__(self, other: Exposure) -> Exposure:
        return Exposure(self.served + other.served, self.warned + other.warned, self.blocked + other.blocked,
                        self.replaced + other.replaced)

    @property
    def hits(self) -> float:
        return float(sum(getattr(self, k) * w for k, w in HIT_WEIGHTS.items()))

    @property
    def total(self) -> int:
        return self.served + self.warned + self.blocked + self.replaced

    def to_json(self) -> dict[str, int]:
        return {"served": self.served, "warned": self.warned, "blocked": self.blocked, "replaced": self.replaced}


@dataclass
class Risk:
    score: float
    components: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "formula": FORMULA, "components": self.components}

    def explain(self) -> str:
        """'error 3 × contradicted 3 × 3.7 y 2.13 × 5 hits 2.29 = 43.8'"""
        c = self.components
        age = c["age"]
        years = "unknown age" if age["days"] is None else f"{age['days'] / 365.25:.1f} y"
        ex = c["exposure"]
        return (f"{c['severity']['level']} {c['severity']['factor']:g} × {c['kind']['kind']} {c['kind']['factor']:g} × "
                f"{years} {age['factor']:.2f} × {ex['hits']:g} hits {ex['factor']:.2f} = {self.score:g}")


def age_factor(age_days: int | None) -> float:
    years = UNKNOWN_AGE_YEARS if age_days is None else max(0, age_days) / 365.25
    return 1 + math.log2(1 + years) / 2


def exposure_factor(exposure: Exposure) -> float:
    return 1 + math.log2(1 + exposure.hits) / 2


def score(level: str, kind: str, age_days: int | None, exposure: Exposure | None = None) -> Risk:
    """The risk of one finding, with the components that made it."""
    exposure = exposure or Exposure()
    sev = SEVERITY.get(level, 1)
    kw = kind_weight(kind)
    af = age_factor(age_days)
    ef = exposure_factor(exposure)
    value = round(sev * kw * af * ef, 2)
    return Risk(value, {
        "severity": {"level": level, "factor": sev},
        "kind": {"kind": kind, "factor": kw},
        "age": {"days": age_days, "factor": round(af, 3)},
        "exposure": {**exposure.to_json(), "hits": exposure.hits, "window_days": EXPOSURE_DAYS,
                     "factor": round(ef, 3)},
    })


def exposure_by_section(store: Any, now: dt.datetime | None = None, days: int = EXPOSURE_DAYS) -> dict[str, Exposure]:
    """Exposure of every section that has guard events in the window, from table guard_events."""
    now = now or dt.datetime.now(dt.timezone.utc)
    since, until = iso(now - dt.timedelta(days=days)), iso(now)
    out: dict[str, Exposure] = {}
    for sid, verdict, n in store.verdict_counts(since, until):
        e = out.setdefault(sid, Exposure())
        if verdict in ("ok", "replaced"):  # a replacement was handed out too
            e.served += n
        elif verdict == "warn":
            e.warned += n
        elif verdict == "block":
            e.blocked += n
    for sid, n in store.replacement_counts(since, until):
        out.setdefault(sid, Exposure()).replaced += n
    return out


def exposure_of(section_ids: Iterable[str], by_section: dict[str, Exposure]) -> Exposure:
    total = Exposure()
    for sid in section_ids:
        if sid in by_section:
            total = total + by_section[sid]
    return total


def events_recorded(store: Any) -> bool:
    """Whether the guard has recorded anything at all (so zero exposure means 'nobody asked')."""
    return bool(store.has_guard_events())


__all__ = [
    "FORMULA",
    "KIND_WEIGHT",
    "SEVERITY",
    "Exposure",
    "Risk",
    "exposure_by_section",
    "exposure_of",
    "record_events_enabled",
    "score",
]
