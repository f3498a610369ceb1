"""Internal link or anchor that resolves to no page, file or section.

Relative links are resolved against the page's folder in the same source; ``#anchor`` against the
target page's headings (GitHub-style slugs) and explicit ``id``/``name`` anchors. External URLs
are not fetched. Informational by default: a dead link does not make the section's own advice
wrong; raise the level where link hygiene is enforced.

Passes: ``[restart](../platform/pgbouncer.md#restart)`` when that page has a "Restart" heading.
Fails: ``[rollback](../platform/pgbouncer.md#rollback-procedure)`` when it has no such heading.
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import RuleHit

CODE = "WC301"
NAME = "broken-link"
SCOPE = "document"
KINDS = ("broken_link",)
OPTIONS = {"check-anchors": bool}
DEFAULTS = {"check-anchors": True, "level": "info"}
AGE_RULE = False


def check(doc: dict[str, Any], options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    for link in ctx.links(doc):
        href, line = link["href"], link["line"]
        target = ctx.link_target(doc, href)
        if target is None:
            continue  # external, mailto, or not a link we can check
        path, anchor, exists, anchors = target
        if not exists:
            yield RuleHit(kind="broken_link", document_id=doc["id"], line=line,
                          message=f"link to {href} resolves to {path}, which does not exist",
                          evidence={"href": href, "resolved": path}, key=href)
        elif anchor and options["check-anchors"] and anchors is not None and anchor.lower() not in anchors:
            yield RuleHit(kind="broken_link", document_id=doc["id"], line=line,
                          message=f"link to {href}: {path} has no section #{anchor}",
                          evidence={"href": href, "resolved": path, "anchor": anchor}, key=href)
