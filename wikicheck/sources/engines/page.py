"""The page an engine's extraction makes: a small clean HTML page (title, canonical link and page
meta tags in the head, the content alone in <main>), the page's links, and its metadata."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from ...parse.html import html_metadata, html_soup
from .chrome import absolutise, scrub, strip_chrome
from .markup import PageMeta, meta_content
from .wikis import Engine, detect_engine


@dataclass
class Extracted:
    engine: str
    title: str | None
    html: str  # the clean page that becomes the document text
    meta: PageMeta
    canonical: str | None  # absolute, as the page declares it
    links: list[str]  # absolute URLs of every link on the full page (chrome included), fragments dropped
    page_meta: dict[str, Any] = field(default_factory=dict)  # owner, status, labels... for Document.meta


ASSET_EXT = re.compile(
    r"\.(css|js|mjs|map|png|jpe?g|gif|svg|webp|ico|bmp|tiff?|pdf|zip|gz|tgz|bz2|xz|tar|7z|rar|jar|war|exe|dmg|iso|"
    r"mp[34]|m4a|mov|avi|webm|ogg|wav|woff2?|ttf|otf|eot|json|xml|rss|atom|csv|tsv|xlsx?|docx?|pptx?|odt|ods|txt|"
    r"yaml|yml|drawio|vsdx?)$", re.I)

_KEEP_META = ("author", "owner", "status", "superseded_by", "last_reviewed", "review_by", "expires", "description",
              "keywords", "last-modified", "last_modified", "dcterms.modified", "revised", "date",
              "article:modified_time", "og:updated_time")


def page_links(soup: BeautifulSoup, base: str, engine: Engine) -> list[str]:
    out: dict[str, None] = {}
    for a in soup.find_all(["a", "area"], href=True):
        href = str(a["href"]).strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            continue
        rel: Any = a.get("rel") or []
        if "nofollow" in rel:
            continue
        url = urljoin(base, href).split("#", 1)[0]
        if not url or ASSET_EXT.search(urlsplit(url).path) or engine.skip_link(url):
            continue
        out[url] = None
    return list(out)


def extract(text: str, url: str) -> Extracted:
    """The main content and page metadata of an HTML page fetched from `url`."""
    soup = html_soup(text)
    engine = detect_engine(soup)
    base_tag = soup.find("base", href=True)
    base = urljoin(url, str(base_tag["href"])) if base_tag else url
    canon_tag = soup.find("link", rel=lambda v: bool(v) and "canonical" in (v if isinstance(v, list) else v.split()),
                          href=True)
    canonical = urljoin(base, str(canon_tag["href"]).strip()).split("#", 1)[0] if canon_tag else None
    links = page_links(soup, base, engine)

    meta = engine.metadata(soup)
    generic = html_metadata(text)
    if not meta.changed_at and generic.get("updated"):
        meta.changed_at, meta.timestamp_source = generic["updated"], "html_meta"
    if not meta.author and generic.get("author"):
        meta.author = str(generic["author"])
    kept: list[tuple[str, str]] = []
    for name in _KEEP_META:
        v = meta_content(soup, name)
        if v:
            kept.append((name, v))
    extra = {k: v for k, v in engine.extra(soup).items() if v}

    root = engine.root(soup) or soup.body or soup
    strip_chrome(root, engine)
    title = engine.title(soup, root)
    scrub(root)
    absolutise(root, base)
    inner = "".join(str(c) for c in root.contents).strip("\n")
    head = [f"<title>{htmllib.escape(title)}</title>"] if title else []
    if canonical:
        head.append(f'<link rel="canonical" href="{htmllib.escape(canonical)}">')
    for name, value in kept:
        attr = "property" if ":" in name else "name"
        head.append(f'<meta {attr}="{name}" content="{htmllib.escape(value)}">')
    # the page title is a heading of the page (as a markdown page's "# Title" is), when the content has none
    h1 = f"<h1>{htmllib.escape(title)}</h1>\n" if title and root.find("h1") is None else ""
    page = ("<!DOCTYPE html>\n<html>\n<head>\n" + "\n".join(head) + "\n</head>\n<body>\n<main>\n"
            + h1 + inner + "\n</main>\n</body>\n</html>\n")
    return Extracted(engine.name, title, page, meta, canonical, links, extra)


def with_canonical(page: str, canonical: str | None) -> str:
    """A page extract() made, as it would read had the page declared `canonical` (None: no canonical link).

    A page that moved to a new URL declares its new URL: this is how it read at its old one."""
    head, sep, body = page.partition("\n</head>\n")
    if not sep:
        return page
    lines = [ln for ln in head.split("\n") if not ln.startswith('<link rel="canonical" ')]
    if canonical:
        at = next((i for i, ln in enumerate(lines) if ln.startswith("<title>")), None)
        if at is None:
            at = next((i for i, ln in enumerate(lines) if ln == "<head>"), len(lines) - 1)
        lines.insert(at + 1, f'<link rel="canonical" href="{htmllib.escape(canonical)}">')
    return "\n".join(lines) + sep + body
