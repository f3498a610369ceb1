"""A section whose text equals (or nearly equals) a past version of another section that has since changed or been removed.

The strongest evidence there is: "identical to docs/x.md §Restart as of 2022-09-12 (commit
abc123); that section changed on 2024-03-02". File dates don't matter: the history says which text
is older. When the section it came from has been removed, the copy is ``obsolete``. When the
source changed only in wording, the finding is informational.

History follows the text (wikicheck.history): a section's own earlier addresses (a renamed page,
a section moved to another page within ``move-window-days``, a split, a merge) are never "another
section", so a rename or a move is never a finding.

Passes: a section equal to the *current* version of another section (that is a duplicate, WC204).
Fails: a section equal to the 2022 version of ``platform/pgbouncer.md §Restart``, which changed in 2024.
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import RuleHit

CODE = "WC203"
NAME = "copy-lineage"
SCOPE = "corpus"
KINDS = ("superseded", "obsolete")
OPTIONS = {"near-copy": float, "min-tokens": int, "move-window-days": float}
DEFAULTS = {"near-copy": 0.85, "min-tokens": 12, "move-window-days": 7.0, "level": "error"}
AGE_RULE = False
DRIFT_RULE = "lineage"
# the analysis is wikicheck/drift/lineage.py; the options reach it as the DriftOptions fields named here
DRIFT_OPTIONS = {"near-copy": "near_copy", "min-tokens": "lineage_min_tokens", "move-window-days": "move_window_days"}


def check(_: None, options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    yield from ctx.drift_hits(DRIFT_RULE, exclude_kinds=("duplicate",))
