"""A copy of a runbook whose aligned section states other commands, hosts, flags or values than the newer page.

Pages are the same runbook when their titles match once team prefixes and tags are dropped, and
most of their sections align by heading. Which one is newer is decided by the date of each
section's last *substantive* change (cosmetic edits don't count), voted over the whole page.
Never raised when the two say the same thing: the same claims and, unless claims elsewhere on the
page settle which page is newer, most of the same words.

Passes: ``teams/x/restart.md`` whose "Restart" section says what ``platform/restart.md`` says.
Fails: the team copy still says ``systemctl restart pgbouncer`` on ``db-01`` while the newer page
says ``kubectl -n db rollout restart deploy/pgbouncer``.
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import RuleHit

CODE = "WC201"
NAME = "superseded"
SCOPE = "corpus"
KINDS = ("superseded",)
OPTIONS = {"k": int, "min-similarity": float, "min-aligned": float}
DEFAULTS = {"k": 10, "min-similarity": 0.6, "min-aligned": 0.5, "level": "error"}
AGE_RULE = False
DRIFT_RULE = "superseded"
# the analysis is wikicheck/drift/pages.py (CopiedPages); the options reach it as the DriftOptions
# fields named here, where k and min-similarity pick the neighbours every drift analysis starts from
DRIFT_OPTIONS = {"k": "k", "min-similarity": "min_similarity", "min-aligned": "min_aligned"}


def check(_: None, options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    yield from ctx.drift_hits(DRIFT_RULE, exclude_kinds=("duplicate",))
