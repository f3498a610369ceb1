"""The readability-style fallback: the element of a page that holds its content."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag

_SEMANTIC_ROOTS = ("main", "[role=main]", "article", "#content", "#main-content", "#main", ".main-content",
                   ".markdown-body", ".post-content", ".entry-content", ".content", ".document")


def readable_root(soup: BeautifulSoup) -> Tag | None:
    """The semantic content container when there is one, else the element holding most of the prose."""
    body = soup.body or soup
    for sel in _SEMANTIC_ROOTS:
        found = [el for el in soup.select(sel) if len(el.get_text(" ", strip=True)) > 80]
        if found:
            return max(found, key=lambda el: len(el.get_text(" ", strip=True)))
    scores: dict[int, float] = {}
    tags: dict[int, Tag] = {}
    for el in body.find_all(["p", "pre", "blockquote"]):
        text = el.get_text(" ", strip=True)
        if len(text) < 25 and el.name == "p":
            continue
        score = 1 + text.count(",") + min(len(text) // 100, 3)
        for up, weight in ((el.parent, 1.0), (el.parent.parent if el.parent else None, 0.5)):
            if isinstance(up, Tag):
                tags[id(up)] = up
                scores[id(up)] = scores.get(id(up), 0) + score * weight
    if not scores:
        return body if isinstance(body, Tag) else None

    def final(k: int) -> float:
        el = tags[k]
        text = len(el.get_text(" ", strip=True)) or 1
        links = sum(len(a.get_text(" ", strip=True)) for a in el.find_all("a"))
        return scores[k] * (1 - links / text)

    return tags[max(scores, key=final)]

