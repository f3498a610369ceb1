"""Cleaning an engine's content root: its chrome dropped (the engine's own selectors, then generic
rules), the page's classes and attributes scrubbed, links made absolute."""

from __future__ import annotations

import re
from urllib.parse import urljoin

from bs4 import Comment, Tag

from .markup import classes_of
from .wikis import Engine

_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "footer", "form", "button",
              "input", "select", "textarea", "link", "meta", "object", "embed")
_DROP_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "toolbar")
_CHROME_WORDS = {
    "sidebar", "breadcrumb", "breadcrumbs", "toc", "navbar", "navigation", "menu", "footer", "pagination", "pager",
    "editsection", "edit", "share", "sharing", "social", "comments", "comment", "related", "skip", "jump",
    "printfooter", "catlinks", "banner", "cookie", "cookies", "headerlink", "toolbar", "feedback", "subscribe",
}
_KEEP_WORDS = {"content", "main", "article", "body", "markdown", "typeset"}  # readability's "ok maybe" words
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def strip_chrome(root: Tag, engine: Engine) -> None:
    for c in root.find_all(string=lambda s: isinstance(s, Comment)):
        if "wikicheck:" not in c:  # suppression comments are content: check.py reads them
            c.extract()
    for sel in engine.chrome:
        for el in root.select(sel):
            if not el.decomposed:
                el.decompose()
    for el in root.find_all(_DROP_TAGS):
        if not el.decomposed:
            el.decompose()
    for el in root.find_all(attrs={"role": list(_DROP_ROLES)}):  # type: ignore[call-overload]
        if not el.decomposed:
            el.decompose()
    for el in root.find_all("header"):
        if not el.decomposed and not el.find(list(_HEADINGS)):
            el.decompose()
    for el in root.find_all(True):
        if el.decomposed:
            continue
        style = str(el.get("style") or "").replace(" ", "").lower()
        if el.has_attr("hidden") or "display:none" in style:
            el.decompose()
    total = len(root.get_text(" ", strip=True)) or 1
    for el in root.find_all(True):
        if el.decomposed or el.name in _HEADINGS or el.name in ("pre", "code", "table", "p"):
            continue
        words: set[str] = set()
        for token in classes_of(el) + str(el.get("id") or "").split():
            words.update(w for w in re.split(r"[-_]+", token.lower()) if w)
        if not (words & _CHROME_WORDS) or (words & _KEEP_WORDS):
            continue
        # a wrapper named "with-sidebar" that holds the article is not chrome
        if el.find(["h1", "h2", "h3"]) or len(el.get_text(" ", strip=True)) > total / 2:
            continue
        el.decompose()


def scrub(root: Tag) -> None:
    # the page's own classes mean nothing once the chrome is gone, and generic heuristics downstream
    # (parse.html_main drops class="anchor", which Docusaurus puts on every heading) would misread them
    for el in root.find_all(True):
        for attr in [a for a in el.attrs if a in ("class", "style", "role") or a.startswith(("data-", "aria-", "on"))]:
            if attr == "class" and el.name in ("code", "pre"):
                continue
            del el[attr]


def absolutise(root: Tag, base: str) -> None:
    # links become absolute, so that check.py matches them against the crawled pages' URLs
    for a in root.find_all("a", href=True):
        href = str(a["href"]).strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            a["href"] = urljoin(base, href)
    for img in root.find_all("img", src=True):
        img["src"] = urljoin(base, str(img["src"]).strip())

