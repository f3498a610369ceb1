"""One visit of a URL and the page it found: the answer's kind (HTML or markdown), its text and fingerprint."""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from ...dates import parse_date
from ...parse.frontmatter import split_front_matter
from ...parse.html import html_soup
from ..base import DATE_KEYS, MARKDOWN_EXT
from ..engines.markup import PageMeta
from ..engines.page import Extracted, page_links
from ..engines.wikis import Engine

HTML_TYPES = ("text/html", "application/xhtml+xml")
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
# a type that says nothing: a .md page served so (raw.githubusercontent.com sends text/plain) is markdown
GENERIC_TYPES = ("", "text/plain", "application/octet-stream", "binary/octet-stream")
_MD = MarkdownIt("commonmark")  # a markdown page's links


def _decode(body: bytes, content_type: str) -> str:
    m = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.I)
    charset = m.group(1) if m else None
    if not charset:
        sniff = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", body[:4096], re.I)
        charset = sniff.group(1).decode("ascii", "replace") if sniff else "utf-8"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- one visit


@dataclass
class _Visit:
    url: str  # as asked
    hops: list[str]  # every URL requested, redirects included; the last one answered
    outcome: str  # page | unchanged | gone | other | failed
    message: str = ""
    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    fingerprint: str | None = None
    size: int = 0
    page: Extracted | None = None
    body: bytes = b""  # sitemaps

    @property
    def final(self) -> str:
        return self.hops[-1]


@dataclass
class _Kept:
    """What load() needs of a page fetched during the scan, the page itself compressed."""

    html_z: bytes
    engine: str
    title: str | None
    meta: PageMeta
    extra: dict[str, Any]
    size: int
    last_modified: str | None
    kind: str = "html"  # the document kind: html, or markdown (the page as served)


def _kept(v: _Visit) -> _Kept:
    assert v.page is not None
    p = v.page
    return _Kept(zlib.compress(p.html.encode("utf-8")), p.engine, p.title, p.meta, p.page_meta, v.size,
                 v.last_modified, "markdown" if p.engine == MARKDOWN_ENGINE else "html")


MARKDOWN_ENGINE = "markdown"  # Extracted.engine of a markdown page: its text as served, not extracted


def _page_kind(mime: str, url: str) -> str | None:
    """The document kind of a 200 answer: html, markdown, or None for a file that is not a page."""
    if mime in MARKDOWN_TYPES or (mime in GENERIC_TYPES and urlsplit(url).path.lower().endswith(MARKDOWN_EXT)):
        return "markdown"
    if not mime or mime in HTML_TYPES:  # no type: HTML when it looks like it (visit() reads it to see)
        return "html"
    return None


_HTML_TAG = re.compile(r"<(html|body|head|main|article|div|p|h[1-6])\b", re.I)


def _looks_like_html(text: str) -> bool:
    """A body served with no Content-Type that is an HTML page (not CODEOWNERS, not a script)."""
    return text.lstrip().startswith("<") and bool(_HTML_TAG.search(text[:65536]))


def _markdown_page(text: str, url: str) -> Extracted:
    """A markdown page as served: its text is the document (front matter and all), its links those it renders."""
    meta, fm_lines, _ = split_front_matter(text)
    body = "\n".join(text.split("\n")[fm_lines:])
    links = page_links(html_soup(_MD.render(body)), url, Engine())
    changed = next((d for d in (parse_date(meta.get(k)) for k in DATE_KEYS) if d), None)
    author = str(meta["author"]) if meta.get("author") else None
    title = str(meta["title"]) if meta.get("title") else None
    return Extracted(MARKDOWN_ENGINE, title, text, PageMeta(changed, author, None, "front_matter" if changed else None),
                     None, links, {})


def _fingerprint(html: str) -> str:
    """A page's fingerprint: the hash of what extract() made of it, so chrome that changes is not a change."""
    return "http:" + hashlib.sha1(html.encode("utf-8")).hexdigest()
