"""HTML pages through BeautifulSoup: the main content only (nav, header, footer, scripts and styles
dropped), its headings and text blocks, and the page's metadata (title, date, author, owner)."""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from ..dates import parse_date
from ..formats.base import fenced
from .blocks import Block, Heading

_DROP = ("script", "style", "nav", "footer", "aside", "noscript", "form", "template", "svg", "button")
_DROP_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search")
_BLOCKS = {
    "p", "li", "pre", "td", "th", "dt", "dd", "blockquote", "figcaption", "caption",
    "h1", "h2", "h3", "h4", "h5", "h6", "div", "section", "article", "ul", "ol", "table",
    "tr", "tbody", "thead", "dl", "main", "details", "summary",
}
HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def html_main(soup: BeautifulSoup) -> Tag:
    """The element that holds the page's main content, with page chrome removed."""
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    root = (
        soup.find("main")
        or soup.find(attrs={"role": "main"})  # type: ignore[call-overload]  # bs4's overloads miss attrs=
        or soup.find("article")
        or soup.find(id="content")
        or soup.body
        or soup
    )
    for tag in root.find_all(_DROP):
        tag.decompose()
    for tag in root.find_all(attrs={"role": list(_DROP_ROLES)}):  # type: ignore[call-overload]
        if not tag.decomposed:
            tag.decompose()
    for tag in root.find_all("header"):
        # a page <header> is chrome; an article header holding the title is content
        if not tag.decomposed and not tag.find(list(HEADING_TAGS)):
            tag.decompose()
    for tag in root.find_all(class_=re.compile(r"(^|\s)(headerlink|anchor|edit-?link|toc)(\s|$)")):
        if not tag.decomposed:
            tag.decompose()
    return root


_COMMENT_CLOSE = re.compile(r"--!?\s*>")  # what ends a comment for html.parser


def html_soup(text: str) -> BeautifulSoup:
    """BeautifulSoup's html.parser tree of `text`, in linear time.

    html.parser searches to the end of the text for the end of every "<!--" that has none, then takes it
    as text: 60 KB of them took 2 s, a 5 MB page hours (issue 11 fuzz). Each "<!--" past the last comment
    end is given to it as the text it would have made of it ("&lt;!--")."""
    first = text.find("<!--")
    if first < 0:
        return BeautifulSoup(text, "html.parser")
    end = first
    for m in _COMMENT_CLOSE.finditer(text, first):
        end = m.end()
    return BeautifulSoup(text[:end] + text[end:].replace("<!--", "&lt;!--"), "html.parser")


def html_structure(text: str, max_level: int) -> tuple[list[Heading], list[Block], int]:
    soup = html_soup(text)
    root = html_main(soup)
    headings: list[Heading] = []
    blocks: list[Block] = []

    def line_of(tag: Tag) -> int:
        return max(0, (getattr(tag, "sourceline", None) or 1) - 1)

    def col_of(tag: Tag) -> int:
        return getattr(tag, "sourcepos", None) or 0

    def flat(el: Tag) -> None:
        # nesting deeper than any real page (a thousand <div>s): its text as one block, nothing lost
        t = " ".join(el.get_text(" ").split())
        if t:
            blocks.append(Block(line_of(el), t, col_of(el)))

    def walk(el: Tag, depth: int = 0) -> None:
        loose: list[str] = []
        for child in el.children:
            if isinstance(child, NavigableString):
                if child.strip():
                    loose.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in HEADING_TAGS:
                lvl = int(name[1])
                t = _html_inline(child).strip()
                if lvl <= max_level and t:
                    headings.append(Heading(line_of(child), lvl, t, col_of(child)))
                elif t:
                    blocks.append(Block(line_of(child), t, col_of(child)))
            elif name == "pre":
                blocks.append(Block(line_of(child), fenced(child.get_text()), col_of(child)))
            elif name in _BLOCKS and depth >= _MAX_HTML_DEPTH:
                flat(child)
            elif name in _BLOCKS and _has_block_child(child):
                walk(child, depth + 1)
            elif name in _BLOCKS:
                t = _html_inline(child).strip()
                if t:
                    if name == "li":
                        t = "- " + t
                    blocks.append(Block(line_of(child), t, col_of(child)))
            else:
                if depth >= _MAX_HTML_DEPTH:
                    flat(child)
                elif _has_block_child(child):
                    walk(child, depth + 1)
                else:
                    t = _html_inline(child).strip()
                    if t:
                        blocks.append(Block(line_of(child), t, col_of(child)))
        if loose and "".join(loose).strip():
            blocks.append(Block(line_of(el), " ".join(s.strip() for s in loose), col_of(el)))

    walk(root)
    blocks.sort(key=lambda b: (b.line, b.col))
    return headings, blocks, len(text.split("\n"))


_MAX_HTML_DEPTH = 100  # block nesting walked element by element; deeper content is kept as flat text


def _has_block_child(tag: Tag) -> bool:
    return any(isinstance(c, Tag) and c.name in _BLOCKS for c in tag.descendants)


def _html_inline(tag: Tag) -> str:
    out: list[str] = []
    for d in tag.descendants:
        if isinstance(d, NavigableString) and not isinstance(d, Comment):
            parent = d.parent
            if parent is not None and parent.name == "code" and not (parent.parent and parent.parent.name == "pre"):
                out.append(f"`{d}`")
            else:
                out.append(str(d))
    return re.sub(r"[ \t\r\n]+", " ", "".join(out))


_HTML_DATE_META = (
    ("name", "last-modified"), ("name", "last_modified"), ("name", "dcterms.modified"),
    ("property", "article:modified_time"), ("property", "og:updated_time"),
    ("name", "revised"), ("itemprop", "dateModified"), ("name", "date"),
)


def html_metadata(text: str) -> dict[str, Any]:
    """Title, last-modified date, author and owner from an HTML page's head and markup."""
    soup = html_soup(text)
    meta: dict[str, Any] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for attr, value in _HTML_DATE_META:
        tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(value)}$", re.I)})
        if tag and tag.get("content") and parse_date(tag["content"]):
            meta["updated"] = parse_date(tag["content"])
            meta["updated_from"] = f"meta {value}"
            break
    if "updated" not in meta:
        for t in soup.find_all("time"):
            d = parse_date(t.get("datetime"))
            if d:
                meta["updated"] = d
                meta["updated_from"] = "time datetime"
                break
    for name in ("author", "owner", "status", "superseded_by", "last_reviewed", "review_by", "expires"):
        tag = soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            meta[name] = str(tag["content"]).strip()
    return meta

