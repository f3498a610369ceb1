"""Heading anchors: GitHub-style slugs, de-duplicated on a page, and every anchor a link can target."""

from __future__ import annotations

import re
import unicodedata

from ..formats import FORMATS
from .frontmatter import split_front_matter
from .html import HEADING_TAGS, html_soup
from .markdown import inline_text, markdown_tokens


def unique_anchor(slug: str, taken: dict[str, int]) -> str:
    """GitHub (github-slugger): count up until the anchor is not taken on the page."""
    anchor = slug
    while anchor in taken:
        taken[slug] += 1
        anchor = f"{slug}-{taken[slug]}"
    taken[anchor] = 0
    return anchor


def slugify(heading: str) -> str:
    """GitHub-style anchor: lower case, punctuation dropped, spaces to hyphens."""
    s = unicodedata.normalize("NFKC", heading).strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def heading_anchors(text: str, kind: str) -> set[str]:
    """Every anchor a link can target on a page: heading slugs (all levels) and explicit ids."""
    anchors: set[str] = set()
    taken: dict[str, int] = {}
    if kind in FORMATS:
        return set(FORMATS[kind].parse(text).anchors)
    if kind == "markdown":
        _, fm, _ = split_front_matter(text)
        body = "\n".join(text.split("\n")[fm:])
        tokens = markdown_tokens(body)
        for i, t in enumerate(tokens):
            if t.type == "heading_open" and i + 1 < len(tokens):
                anchors.add(unique_anchor(slugify(inline_text(tokens[i + 1])), taken))
        for m in re.finditer(r"""<a\s+(?:name|id)=["']([^"']+)["']|\{#([\w-]+)\}|\sid=["']([^"']+)["']""", text):
            anchors.add((m.group(1) or m.group(2) or m.group(3)).lower())
    else:
        soup = html_soup(text)
        for tag in soup.find_all(True):
            for attr in ("id", "name"):
                v = tag.get(attr)
                if isinstance(v, str):
                    anchors.add(v.lower())
            if tag.name in HEADING_TAGS:
                anchors.add(slugify(tag.get_text(" ", strip=True)))
    return anchors
