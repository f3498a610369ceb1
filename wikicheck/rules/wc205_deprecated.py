"""Page marked deprecated: ``status: deprecated|archived|obsolete``, ``superseded_by``, or a banner.

Banners are recognised near the top of the page or at the top of a section: "DEPRECATED",
"This page is outdated", "no longer maintained", "superseded by ...". When the marker names a
replacement (``superseded_by`` or the banner's link), the finding points to it.

Passes: a page with ``status: current`` and no banner.
Fails: ``status: deprecated`` with ``superseded_by: search/opensearch-reindex.md``.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from .base import RuleHit

CODE = "WC205"
NAME = "deprecated"
SCOPE = "document"
KINDS = ("deprecated",)
OPTIONS = {"statuses": list, "banner-lines": int}
DEFAULTS = {"statuses": ["deprecated", "archived", "obsolete", "superseded", "retired"], "banner-lines": 12,
            "level": "error"}
AGE_RULE = False

# A banner is a line that *starts* with the marker ("> **DEPRECATED**: ...", "Superseded by [x](x.md)")
# or says it of the page itself ("This page is outdated"); "if the token is no longer valid" or "the
# cron job was replaced by a CronJob" in ordinary prose is not one.
BANNER = re.compile(
    r"^\W*(?:\*\*|__)?\s*(?:(?:deprecated|obsolete|archived|outdated)(?:\*\*|__)?\s*(?:[:!.(\u2013\u2014]|-(?!-)|$)|"
    r"no longer (?:maintained|valid|accurate)\b|(?:superseded|replaced) by\b)|"
    r"\bthis (?:page|document|runbook|procedure|guide) (?:is|has been) (?:now )?"
    r"(?:outdated|deprecated|obsolete|archived|superseded|replaced|no longer (?:maintained|valid|accurate|used))",
    re.I,
)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_SUBHEADING = re.compile(r"^\s{0,3}#{2,6}\s")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)|href=[\"']([^\"']+)[\"']")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.I | re.S)


def quote(banner: str, limit: int = 80) -> str:
    """The banner as the message quotes it: links reduced to their text, cut at a word boundary (outside
    inline code) with an ellipsis when longer than `limit` (#12: the quote was cut mid-link)."""
    text = _HTML_LINK.sub(r"\1", _MD_LINK.sub(r"\1", banner))
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    while cut > 0 and text.count("`", 0, cut) % 2:  # inside `code`: cut before it
        cut = text.rfind(" ", 0, text.rfind("`", 0, cut))
    cut = cut if cut > 0 else limit
    return text[:cut].rstrip(" ,;:-\u2013\u2014") + "\u2026"


def check(doc: dict[str, Any], options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    status = (doc.get("status") or "").strip().lower()
    successor = doc.get("superseded_by")
    reasons = []
    if status in options["statuses"]:
        reasons.append(f"status: {status}")
    if successor:
        reasons.append(f"superseded_by: {successor}")
    banner_line = None
    banner = None
    lines = (doc.get("text") or "").split("\n")
    for sec in ctx.doc_sections(doc["id"]):
        # a banner counts at the top of the page or at the top of a section
        start = sec["line_start"] - 1
        window = lines[start:start + (options["banner-lines"] if sec["line_start"] <= 2 + ctx.front_matter_lines(doc) else 4)]
        fence = None
        for i, line in enumerate(window):
            f = _FENCE.match(line)
            if fence or f:  # a banner inside a code block is an example or a log line
                if f and (fence is None or (f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence))):
                    fence = None if fence else f.group(1)
                continue
            # a sub-heading names a thing ("### Deprecated --foo flag" in upgrade notes), not the page
            if BANNER.search(line) and not line.startswith("    ") and not _SUBHEADING.match(line):
                banner_line, banner = start + i + 1, line.strip()
                break
        if banner:
            break
    if banner:
        reasons.append(f'banner "{quote(banner)}"')
        if not successor:
            m = _LINK.search(banner)
            if m:
                successor = m.group(2) or m.group(3)
    if not reasons:
        return
    newer = ctx.resolve_link(doc, successor) if successor else None
    msg = "page is marked deprecated (" + "; ".join(reasons) + ")"
    if successor:
        msg += f"; use {newer['path'] if newer else successor} instead"
    yield RuleHit(
        kind="deprecated", document_id=doc["id"], line=banner_line, message=msg,
        evidence={"status": status or None, "superseded_by": successor, "banner": banner},
        newer_id=newer["id"] if newer else None,
    )
