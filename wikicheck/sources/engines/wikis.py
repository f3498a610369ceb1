"""The wiki engines: how Confluence, MediaWiki, MkDocs Material and Docusaurus pages are recognised,
where their content is, which chrome they put inside it, where their last-modified date, author and
page version live, and which of their links are not pages. Engine is the generic one."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup, Tag

from .markup import PageMeta, classes_of, meta_content, page_date, text_of, title_tag
from .readability import readable_root


class Engine:
    """The generic engine: readability-style root, generic meta tags. Subclasses know a wiki engine."""

    name = "generic"
    chrome: tuple[str, ...] = ()  # CSS selectors dropped inside the content root
    skip: re.Pattern[str] | None = None  # links (path + query) that are not pages

    def detect(self, soup: BeautifulSoup, generator: str) -> bool:
        return True

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return readable_root(soup)

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        h1 = root.find("h1")
        return text_of(h1) or title_tag(soup)

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        return PageMeta()

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        return {}

    def skip_link(self, url: str) -> bool:
        p = urlsplit(url)
        target = p.path + ("?" + p.query if p.query else "")
        return bool(self.skip and self.skip.search(target))


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
        return soup.select_one("#main-content") or soup.select_one(".wiki-content") or readable_root(soup)

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        return text_of(soup.select_one("#title-text")) or meta_content(soup, "ajs-page-title") or title_tag(soup)

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        info = soup.select_one(".page-metadata-modification-info") or soup.select_one(".page-metadata")
        if info is not None:
            who = info.select_one(".editor") or info.select_one(".author")
            m.author = text_of(who.select_one("a") or who) if who else None
            when = info.select_one("a.last-modified") or info.select_one(".last-modified")
            if when is not None:
                m.changed_at = page_date(when.get("title")) or page_date(text_of(when))
                versions = parse_qs(urlsplit(str(when.get("href") or "")).query).get("selectedPageVersions")
                if versions:
                    m.version = str(max(int(v) for v in versions if v.isdigit()))
        m.version = meta_content(soup, "ajs-page-version") or m.version
        if m.changed_at:
            m.timestamp_source = "page_meta"
        return m

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        labels = [t for t in (text_of(a) for a in soup.select("#labels-section .label, .labels-content .label")) if t]
        return {"space": meta_content(soup, "ajs-space-key"), "page_id": meta_content(soup, "ajs-page-id"), "labels": labels or None}


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
                or bool(body and "mediawiki" in classes_of(body)))

    def root(self, soup: BeautifulSoup) -> Tag | None:
        return (soup.select_one("#mw-content-text .mw-parser-output") or soup.select_one("#mw-content-text")
                or soup.select_one("#bodyContent") or readable_root(soup))

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        return (text_of(soup.select_one("#firstHeading .mw-page-title-main")) or text_of(soup.select_one("#firstHeading"))
                or title_tag(soup))

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        lastmod = text_of(soup.select_one("#footer-info-lastmod"))
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
                m.author = text_of(user)
            else:
                by = re.search(r"last (?:edited|modified) by (.+?)(?:\.|,| Based on|$)", text_of(credits) or "")
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
        cats = [t for t in (text_of(a) for a in soup.select("#mw-normal-catlinks li a")) if t]
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
                or soup.select_one(".md-typeset") or soup.select_one("[role=main]") or readable_root(soup))

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        # git-revision-date-localized: the "Last update" fact before the "Created" one
        facts = soup.select(".md-source-file__fact") or [soup]

        def is_update(fact: Tag) -> bool:
            icon = fact.select_one("[title]")
            return bool(icon and re.search(r"update|modif|change", str(icon.get("title")), re.I))

        for fact in sorted(facts, key=lambda f: not is_update(f)):
            for el in fact.select("[class*=git-revision-date-localized-plugin]"):
                if "creation" in " ".join(classes_of(el)):
                    continue
                stamp = el.find(attrs={"datetime": True})  # type: ignore[call-overload]  # bs4 overloads miss attrs=
                m.changed_at = page_date(stamp["datetime"]) if stamp else page_date(text_of(el))
                if m.changed_at:
                    break
            if m.changed_at:
                break
        authors = soup.select(".git-page-authors a, .git-authors a, .md-source-file__fact--author a, a.md-author")
        for a in authors:
            name = text_of(a) or a.get("title")
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
        return soup.select_one(".theme-doc-markdown") or soup.select_one("article") or readable_root(soup)

    def title(self, soup: BeautifulSoup, root: Tag) -> str | None:
        return text_of(root.find("h1")) or title_tag(soup, (" | ",))

    def metadata(self, soup: BeautifulSoup) -> PageMeta:
        m = PageMeta()
        upd = soup.select_one(".theme-last-updated")
        if upd is not None:
            stamp = upd.find("time")
            m.changed_at = page_date(stamp.get("datetime")) or page_date(text_of(stamp)) if stamp else None
            for b in upd.find_all("b"):
                if b.find("time") is None and text_of(b):
                    m.author = text_of(b)
        if m.changed_at:
            m.timestamp_source = "page_meta"
        return m

    def extra(self, soup: BeautifulSoup) -> dict[str, Any]:
        return {"docs_version": meta_content(soup, "docusaurus_version")}


ENGINES: tuple[Engine, ...] = (Confluence(), MediaWiki(), MkDocsMaterial(), Docusaurus())
GENERIC = Engine()


def detect_engine(soup: BeautifulSoup) -> Engine:
    generator = (meta_content(soup, "generator") or "").lower()
    for engine in ENGINES:
        if engine.detect(soup, generator):
            return engine
    return GENERIC
