"""Main content and page metadata of a wiki page, per engine (issue 6).

Confluence, MediaWiki, MkDocs Material and Docusaurus are recognised by their own markup; anything
else gets a readability-style extraction (the element that holds most of the prose). Each engine
says where its content is, which chrome to drop inside it (edit links, TOC, breadcrumbs, page
metadata), where its last-modified date, author and page version live, and which links are not
pages (edit, history, special pages). The result is a small clean HTML page: title, canonical link
and page meta tags in the head, the content alone in <main>, links made absolute.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from bs4 import BeautifulSoup, Comment, Tag

from ..dates import iso, parse_date
from ..parse import html_metadata, html_soup


@dataclass
class PageMeta:
    """When the page last changed, who changed it, its version, and how we know."""

    changed_at: str | None = None
    author: str | None = None
    version: str | None = None
    timestamp_source: str | None = None  # "page_meta" (the engine's markup) | "html_meta" (generic meta tags)


@dataclass
class Extracted:
    engine: str
    title: str | None
    html: str  # the clean page that becomes the document text
    meta: PageMeta
    canonical: str | None  # absolute, as the page declares it
    links: list[str]  # absolute URLs of every link on the full page (chrome included), fragments dropped
    page_meta: dict[str, Any] = field(default_factory=dict)  # owner, status, labels... for Document.meta


# --------------------------------------------------------------------------- helpers

_EXTRA_DATE_FORMATS = (
    "%d %B %Y %H:%M", "%d %b %Y %H:%M", "%d %b %Y", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M",
    "%B %d, %Y %H:%M:%S", "%b %d, %Y %H:%M:%S", "%B %d %Y", "%b %d %Y",
)


def page_date(text: object) -> str | None:
    """parse_date, plus the forms wiki engines print ("18 June 2026, at 10:15", "Jun 18, 2026 10:15")."""
    if text is None:
        return None
    s = re.sub(r"\s+", " ", str(text)).strip().rstrip(".")
    s = re.sub(r"\s*\((UTC|GMT)\)$", "", s).replace(", at ", " ")
    d = parse_date(s)
    if d:
        return d
    for fmt in _EXTRA_DATE_FORMATS:
        try:
            return iso(dt.datetime.strptime(s, fmt))
        except ValueError:
            continue
    return None


def _text(el: Tag | None) -> str | None:
    if el is None:
        return None
    t = re.sub(r"\s+", " ", el.get_text(" ", strip=True)).strip()
    return t or None


def _meta(soup: BeautifulSoup, name: str) -> str | None:
    tag = soup.find("meta", attrs={"name": name}) or soup.find("meta", attrs={"property": name})
    v = tag.get("content") if tag else None
    return v.strip() if isinstance(v, str) and v.strip() else None


def _classes(el: Tag) -> list[str]:
    c: Any = el.get("class") or []
    return c if isinstance(c, list) else str(c).split()


_ASSET_EXT = re.compile(
    r"\.(css|js|mjs|map|png|jpe?g|gif|svg|webp|ico|bmp|tiff?|pdf|zip|gz|tgz|bz2|xz|tar|7z|rar|jar|war|exe|dmg|iso|"
    r"mp[34]|m4a|mov|avi|webm|ogg|wav|woff2?|ttf|otf|eot|json|xml|rss|atom|csv|tsv|xlsx?|docx?|pptx?|odt|ods|txt|"
    r"yaml|yml|drawio|vsdx?)$", re.I)


# --------------------------------------------------------------------------- engines


class Engine:
    """The generic engine: readability-style root, generic meta tags. Subclasses know a wiki engine."""

    name = "generic"
    chrome: tuple[str, ...] = ()  # CSS selectors dropped inside the content root
    skip: re.Pattern[str] | None = None  # links (path + query) that are not pages

    def detect(self, soup: BeautifulSoup, generator: str) -> bool:
        return True

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return _readable_root(soup)

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        h1 = root.find("h1")
        return _text(h1) or _title_tag(soup)

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        return PageMeta()

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        return {}

    def skip_link(self, url: str) -> bool:
        p = urlsplit(url)
        target = p.path + ("?" + p.query if p.query else "")
        return bool(self.skip and self.skip.search(target))


def _title_tag(soup: BeautifulSoup, seps: tuple[str, ...] = (" - ", " | ", " — ", " · ")) -> str | None:
    if not soup.title or not soup.title.string:
        return None
    t = soup.title.string.strip()
    for sep in seps:  # "Page - Site name"
        if sep in t:
            return t.split(sep)[0].strip() or t
    return t or None


class Confluence(Engine):
    name = "confluence"
    chrome = (
        ".toc-macro", ".client-side-toc-macro", "#likes-and-labels-container", "#labels-section", "#comments-section",
        ".page-metadata", "#breadcrumb-section", "#breadcrumbs", ".aui-toolbar", "#page-metadata-banner",
        ".plugin_pagetree", "#children-section", ".expand-control-icon", "#navigation", ".hidden",
    )
    # editing, history, people and space tools; viewpage.action is a page (skip_link below)
    skip = re.compile(r"/(users|spaces/flyingpdf|plugins|rest|download|s|collector|labels)/|/display/~|/(login|logout)\b",
                      re.I)

    def skip_link(self, url: str) -> bool:
        path = urlsplit(url).path
        return (path.endswith(".action") and not path.endswith("/viewpage.action")) or super().skip_link(url)

    def detect(self, soup: BeautifulSoup, generator: str) -> bool:
        return bool(
            soup.find("meta", attrs={"name": re.compile(r"^(ajs-page-id|confluence-request-time|ajs-space-key)$")})
            or soup.select_one("#main-content.wiki-content")
            or soup.find("body", id="com-atlassian-confluence")
        )

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return soup.select_one("#main-content") or soup.select_one(".wiki-content") or _readable_root(soup)

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        return _text(soup.select_one("#title-text")) or _meta(soup, "ajs-page-title") or _title_tag(soup)

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        info = soup.select_one(".page-metadata-modification-info") or soup.select_one(".page-metadata")
        if info is not None:
            who = info.select_one(".editor") or info.select_one(".author")
            m.author = _text(who.select_one("a") or who) if who else None
            when = info.select_one("a.last-modified") or info.select_one(".last-modified")
            if when is not None:
                m.changed_at = page_date(when.get("title")) or page_date(_text(when))
                versions = parse_qs(urlsplit(str(when.get("href") or "")).query).get("selectedPageVersions")
                if versions:
                    m.version = str(max(int(v) for v in versions if v.isdigit()))
        m.version = _meta(soup, "ajs-page-version") or m.version
        if m.changed_at:
            m.timestamp_source = "page_meta"
        return m

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        labels = [t for t in (_text(a) for a in soup.select("#labels-section .label, .labels-content .label")) if t]
        return {"space": _meta(soup, "ajs-space-key"), "page_id": _meta(soup, "ajs-page-id"), "labels": labels or None}


class MediaWiki(Engine):
    name = "mediawiki"
    chrome = (
        ".mw-editsection", "#toc", ".toc", ".mw-jump-link", ".printfooter", "#catlinks", ".catlinks", ".navbox",
        ".mw-indicators", "#siteSub", "#contentSub", "#contentSub2", ".noprint", ".mw-empty-elt", "#jump-to-nav",
        ".mw-cite-backlink",
    )
    _NS = r"(Special|Talk|User|User[_ ]talk|File|File[_ ]talk|Image|Media|Template|Template[_ ]talk|Help|Help[_ ]talk|" \
          r"Category|Category[_ ]talk|MediaWiki|MediaWiki[_ ]talk|Module|Module[_ ]talk|Project[_ ]talk|[\w]+[_ ]talk)"
    # special, talk, user, file, category and project pages: any "Namespace:" title
    skip = re.compile(
        rf"/wiki/[^/?#]*:|[?&]title={_NS}(%3A|:)|[?&](action|oldid|diff|curid|printable|veaction|redlink|returnto)=|"
        r"/(load|api|opensearch_desc)\.php", re.I)

    def detect(self, soup: BeautifulSoup, generator: str) -> bool:
        body = soup.find("body")
        return (generator.startswith("mediawiki") or bool(soup.select_one("#mw-content-text"))
                or bool(body and "mediawiki" in _classes(body)))

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return (soup.select_one("#mw-content-text .mw-parser-output") or soup.select_one("#mw-content-text")
                or soup.select_one("#bodyContent") or _readable_root(soup))

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        return (_text(soup.select_one("#firstHeading .mw-page-title-main")) or _text(soup.select_one("#firstHeading"))
                or _title_tag(soup))

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        lastmod = _text(soup.select_one("#footer-info-lastmod"))
        if lastmod:
            hit = re.search(r"last (?:edited|modified) on (.+?)(?:,? at (\d{1,2}:\d{2}))?\s*(?:\((?:UTC|GMT)\))?\.?$",
                            lastmod)
            if hit:
                m.changed_at = page_date(f"{hit.group(1)} {hit.group(2)}" if hit.group(2) else hit.group(1))
            by = re.search(r"last (?:edited|modified) by (.+?)(?: on |\.|$)", lastmod)
            if by:
                m.author = by.group(1).strip()
        credits = soup.select_one("#footer-info-credits")
        if credits is not None and not m.author:
            user = credits.find("a")
            if user is not None:
                m.author = _text(user)
            else:
                by = re.search(r"last (?:edited|modified) by (.+?)(?:\.|,| Based on|$)", _text(credits) or "")
                m.author = by.group(1).strip() if by else None
        for script in soup.find_all("script"):
            hit = re.search(r'"wg(?:CurRevisionId|RevisionId)"\s*:\s*(\d+)', script.string or "")
            if hit and hit.group(1) != "0":
                m.version = hit.group(1)
                break
        if m.version is None:
            perma = soup.select_one("#t-permalink a[href]")
            if perma is not None:
                oldid = parse_qs(urlsplit(str(perma["href"])).query).get("oldid")
                m.version = oldid[0] if oldid else None
        if m.changed_at:
            m.timestamp_source = "page_meta"
        return m

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        cats = [t for t in (_text(a) for a in soup.select("#mw-normal-catlinks li a")) if t]
        return {"categories": cats or None}


class MkDocsMaterial(Engine):
    name = "mkdocs"
    chrome = (
        ".md-content__button", "a.headerlink", ".md-source-file", ".md-feedback", ".md-sidebar", ".md-footer",
        ".md-header", ".md-tabs", ".md-nav", ".md-top", ".md-dialog", ".md-search",
    )
    skip = re.compile(r"/(assets|search|stylesheets|javascripts)/|/404\.html$", re.I)

    def detect(self, soup: BeautifulSoup, generator: str) -> bool:
        return "mkdocs" in generator or bool(soup.select_one(".md-content"))

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return (soup.select_one("article.md-content__inner") or soup.select_one(".md-content__inner")
                or soup.select_one(".md-typeset") or soup.select_one("[role=main]") or _readable_root(soup))

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        # git-revision-date-localized: the "Last update" fact before the "Created" one
        facts = soup.select(".md-source-file__fact") or [soup]

        def is_update(fact: Tag) -> bool:
            icon = fact.select_one("[title]")
            return bool(icon and re.search(r"update|modif|change", str(icon.get("title")), re.I))

        for fact in sorted(facts, key=lambda f: not is_update(f)):
            for el in fact.select("[class*=git-revision-date-localized-plugin]"):
                if "creation" in " ".join(_classes(el)):
                    continue
                stamp = el.find(attrs={"datetime": True})  # type: ignore[call-overload]  # bs4 overloads miss attrs=
                m.changed_at = page_date(stamp["datetime"]) if stamp else page_date(_text(el))
                if m.changed_at:
                    break
            if m.changed_at:
                break
        authors = soup.select(".git-page-authors a, .git-authors a, .md-source-file__fact--author a, a.md-author")
        for a in authors:
            name = _text(a) or a.get("title")
            if name:
                m.author = str(name).lstrip("@")
                break
        if m.changed_at:
            m.timestamp_source = "page_meta"
        return m


class Docusaurus(Engine):
    name = "docusaurus"
    chrome = (
        ".theme-doc-breadcrumbs", ".theme-doc-toc-mobile", ".theme-doc-toc-desktop", ".theme-doc-footer",
        ".pagination-nav", "a.hash-link", ".theme-doc-version-badge", ".theme-doc-version-banner",
        ".theme-edit-this-page", ".theme-last-updated",
    )
    skip = re.compile(r"/(tags|search|assets|img)(/|$)", re.I)

    def detect(self, soup: BeautifulSoup, generator: str) -> bool:
        return generator.startswith("docusaurus") or bool(soup.select_one(".theme-doc-markdown"))

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return soup.select_one(".theme-doc-markdown") or soup.select_one("article") or _readable_root(soup)

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        return _text(root.find("h1")) or _title_tag(soup, (" | ",))

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        upd = soup.select_one(".theme-last-updated")
        if upd is not None:
            stamp = upd.find("time")
            m.changed_at = page_date(stamp.get("datetime")) or page_date(_text(stamp)) if stamp else None
            for b in upd.find_all("b"):
                if b.find("time") is None and _text(b):
                    m.author = _text(b)
        if m.changed_at:
            m.timestamp_source = "page_meta"
        return m

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        return {"docs_version": _meta(soup, "docusaurus_version")}


ENGINES: tuple[Engine, ...] = (Confluence(), MediaWiki(), MkDocsMaterial(), Docusaurus())
GENERIC = Engine()


def detect_engine(soup: BeautifulSoup) -> Engine:
    generator = (_meta(soup, "generator") or "").lower()
    for engine in ENGINES:
        if engine.detect(soup, generator):
            return engine
    return GENERIC


# --------------------------------------------------------------------------- readability fallback

_SEMANTIC_ROOTS = ("main", "[role=main]", "article", "#content", "#main-content", "#main", ".main-content",
                   ".markdown-body", ".post-content", ".entry-content", ".content", ".document")


def _readable_root(soup: BeautifulSoup) -> Tag | None:
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


# --------------------------------------------------------------------------- chrome

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


def _strip_chrome(root: Tag, engine: Engine) -> None:
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
        for token in _classes(el) + str(el.get("id") or "").split():
            words.update(w for w in re.split(r"[-_]+", token.lower()) if w)
        if not (words & _CHROME_WORDS) or (words & _KEEP_WORDS):
            continue
        # a wrapper named "with-sidebar" that holds the article is not chrome
        if el.find(["h1", "h2", "h3"]) or len(el.get_text(" ", strip=True)) > total / 2:
            continue
        el.decompose()


def _scrub(root: Tag) -> None:
    # the page's own classes mean nothing once the chrome is gone, and generic heuristics downstream
    # (parse.html_main drops class="anchor", which Docusaurus puts on every heading) would misread them
    for el in root.find_all(True):
        for attr in [a for a in el.attrs if a in ("class", "style", "role") or a.startswith(("data-", "aria-", "on"))]:
            if attr == "class" and el.name in ("code", "pre"):
                continue
            del el[attr]


def _absolutise(root: Tag, base: str) -> None:
    # links become absolute, so that check.py matches them against the crawled pages' URLs
    for a in root.find_all("a", href=True):
        href = str(a["href"]).strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            a["href"] = urljoin(base, href)
    for img in root.find_all("img", src=True):
        img["src"] = urljoin(base, str(img["src"]).strip())


# --------------------------------------------------------------------------- the page

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
        if not url or _ASSET_EXT.search(urlsplit(url).path) or engine.skip_link(url):
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
        v = _meta(soup, name)
        if v:
            kept.append((name, v))
    extra = {k: v for k, v in engine.extra(soup).items() if v}

    root = engine.root(soup) or soup.body or soup
    _strip_chrome(root, engine)
    title = engine.title(soup, root)
    _scrub(root)
    _absolutise(root, base)
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
