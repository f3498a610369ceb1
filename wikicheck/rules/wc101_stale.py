"""Page not changed (or reviewed) within ``max-age-days``.

A review (``last_reviewed`` in front matter) counts as a change: someone confirmed the page is
still right. Informational by default: age alone does not make advice wrong (a runbook for a
system that has not changed is still right); raise the level per folder where age is the policy. ADRs, postmortems, changelogs and release notes are exempt (see ``[exempt]``).

Passes: ``updated: 2026-09-01`` with ``max-age-days = 365`` on 2026-11-28.
Fails: ``updated: 2023-11-30`` with ``max-age-days = 365`` on 2026-11-28.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..dates import parse_date
from .base import RuleHit

CODE = "WC101"
NAME = "stale"
SCOPE = "document"
KINDS = ("stale",)
OPTIONS = {"max-age-days": int}
DEFAULTS = {"max-age-days": 365, "level": "info"}
AGE_RULE = True


def check(doc: dict[str, Any], options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    changed = ctx.doc_changed_at(doc)
    reviewed = parse_date(doc.get("last_reviewed"))
    fresh = max(d for d in (changed, reviewed) if d) if (changed or reviewed) else None
    if fresh is None:
        return  # no date at all: the guard's missing-date policy decides, not an age rule
    age = ctx.age_days(fresh)
    limit = options["max-age-days"]
    if age > limit:
        what = "reviewed" if reviewed and fresh == reviewed else "changed"
        yield RuleHit(
            kind="stale",
            document_id=doc["id"],
            message=f"last {what} {fresh[:10]}, {age} days ago (limit {limit})",
            evidence={"changed_at": changed, "last_reviewed": reviewed, "age_days": age, "max_age_days": limit,
                      "timestamp_source": doc.get("timestamp_source")},
        )
