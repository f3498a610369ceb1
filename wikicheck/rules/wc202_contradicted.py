"""A section that gives another value for the same setting, or the opposite instruction, than a newer section on the same topic.

Claims are extracted from both sections: flags with their values, ports, quantities with the
setting they belong to ("timeout 30s"), do/don't instructions. Only values for the same key
conflict; two unrelated numbers never do. Pages are compared as a whole (the values of a setting
can sit under differently named headings); it takes ``min-conflicts`` conflicting settings, or
one conflicting flag of the same program, or opposite instructions. The older section (by its
last substantive change) is flagged, with the old and new values.

Passes: two refund pages that both say ``--batch-size 50``.
Fails: ``payments/refunds.md`` (2023) says ``--batch-size 500`` and "run during business hours";
``payments/refund-processing.md`` (2026) says ``--batch-size 50`` and "never run refunds during business hours".
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import RuleHit

CODE = "WC202"
NAME = "contradicted"
SCOPE = "corpus"
KINDS = ("contradicted",)
OPTIONS = {"min-conflicts": int}
DEFAULTS = {"min-conflicts": 2, "level": "warning"}
AGE_RULE = False
DRIFT_RULE = "contradicted"
# the analysis is wikicheck/drift/contradictions.py; the options reach it as the DriftOptions fields named here
DRIFT_OPTIONS = {"min-conflicts": "min_conflicts"}


def check(_: None, options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    yield from ctx.drift_hits(DRIFT_RULE)
