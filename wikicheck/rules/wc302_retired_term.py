"""Mentions a retired host, service, command or flag listed in the ``[[retired]]`` lexicon.

Each entry has a ``term`` (plain text, matched as a whole word) or a ``pattern`` (a regex), a
``replacement`` and an optional ``reason``. The finding quotes the text it found (after the entry's
``label`` when that differs, e.g. ``mentions retired Jenkins (`jenkins.acme.internal`)``) and names
the replacement.

Passes: ``ssh ci.acme.internal`` with ``[[retired]] term = "jenkins.acme.internal"``.
Fails: ``ssh jenkins.acme.internal`` with the same lexicon.
"""

from __future__ import annotations

from typing import Any, Iterator

from .base import RuleHit

CODE = "WC302"
NAME = "retired-term"
SCOPE = "section"
KINDS = ("retired_term",)
OPTIONS: dict[str, type] = {}
DEFAULTS = {"level": "error"}
AGE_RULE = False


def check(section: dict[str, Any], options: dict[str, Any], ctx: Any) -> Iterator[RuleHit]:
    raw = section.get("raw") or section["text"]
    for entry in ctx.retired:
        for m in entry.regex.finditer(raw):
            line = section["line_start"] + raw.count("\n", 0, m.start())
            repl = f"; use {entry.replacement}" if entry.replacement else ""
            why = f" ({entry.reason})" if entry.reason else ""
            # name the term once (#12): a label that is the matched text is not repeated, nor a
            # pattern that stands in for a label the entry lacks
            named = entry.label != entry.regex.pattern and entry.label.casefold() != m.group(0).casefold()
            what = f"{entry.label} (`{m.group(0)}`)" if named else f"`{m.group(0)}`"
            yield RuleHit(
                kind="retired_term", section_id=section["id"], line=line,
                message=f"mentions retired {what}{why}{repl}",
                evidence={"term": m.group(0), "entry": entry.label, "replacement": entry.replacement,
                          "reason": entry.reason},
                key=entry.label,
            )
            break
