"""Review date passed: ``review_by``/``expires`` is in the past, or ``last_reviewed`` is older than ``review-interval-days``.

Passes: ``review_by: 2027-01-31`` on 2026-11-28.
Fails: ``review_by: 2026-01-31`` on 2026-11-28, or ``last_reviewed: 2024-02-01`` with a 365-day interval.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..dates import parse_date
from .base import RuleHit

CODE = "WC102"
NAME = "review-expired"
SCOPE = "document"
KINDS = ("review_expired",)
OPTIONS = {"review-interval-days": int}
DEFAULTS = {"review-interval-days": 365, "level": "warning"}
AGE_RULE = True


def check(doc: dict[str, Any], options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    due = parse_date(doc.get("review_by"))
    if due and due < ctx.now_iso:
        yield RuleHit(
            kind="review_expired", document_id=doc["id"],
            message=f"review was due {due[:10]}, {ctx.age_days(due)} days ago",
            evidence={"review_by": due}, key="review_by",
        )
        return
    reviewed = parse_date(doc.get("last_reviewed"))
    limit = options["review-interval-days"]
    if reviewed and ctx.age_days(reviewed) > limit:
        yield RuleHit(
            kind="review_expired", document_id=doc["id"],
            message=f"last reviewed {reviewed[:10]}, {ctx.age_days(reviewed)} days ago (review every {limit} days)",
            evidence={"last_reviewed": reviewed, "review_interval_days": limit}, key="last_reviewed",
        )
