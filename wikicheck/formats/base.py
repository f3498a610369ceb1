"""What a format module returns: the page's structure in the shape wikicheck.parse assembles into sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Parsed:
    headings: list[tuple[int, int, str]] = field(default_factory=list)  # (0-based line, level, title)
    # (0-based line, column, text): text as markdown's is, code fenced with ```; sorted by (line, column),
    # each one inside the span of the heading it belongs to (a column past 0 puts it after that heading)
    blocks: list[tuple[int, int, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # title and metadata fields (owner, updated, ...)
    anchors: set[str] = field(default_factory=set)  # what a link's #fragment can name on the page
    problem: str | None = None  # one line: what could not be read; the page is kept as far as it was


def fenced(code: str) -> str:
    """Code as a fenced block, so that claims can tell code from prose in the text alone."""
    code = code.rstrip("\n")
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}\n{code}\n{fence}"
