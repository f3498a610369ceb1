"""A section that is a copy of another section that is still current (informational).

Not wrong today, but a copy that will go stale the day the source changes: link to it instead.

Passes: a section with no copy elsewhere.
Fails: ``oncall/dns-cheatsheet.md §Flush`` identical to ``platform/dns.md §Flush``.
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import RuleHit

CODE = "WC204"
NAME = "duplicate"
SCOPE = "corpus"
KINDS = ("duplicate",)
OPTIONS: dict[str, type] = {}
DEFAULTS = {"level": "info"}
AGE_RULE = False
DRIFT_RULE = "duplicate"
# found by wikicheck/drift/lineage.py (copies of current text) and drift/pages.py (identical
# sections of copied pages)


def check(_: None, options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    yield from ctx.drift_hits(None, only_kinds=("duplicate",))
