"""Rules, registered explicitly. A new rule is one module here plus one entry in RULES.

Codes never change and are never reused: WC1xx age and review, WC2xx supersession, contradiction
and lineage, WC3xx links, terms and structure.
"""

from __future__ import annotations

from ..errors import ConfigError
from . import (
    wc101_stale,
    wc102_review_expired,
    wc201_superseded,
    wc202_contradicted,
    wc203_copy_lineage,
    wc204_duplicate,
    wc205_deprecated,
    wc301_broken_link,
    wc302_retired_term,
)
from .base import Rule, RuleHit

RULES: dict[str, Rule] = {
    m.CODE: m  # type: ignore[misc]
    for m in (
        wc101_stale, wc102_review_expired, wc201_superseded, wc202_contradicted, wc203_copy_lineage,
        wc204_duplicate, wc205_deprecated, wc301_broken_link, wc302_retired_term,
    )
}
BY_NAME: dict[str, Rule] = {r.NAME: r for r in RULES.values()}

__all__ = ["BY_NAME", "RULES", "Rule", "RuleHit", "resolve_rule"]


def resolve_rule(code_or_name: str) -> Rule:
    """A rule by code (WC101) or name (stale)."""
    r = RULES.get(code_or_name.upper()) or BY_NAME.get(code_or_name.lower())
    if r is None:
        known = ", ".join(f"{c} {r.NAME}" for c, r in sorted(RULES.items()))
        raise ConfigError(f'unknown rule "{code_or_name}" (known: {known})')
    return r


def summary_line(rule: Rule) -> str:
    return (rule.__doc__ or "").strip().split("\n")[0]
