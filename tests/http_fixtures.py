"""A real HTTP server on loopback for the HTTP source tests (issue 6).

It serves the sample wiki rendered the way three wiki engines render pages, chrome and all:

    /confluence/display/OPS/<slug>   Confluence 7: page tree, breadcrumbs, page metadata, TOC macro,
                                     likes, labels, comments; ETag and Last-Modified; viewpage.action
                                     redirects to the display URL
    /mediawiki/wiki/<Title>          MediaWiki 1.39 (Vector): edit links, TOC, categories, footer with
                                     "last edited on"; Last-Modified only (no ETag), gzip when asked
    /mkdocs/<path>/                  MkDocs Material 9 with git-revision-date-localized and git-authors:
                                     nav and TOC sidebars, edit button, header links; ETag, sitemap.xml,
                                     and <path>/index.html as a second URL of each page (canonical)
    /lab/                            the awkward cases: a slow page, a huge page, redirects to a host that
                                     is not allowed and to ftp:, a redirect loop, a dead link, a plain page
                                     with only a Last-Modified header, a page with a generic meta date, a
                                     Docusaurus page, a download

Pages can be edited, removed and moved to a new URL between crawls (the old URL then redirects, still
serves the page with a canonical link to the new one, or is gone); every response is counted per
path and status.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import html
import posixpath
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from markdown_it import MarkdownIt

from wikicheck.parse import html_metadata, slugify, split_front_matter

SAMPLE = Path(__file__).parent.parent / "sample_wiki"
DEFAULT_DATE = dt.datetime(2025, 1, 15, 10, 15, tzinfo=dt.timezone.utc)
_MD = MarkdownIt("commonmark").enable("table")


# --------------------------------------------------------------------------- pages


@dataclass
class WikiPage:
    rel: str  # path in the sample wiki: "platform/pgbouncer.md"
    title: str
    body: str  # markdown, front matter removed
    updated: dt.datetime
    author: str = "Ann Author"
    version: int = 1
    meta: dict[str, str] = field(default_factory=dict)  # owner, status... (rendered as meta tags)
    status: int = 200  # 404 or 410 once removed
    index: int = -1  # its place in the site when the site was made: page ids and revisions stay put when it moves

    @property
    def stem(self) -> str:
        return re.sub(r"\.(md|html)$", "", self.rel)

    def html(self) -> str:
        """The body as HTML: the sample wiki's HTML pages are HTML already."""
        return self.body if self.rel.endswith(".html") else _MD.render(self.body)


def page_from_markdown(rel: str, text: str, *, author: str = "Ann Author", updated: dt.datetime | None = None) -> WikiPage:
    meta, n, _ = split_front_matter(text)
    body = "\n".join(text.split("\n")[n:]).lstrip("\n")
    title = str(meta.get("title") or "")
    if not title:
        m = re.search(r"^# (.+)$", body, re.M)
        title = m.group(1).strip() if m else rel
    when = updated
    if when is None and meta.get("updated"):
        d = dt.date.fromisoformat(str(meta["updated"])[:10])
        when = dt.datetime(d.year, d.month, d.day, 10, 15, tzinfo=dt.timezone.utc)
    extra = {k: str(meta[k]) for k in ("owner", "status", "last_reviewed", "review_by", "superseded_by") if meta.get(k)}
    return WikiPage(rel, title, body, when or DEFAULT_DATE, author, 1, extra)


def page_from_html(rel: str, text: str) -> WikiPage:
    """The <main> of one of the sample wiki's HTML pages, with its title and date."""
    m = re.search(r"<main>(.*)</main>", text, re.S)
    body = (m.group(1) if m else text).strip() + "\n"
    h1 = re.search(r"<h1>(.*?)</h1>", body)
    d = html_metadata(text).get("updated")
    when = dt.datetime.fromisoformat(d.replace("Z", "+00:00")) if d else DEFAULT_DATE
    return WikiPage(rel, html.unescape(h1.group(1)) if h1 else rel, body, when)


def sample_pages(root: Path = SAMPLE) -> dict[str, WikiPage]:
    pages = {}
    for p in sorted([*root.rglob("*.md"), *root.rglob("*.html")]):
        rel = p.relative_to(root).as_posix()
        text = p.read_text(encoding="utf-8")
        pages[rel] = page_from_html(rel, text) if rel.endswith(".html") else page_from_markdown(rel, text)
    return dict(sorted(pages.items()))


# --------------------------------------------------------------------------- engine URLs


def confluence_slug(page: WikiPage) -> str:
    return "Home" if page.rel == "index.md" else page.stem.replace("/", "-")


def mediawiki_title(page: WikiPage) -> str:
    if page.rel == "index.md":
        return "Main_Page"
    return page.stem[0].upper() + page.stem[1:]


def mkdocs_dir(page: WikiPage) -> str:
    return "" if page.rel == "index.md" else page.stem + "/"


class WikiSite:
    """The pages and the three renderings of them. Mutable: edit() and remove() between crawls."""

    def __init__(self, pages: dict[str, WikiPage] | None = None):
        self.pages = pages if pages is not None else sample_pages()
        for i, rel in enumerate(sorted(self.pages)):
            if self.pages[rel].index < 0:
                self.pages[rel].index = i
        # old rel -> (rel now, how the old URLs answer: "redirect" | "alias" | "gone", redirect status)
        self.moved: dict[str, tuple[str, str, int]] = {}
        self.base = ""  # set by the server: http://127.0.0.1:PORT
        self.slow_seconds = 3.0
        self.slow_pages: set[str] = set()  # pages (rel) that answer after slow_seconds, like /lab/slow
        self.delay = 0.0  # added to every response (concurrency tests)
        self.require_auth: str | None = None  # an Authorization header value every request must carry
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ changes

    def edit(self, rel: str, old: str, new: str, when: dt.datetime, author: str = "Bob Builder") -> None:
        with self.lock:
            p = self.pages[rel]
            assert old in p.body, old
            p.body = p.body.replace(old, new)
            p.updated, p.author, p.version = when, author, p.version + 1

    def remove(self, rel: str, status: int = 404) -> None:
        with self.lock:
            self.pages[rel].status = status

    def move(self, rel: str, new_rel: str, how: str = "redirect", status: int = 301) -> None:
        """The page gets a new name, so new URLs in every engine; its old URLs redirect to the new ones
        (`status`), still serve it with a canonical link to the new URL ("alias"), or answer 404 ("gone")."""
        assert how in ("redirect", "alias", "gone") and new_rel not in self.pages, (how, new_rel)
        with self.lock:
            page = self.pages.pop(rel)
            page.rel = new_rel
            self.pages[new_rel] = page
            for old, (now, h, st) in list(self.moved.items()):  # moved again: the oldest URLs follow
                if now == rel:
                    self.moved[old] = (new_rel, h, st)
            self.moved[rel] = (new_rel, how, status)

    def moved_from(self, match) -> tuple[WikiPage, str, int] | None:  # type: ignore[no-untyped-def]
        """The page that moved away from a URL that `match(old page)` recognises: (page, how, status)."""
        for old, (now, how, status) in self.moved.items():
            if match(WikiPage(old, "", "", DEFAULT_DATE)):
                return self.pages[now], how, status
        return None

    def live(self) -> list[WikiPage]:
        return [p for p in self.pages.values() if p.status == 200]

    # ------------------------------------------------------------------ shared rendering

    def _links(self, page: WikiPage, html_text: str, url_of) -> str:  # type: ignore[no-untyped-def]
        """Relative .md links of the sample wiki -> the engine's URLs."""

        def repl(m: re.Match[str]) -> str:
            href = html.unescape(m.group(1))
            if re.match(r"^[a-z]+:", href) or href.startswith("#"):
                return m.group(0)
            path, _, anchor = href.partition("#")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page.rel), path))
            other = self.pages.get(target)
            url = url_of(other) if other else url_of(WikiPage(target, "", "", DEFAULT_DATE))
            return f'href="{html.escape(url)}{"#" + anchor if anchor else ""}"'

        return re.sub(r'href="([^"]+)"', repl, html_text)

    def _meta_tags(self, page: WikiPage) -> str:
        return "\n".join(f'<meta name="{k}" content="{html.escape(v)}">' for k, v in page.meta.items())

    # ------------------------------------------------------------------ Confluence 7

    def confluence_url(self, page: WikiPage) -> str:
        return f"/confluence/display/OPS/{quote(confluence_slug(page))}"

    def page_id(self, page: WikiPage) -> int:
        return 65000 + (page.index if page.index >= 0 else sorted(self.pages).index(page.rel))

    def revision(self, page: WikiPage) -> int:
        """MediaWiki's revision id of the page's current version."""
        return 4000 + 100 * page.version + (page.index if page.index >= 0 else sorted(self.pages).index(page.rel))

    def confluence(self, page: WikiPage) -> str:
        pid, v = self.page_id(page), page.version
        anchor_prefix = re.sub(r"\W", "", page.title)
        content = self._links(page, page.html(), self.confluence_url)
        heads: list[tuple[str, str]] = []

        def head(m: re.Match[str]) -> str:
            hid = f"{anchor_prefix}-{re.sub(r'[^A-Za-z0-9]', '', html.unescape(m.group(2)))}"
            heads.append((hid, m.group(2)))
            return f'<h{m.group(1)} id="{hid}">{m.group(2)}</h{m.group(1)}>'

        content = re.sub(r"<h([1-6])>(.*?)</h\1>", head, content)
        content = re.sub(
            r'<pre><code(?: class="language-(\w+)")?>(.*?)</code></pre>',
            lambda m: ('<div class="code panel pdl" style="border-width: 1px;"><div class="codeContent panelContent pdl">'
                       f'<pre class="syntaxhighlighter-pre" data-syntaxhighlighter-params="brush: {m.group(1) or "text"}; '
                       f'gutter: false; theme: Confluence" data-theme="Confluence">{m.group(2)}</pre></div></div>'),
            content, flags=re.S)
        toc = "".join(f'<li><span class="toc-item-body"><a href="#{h}" class="toc-link">{t}</a></span></li>'
                      for h, t in heads)
        tree = "".join(f'<li><a href="{self.confluence_url(p)}">{html.escape(p.title)}</a></li>' for p in self.live())
        date = page.updated.strftime("%b %d, %Y")
        return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<title>{html.escape(page.title)} - Operations - Acme Confluence</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="ajs-page-id" content="{pid}">
<meta name="ajs-space-key" content="OPS">
<meta name="ajs-page-title" content="{html.escape(page.title)}">
<meta name="ajs-page-version" content="{v}">
<meta name="ajs-remote-user" content="">
{self._meta_tags(page)}
<link rel="canonical" href="{self.base}{self.confluence_url(page)}">
<link rel="shortlink" href="{self.base}/confluence/x/{pid:x}">
<script type="text/javascript">AJS.Meta.set("page-id", "{pid}");</script>
</head>
<body id="com-atlassian-confluence" class="theme-default aui-layout aui-theme-default">
<ul id="assistive-skip-links" class="assistive"><li><a href="#title-heading">Skip to content</a></li></ul>
<div id="page">
<header id="header" role="banner">
  <nav class="aui-header aui-dropdown2-trigger-group" role="navigation">
    <a href="/confluence/dashboard.action" class="aui-nav-imagelink">Acme Confluence</a>
    <ul class="aui-nav"><li><a href="/confluence/spacedirectory/view.action">Spaces</a></li>
    <li><a href="/confluence/people/search.action">People</a></li></ul>
    <a href="/confluence/login.action?os_destination=%2Fdisplay%2FOPS%2F{quote(confluence_slug(page))}">Log in</a>
  </nav>
</header>
<div id="main" class="aui-page-panel">
 <div class="ia-splitter-left"><div class="acs-side-bar ia-scrollable-section">
  <div class="acs-side-bar-space-info"><a href="/confluence/display/OPS">Operations</a></div>
  <div class="plugin_pagetree"><ul class="plugin_pagetree_children_list">{tree}</ul></div>
 </div></div>
 <div id="main-header">
  <div id="navigation" class="content-navigation view">
   <ul class="ajs-menu-bar"><li><a id="editPageLink" href="/confluence/pages/editpage.action?pageId={pid}">Edit</a></li>
   <li><a href="/confluence/pages/viewpreviousversions.action?pageId={pid}">Page History</a></li></ul>
  </div>
  <div id="breadcrumb-section"><nav aria-label="Breadcrumbs"><ol id="breadcrumbs">
   <li class="first"><span><a href="/confluence/dashboard.action">Dashboard</a></span></li>
   <li><span><a href="/confluence/display/OPS">Operations</a></span></li>
   <li><span><a href="/confluence/display/OPS/Home">Operations Home</a></span></li>
  </ol></nav></div>
  <h1 id="title-heading" class="pagetitle with-breadcrumbs"><span id="title-text"><a href="{self.confluence_url(page)}">{html.escape(page.title)}</a></span></h1>
 </div>
 <div id="content" class="page view">
  <div class="page-metadata"><ul>
   <li class="page-metadata-modification-info">
    Created by <span class="author"><a href="/confluence/display/~ann" class="url fn confluence-userlink">Ann Author</a></span>,
    last modified by <span class="editor"><a href="/confluence/display/~{page.author.split()[0].lower()}" class="url fn confluence-userlink">{html.escape(page.author)}</a></span>
    on <a class="last-modified" aria-label="modified on {date}" title="Show changes" href="/confluence/pages/diffpagesbyversion.action?pageId={pid}&amp;selectedPageVersions={max(v - 1, 1)}&amp;selectedPageVersions={v}">{date}</a>
   </li></ul></div>
  <div id="main-content" class="wiki-content">
<div class="toc-macro client-side-toc-macro" data-headerelements="H1,H2,H3"><ul>{toc}</ul></div>
{content}
  </div>
  <div id="likes-and-labels-container"><div id="likes-section"><a href="" class="like-button">Like</a> Be the first to like this</div>
   <div id="labels-section" class="pageSection group"><div class="labels-section-content content-column">
    <ul class="label-list"><li class="aui-label"><a class="label" rel="nofollow" href="/confluence/label/OPS/runbook">runbook</a></li></ul></div></div></div>
  <div id="comments-section" class="pageSection group"><h2 id="comments-section-title" class="section-title">No Comments</h2>
   <a href="/confluence/pages/viewpage.action?pageId={pid}&amp;showComments=true&amp;showCommentArea=true#addcomment">Add Comment</a></div>
 </div>
</div>
<footer id="footer" role="contentinfo"><section class="footer-body">
 <ul id="poweredby"><li class="noprint">Powered by <a href="https://www.atlassian.com/software/confluence">Atlassian Confluence</a> 7.19.8</li></ul>
 <div id="footer-logo"><a href="https://www.atlassian.com/">Atlassian</a></div>
</section></footer>
</div>
</body>
</html>
"""

    # ------------------------------------------------------------------ MediaWiki 1.39

    def mediawiki_url(self, page: WikiPage) -> str:
        return f"/mediawiki/wiki/{quote(mediawiki_title(page))}"

    def mediawiki(self, page: WikiPage) -> str:
        title = mediawiki_title(page)
        rev = self.revision(page)
        content = self._links(page, page.html(), self.mediawiki_url)
        content = re.sub(r"<h1>.*?</h1>\n?", "", content, count=1)  # the title is #firstHeading
        heads: list[tuple[int, str, str]] = []
        n = 0

        def head(m: re.Match[str]) -> str:
            nonlocal n
            n += 1
            text = m.group(2)
            hid = re.sub(r"\s+", "_", html.unescape(re.sub(r"<[^>]+>", "", text)))
            heads.append((int(m.group(1)), hid, text))
            return (f'<h{m.group(1)}><span class="mw-headline" id="{html.escape(hid)}">{text}</span>'
                    f'<span class="mw-editsection"><span class="mw-editsection-bracket">[</span>'
                    f'<a href="/mediawiki/index.php?title={quote(title)}&amp;action=edit&amp;section={n}" '
                    f'title="Edit section: {html.escape(html.unescape(text))}">edit</a>'
                    f'<span class="mw-editsection-bracket">]</span></span></h{m.group(1)}>')

        content = re.sub(r"<h([2-6])>(.*?)</h\1>", head, content)
        content = re.sub(
            r'<pre><code(?: class="language-(\w+)")?>(.*?)</code></pre>',
            lambda m: (f'<div class="mw-highlight mw-highlight-lang-{m.group(1) or "text"} mw-content-ltr" dir="ltr">'
                       f"<pre><span></span>{m.group(2)}</pre></div>"), content, flags=re.S)
        if len(heads) >= 3:  # MediaWiki adds a TOC before the first heading of a page with 3 or more
            toc = "".join(f'<li class="toclevel-{lv - 1}"><a href="#{h}"><span class="tocnumber">{i}</span> '
                          f'<span class="toctext">{t}</span></a></li>' for i, (lv, h, t) in enumerate(heads, 1))
            box = (f'<div id="toc" class="toc" role="navigation" aria-labelledby="mw-toc-heading">'
                   f'<input type="checkbox" role="button" id="toctogglecheckbox" class="toctogglecheckbox">'
                   f'<div class="toctitle" lang="en" dir="ltr"><h2 id="mw-toc-heading">Contents</h2></div>'
                   f"<ul>{toc}</ul></div>\n")
            i = content.find("<h2>") if "<h2>" in content else content.find("<h2")
            content = content[:i] + box + content[i:] if i >= 0 else box + content
        if page.rel == "index.md":  # the main page lists every runbook
            content += "<h2>All runbooks</h2>\n<ul>" + "".join(
                f'<li><a href="{self.mediawiki_url(p)}" title="{html.escape(mediawiki_title(p))}">{html.escape(p.title)}</a></li>'
                for p in self.live() if p.rel != "index.md") + "</ul>\n"
        lastmod = f"{page.updated.day} {page.updated.strftime('%B %Y')}, at {page.updated.strftime('%H:%M')}"
        user = page.author.replace(" ", "_")
        return f"""<!DOCTYPE html>
<html class="client-nojs" lang="en" dir="ltr">
<head>
<meta charset="UTF-8">
<title>{html.escape(page.title)} - Acme Wiki</title>
<script>document.documentElement.className="client-js";RLCONF={{"wgCanonicalNamespace":"","wgPageName":"{title}","wgTitle":"{html.escape(page.title)}","wgCurRevisionId":{rev},"wgRevisionId":{rev},"wgArticleId":{self.page_id(page)},"wgIsArticle":true,"wgAction":"view","wgUserName":null,"wgRelevantPageName":"{title}"}};</script>
<meta name="generator" content="MediaWiki 1.39.3">
<meta name="format-detection" content="telephone=no">
{self._meta_tags(page)}
<link rel="edit" title="Edit this page" href="/mediawiki/index.php?title={quote(title)}&amp;action=edit">
<link rel="search" type="application/opensearchdescription+xml" href="/mediawiki/opensearch_desc.php" title="Acme Wiki (en)">
<link rel="canonical" href="{self.base}{self.mediawiki_url(page)}">
</head>
<body class="mediawiki ltr sitedir-ltr mw-hide-empty-elt ns-0 ns-subject page-{title.replace('/', '_')} skin-vector action-view">
<div id="mw-page-base" class="noprint"></div>
<div id="content" class="mw-body" role="main">
<a id="top"></a>
<div id="siteNotice"></div>
<div class="mw-indicators"></div>
<h1 id="firstHeading" class="firstHeading mw-first-heading"><span class="mw-page-title-main">{html.escape(page.title)}</span></h1>
<div id="bodyContent" class="vector-body">
<div id="siteSub" class="noprint">From Acme Wiki</div>
<div id="contentSub"></div>
<div id="jump-to-nav"></div>
<a class="mw-jump-link" href="#mw-head">Jump to navigation</a>
<a class="mw-jump-link" href="#searchInput">Jump to search</a>
<div id="mw-content-text" class="mw-body-content mw-content-ltr" lang="en" dir="ltr"><div class="mw-parser-output">
{content}
<!--
NewPP limit report
Cached time: 20260618101500
CPU time usage: 0.012 seconds
-->
</div></div>
<div class="printfooter" data-nosnippet="">Retrieved from "<a dir="ltr" href="{self.base}/mediawiki/index.php?title={quote(title)}&amp;oldid={rev}">{self.base}/mediawiki/index.php?title={quote(title)}&amp;oldid={rev}</a>"</div>
<div id="catlinks" class="catlinks" data-mw="interface"><div id="mw-normal-catlinks" class="mw-normal-catlinks"><a href="/mediawiki/wiki/Special:Categories" title="Special:Categories">Category</a>: <ul><li><a href="/mediawiki/wiki/Category:Runbooks" title="Category:Runbooks">Runbooks</a></li></ul></div></div>
</div>
</div>
<div id="mw-navigation">
<h2>Navigation menu</h2>
<div id="mw-head">
<nav id="p-personal" class="vector-menu" aria-labelledby="p-personal-label" role="navigation"><ul>
<li id="pt-login"><a href="/mediawiki/index.php?title=Special:UserLogin&amp;returnto={quote(title)}" title="You are encouraged to log in">Log in</a></li></ul></nav>
<nav id="p-views" class="vector-menu" role="navigation"><ul>
<li id="ca-view" class="selected"><a href="{self.mediawiki_url(page)}">Read</a></li>
<li id="ca-edit"><a href="/mediawiki/index.php?title={quote(title)}&amp;action=edit" title="Edit this page">Edit</a></li>
<li id="ca-history"><a href="/mediawiki/index.php?title={quote(title)}&amp;action=history" title="Past revisions">View history</a></li></ul></nav>
</div>
<div id="mw-panel">
<nav id="p-navigation" class="vector-menu" role="navigation"><ul>
<li id="n-mainpage-description"><a href="/mediawiki/wiki/Main_Page" title="Visit the main page">Main page</a></li>
<li id="n-recentchanges"><a href="/mediawiki/wiki/Special:RecentChanges" title="A list of recent changes">Recent changes</a></li>
<li id="n-randompage"><a href="/mediawiki/wiki/Special:Random" title="Load a random page">Random page</a></li>
<li id="n-help-mediawiki"><a href="https://www.mediawiki.org/wiki/Special:MyLanguage/Help:Contents">Help about MediaWiki</a></li></ul></nav>
<nav id="p-tb" class="vector-menu" role="navigation"><ul>
<li id="t-whatlinkshere"><a href="/mediawiki/wiki/Special:WhatLinksHere/{quote(title)}">What links here</a></li>
<li id="t-permalink"><a href="/mediawiki/index.php?title={quote(title)}&amp;oldid={rev}" title="Permanent link to this revision of this page">Permanent link</a></li>
<li id="t-info"><a href="/mediawiki/index.php?title={quote(title)}&amp;action=info">Page information</a></li></ul></nav>
</div>
</div>
<footer id="footer" class="mw-footer" role="contentinfo">
<ul id="footer-info">
<li id="footer-info-lastmod"> This page was last edited on {lastmod}.</li>
<li id="footer-info-credits">This page was last edited by <a href="/mediawiki/wiki/User:{user}" title="User:{user}">{html.escape(page.author)}</a>.</li>
</ul>
<ul id="footer-places">
<li id="footer-places-privacy"><a href="/mediawiki/wiki/Acme_Wiki:Privacy_policy" title="Acme Wiki:Privacy policy">Privacy policy</a></li>
<li id="footer-places-about"><a href="/mediawiki/wiki/Acme_Wiki:About" title="Acme Wiki:About">About Acme Wiki</a></li>
</ul>
</footer>
</body>
</html>
"""

    # ------------------------------------------------------------------ MkDocs Material 9

    def mkdocs_url(self, page: WikiPage) -> str:
        return f"/mkdocs/{mkdocs_dir(page)}"

    def mkdocs(self, page: WikiPage) -> str:
        here = self.mkdocs_url(page)

        def rel(p: WikiPage) -> str:  # MkDocs writes relative links
            r = posixpath.relpath(self.mkdocs_url(p), here) if self.mkdocs_url(p) != here else "."
            return r if r.endswith("/") or r == "." else r + "/"

        content = self._links(page, page.html(), lambda p: rel(p) if p.title else self.mkdocs_url(p))
        heads: list[tuple[str, str]] = []

        def head(m: re.Match[str]) -> str:
            hid = slugify(html.unescape(re.sub(r"<[^>]+>", "", m.group(2))))
            if m.group(1) != "1":
                heads.append((hid, m.group(2)))
            return (f'<h{m.group(1)} id="{hid}">{m.group(2)}<a class="headerlink" href="#{hid}" '
                    f'title="Permanent link">&para;</a></h{m.group(1)}>')

        content = re.sub(r"<h([1-6])>(.*?)</h\1>", head, content)
        content = re.sub(r'<pre><code(?: class="language-(\w+)")?>(.*?)</code></pre>',
                         lambda m: (f'<div class="language-{m.group(1) or "text"} highlight"><pre><span></span>'
                                    f"<code>{m.group(2)}</code></pre></div>"), content, flags=re.S)
        if page.rel == "index.md":  # a second URL of a page: the directory index file
            content += '<p>Also see <a href="platform/pgbouncer/index.html">the PgBouncer page</a>.</p>\n'
        nav = "".join(f'<li class="md-nav__item"><a href="{rel(p)}" class="md-nav__link">{html.escape(p.title)}</a></li>'
                      for p in self.live())
        toc = "".join(f'<li class="md-nav__item"><a href="#{h}" class="md-nav__link">{t}</a></li>' for h, t in heads)
        assets = posixpath.relpath("/mkdocs/assets/", here) + "/"
        return f"""<!doctype html>
<html lang="en" class="no-js">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="description" content="Acme Retail runbooks">
<link href="{self.base}{here}" rel="canonical">
<link rel="icon" href="{assets}images/favicon.png">
<meta name="generator" content="mkdocs-1.5.3, mkdocs-material-9.5.3">
{self._meta_tags(page)}
<title>{html.escape(page.title)} - Acme Runbooks</title>
<link rel="stylesheet" href="{assets}stylesheets/main.50c56a3b.min.css">
</head>
<body dir="ltr" data-md-color-scheme="default" data-md-color-primary="indigo">
<input class="md-toggle" data-md-toggle="drawer" type="checkbox" id="__drawer" autocomplete="off">
<label class="md-overlay" for="__drawer"></label>
<div data-md-component="skip"><a href="#overview" class="md-skip">Skip to content</a></div>
<header class="md-header md-header--shadow" data-md-component="header">
 <nav class="md-header__inner md-grid" aria-label="Header">
  <a href="{rel(self.pages['index.md']) if 'index.md' in self.pages else '/mkdocs/'}" title="Acme Runbooks" class="md-header__button md-logo" aria-label="Acme Runbooks">Acme</a>
  <div class="md-header__title"><span class="md-ellipsis">Acme Runbooks</span></div>
  <div class="md-search" data-md-component="search" role="dialog"><form class="md-search__form" name="search"><input type="text" class="md-search__input" name="query" placeholder="Search"></form></div>
  <div class="md-header__source"><a href="https://git.acme.internal/sre/runbooks" title="Go to repository" class="md-source">sre/runbooks</a></div>
 </nav>
</header>
<div class="md-container" data-md-component="container">
<main class="md-main" data-md-component="main">
<div class="md-main__inner md-grid">
 <div class="md-sidebar md-sidebar--primary" data-md-component="sidebar" data-md-type="navigation"><div class="md-sidebar__scrollwrap"><div class="md-sidebar__inner">
  <nav class="md-nav md-nav--primary" aria-label="Navigation" data-md-level="0"><label class="md-nav__title" for="__drawer">Acme Runbooks</label><ul class="md-nav__list">{nav}</ul></nav>
 </div></div></div>
 <div class="md-sidebar md-sidebar--secondary" data-md-component="sidebar" data-md-type="toc"><div class="md-sidebar__scrollwrap"><div class="md-sidebar__inner">
  <nav class="md-nav md-nav--secondary" aria-label="Table of contents"><label class="md-nav__title" for="__toc">Table of contents</label><ul class="md-nav__list">{toc}</ul></nav>
 </div></div></div>
 <div class="md-content" data-md-component="content">
  <article class="md-content__inner md-typeset">
<a href="https://git.acme.internal/sre/runbooks/edit/main/docs/{page.rel}" title="Edit this page" class="md-content__button md-icon">Edit this page</a>
{content}
<aside class="md-source-file">
 <span class="md-source-file__fact"><span class="md-icon" title="Last update">&#9998;</span>
  <span class="git-revision-date-localized-plugin git-revision-date-localized-plugin-timeago"><span class="timeago" datetime="{page.updated.isoformat()}" locale="en"></span></span></span>
 <span class="md-source-file__fact"><span class="md-icon" title="Created">&#9733;</span>
  <span class="git-revision-date-localized-plugin git-revision-date-localized-plugin-date">May 2, 2021</span></span>
 <span class="md-source-file__fact md-source-file__fact--author"><span class="git-page-authors git-authors"><a href="mailto:{page.author.split()[0].lower()}@example.com">{html.escape(page.author)}</a></span></span>
</aside>
  </article>
 </div>
</div>
</main>
<footer class="md-footer">
 <nav class="md-footer__inner md-grid" aria-label="Footer"><a href="{rel(self.pages['index.md']) if 'index.md' in self.pages else '/mkdocs/'}" class="md-footer__link md-footer__link--prev" aria-label="Previous: Home">Previous Home</a></nav>
 <div class="md-footer-meta md-typeset"><div class="md-footer-meta__inner md-grid"><div class="md-copyright">Made with <a href="https://squidfunk.github.io/mkdocs-material/" target="_blank" rel="noopener">Material for MkDocs</a></div></div></div>
</footer>
</div>
<script src="{assets}javascripts/bundle.d7c377c4.min.js"></script>
</body>
</html>
"""

    def mkdocs_sitemap(self) -> str:
        urls = "".join(f"<url><loc>{self.base}{self.mkdocs_url(p)}</loc><lastmod>{p.updated.date().isoformat()}</lastmod>"
                       f"<changefreq>daily</changefreq></url>" for p in self.live())
        urls += f"<url><loc>{self.base}/mkdocs/only-in-sitemap/</loc></url>"
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"{urls}</urlset>\n")

    def only_in_sitemap(self) -> str:
        return ('<!doctype html><html><head><meta name="generator" content="mkdocs-1.5.3, mkdocs-material-9.5.3">'
                "<title>Orphan - Acme Runbooks</title></head><body><div class=\"md-content\"><article class=\"md-content__inner"
                ' md-typeset"><h1 id="orphan">Orphan page</h1><p>Reachable from the sitemap only: no page links here.</p>'
                "</article></div></body></html>")

    # ------------------------------------------------------------------ /lab/

    LAB = {
        "plain": "A plain page, only a Last-Modified header",
        "meta": "A page with a generic modified-time meta tag",
        "docusaurus": "A Docusaurus page",
        "slow": "A slow page",
        "huge": "A huge page",
        "away": "Moved to another host",
        "ftp": "Moved to an FTP server",
        "loop-a": "A redirect loop",
        "old-plain": "The plain page under its old name",
        "missing": "A page that never existed",
        "download": "A download without an extension",
        "manual.pdf": "The PDF manual",
    }

    def lab_index(self) -> str:
        items = "".join(f'<li><a href="/lab/{k}">{html.escape(v)}</a></li>' for k, v in self.LAB.items())
        return f"""<!DOCTYPE html>
<html><head><title>Lab index</title></head>
<body>
<div id="top-bar"><a href="/">Intranet</a> | <a href="/lab/">Lab</a></div>
<div class="layout-with-sidebar">
<div class="sidebar"><ul><li><a href="/lab/plain">Plain</a></li><li><a href="/lab/meta">Meta</a></li></ul></div>
<div class="entry">
<h1>Lab</h1>
<p>Every awkward case a real site has, one link each, so that the crawler meets all of them in one crawl.</p>
<ul>{items}</ul>
</div>
</div>
<div class="site-footer">Intranet, all rights reserved, 2026</div>
</body></html>
"""

    def lab_plain(self) -> str:
        return """<!DOCTYPE html>
<html><head><title>Rotate the TLS certificates | Intranet</title></head>
<body>
<div id="wrapper">
<div class="topmenu"><a href="/lab/">Lab home</a> <a href="/lab/meta">Meta page</a> <a href="/lab/plain">Plain page</a></div>
<div class="left-sidebar"><h3>Pages</h3><ul><li><a href="/lab/">Lab</a></li><li><a href="/lab/meta">Meta</a></li></ul></div>
<div class="post">
<h1>Rotate the TLS certificates</h1>
<p>Certificates for the public load balancers expire every ninety days, and cert-manager renews them thirty days before expiry, so nobody should ever have to do this by hand.</p>
<h2>Manual rotation</h2>
<p>If cert-manager is down, request a certificate from the internal CA, store it in Vault under secret/tls/lb, and restart the ingress controller, which reloads the secret on start.</p>
<pre><code>vault kv put secret/tls/lb cert=@lb.crt key=@lb.key
kubectl -n ingress rollout restart deploy/ingress-nginx</code></pre>
<p>Check the new expiry date with openssl, and post it in the on-call channel, so that the next person knows.</p>
</div>
<div class="share-buttons"><a href="/share?u=plain">Share</a> <a href="/print?u=plain">Print</a></div>
</div>
<div class="site-footer"><p>Intranet, all rights reserved, 2026. <a href="/lab/">Lab</a></p></div>
</body></html>
"""

    def lab_meta(self) -> str:
        return """<!DOCTYPE html>
<html><head><title>Flush the CDN</title>
<meta property="article:modified_time" content="2023-05-20T08:30:00+00:00">
<meta name="author" content="Carol Cache">
</head>
<body>
<nav><a href="/lab/">Lab</a></nav>
<main>
<h1>Flush the CDN</h1>
<p>Purge by surrogate key, never the whole zone: a full purge sends every request to the origin at once.</p>
<h2>Purge one key</h2>
<pre><code>fastly purge --key product-123</code></pre>
</main>
<footer>Intranet</footer>
</body></html>
"""

    def lab_docusaurus(self) -> str:
        return """<!doctype html>
<html lang="en" dir="ltr" class="docs-wrapper plugin-docs docs-doc-page">
<head>
<meta charset="UTF-8">
<meta name="generator" content="Docusaurus v3.1.0">
<title data-rh="true">Drain a Kafka broker | Acme Docs</title>
<meta data-rh="true" name="docusaurus_version" content="current">
<link data-rh="true" rel="canonical" href="/lab/docusaurus">
</head>
<body class="navigation-with-keyboard">
<div id="__docusaurus">
<div role="region" aria-label="Skip to main content"><a class="skipToContent_fXgn" href="#__docusaurus_skipToContent_fallback">Skip to main content</a></div>
<nav aria-label="Main" class="navbar navbar--fixed-top"><div class="navbar__inner"><a class="navbar__brand" href="/lab/">Acme Docs</a><a class="navbar__item navbar__link" href="/lab/plain">Plain</a></div></nav>
<div class="main-wrapper docsWrapper_hBAB">
<div class="docRoot_UBD9">
<aside class="theme-doc-sidebar-container"><nav aria-label="Docs sidebar" class="menu thin-scrollbar"><ul class="theme-doc-sidebar-menu menu__list"><li class="menu__list-item"><a class="menu__link" href="/lab/meta">Flush the CDN</a></li></ul></nav></aside>
<main class="docMainContainer_TBSr">
<div class="container padding-top--md padding-bottom--lg"><div class="row"><div class="col docItemCol_VOVn">
<div class="docItemContainer_Djhp"><article>
<nav class="theme-doc-breadcrumbs breadcrumbsContainer_Z_bl" aria-label="Breadcrumbs"><ul class="breadcrumbs"><li class="breadcrumbs__item"><a class="breadcrumbs__link" href="/lab/">Docs</a></li><li class="breadcrumbs__item breadcrumbs__item--active"><span class="breadcrumbs__link">Kafka</span></li></ul></nav>
<span class="theme-doc-version-badge badge badge--secondary">Version: Next</span>
<div class="tocCollapsible_ETCw theme-doc-toc-mobile tocMobile_ITEo"><button type="button" class="clean-btn tocCollapsibleButton_TO0P">On this page</button></div>
<div class="theme-doc-markdown markdown">
<header><h1>Drain a Kafka broker</h1></header>
<p>Move the partition leaders off the broker before you stop it, or producers see errors for up to a minute.</p>
<h2 class="anchor anchorWithStickyNavbar_LWe7" id="drain">Drain<a href="#drain" class="hash-link" aria-label="Direct link to Drain" title="Direct link to Drain">&#8203;</a></h2>
<div class="language-bash codeBlockContainer_Ckt0 theme-code-block"><div class="codeBlockContent_biex"><pre tabindex="0" class="prism-code language-bash codeBlock_bY9V"><code class="codeBlockLines_e6Vv"><span class="token-line">kafka-leader-election --election-type preferred --all-topic-partitions</span></code></pre><div class="buttonGroup__atx"><button type="button" aria-label="Copy code to clipboard" title="Copy" class="clean-btn">Copy</button></div></div></div>
</div>
<footer class="theme-doc-footer docusaurus-mt-lg"><div class="theme-doc-footer-edit-meta-row row"><div class="col"><a href="https://git.acme.internal/docs/edit/main/kafka/drain.md" target="_blank" rel="noopener noreferrer" class="theme-edit-this-page">Edit this page</a></div>
<div class="col lastUpdated_vwxv"><span class="theme-last-updated">Last updated<!-- --> on <b><time datetime="2024-03-02T16:45:00.000Z" itemprop="dateModified">Mar 2, 2024</time></b> by <b>Dana Docs</b></span></div></div></footer>
</article>
<nav class="pagination-nav docusaurus-mt-lg" aria-label="Docs pages"><a class="pagination-nav__link pagination-nav__link--next" href="/lab/meta"><div class="pagination-nav__sublabel">Next</div><div class="pagination-nav__label">Flush the CDN</div></a></nav>
</div></div>
<div class="col col--3"><div class="tableOfContents_bqdL thin-scrollbar theme-doc-toc-desktop"><ul class="table-of-contents table-of-contents__left-border"><li><a href="#drain" class="table-of-contents__link toc-highlight">Drain</a></li></ul></div></div>
</div></div>
</main>
</div>
</div>
<footer class="footer footer--dark"><div class="container container-fluid"><div class="footer__copyright">Copyright 2026 Acme</div></div></footer>
</div>
</body>
</html>
"""


# --------------------------------------------------------------------------- the server


@dataclass
class Response:
    status: int
    body: bytes = b""
    ctype: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    stream: int = 0  # bytes to stream without a Content-Length (the huge page)
    sleep: float = 0.0


class WikiServer:
    """ThreadingHTTPServer on 127.0.0.1:0 in a thread, serving a WikiSite. Use as a context manager."""

    def __init__(self, site: WikiSite | None = None):
        self.site = site or WikiSite()
        self.counts: Counter[tuple[str, int]] = Counter()  # (path?query, status) -> responses
        self.requests: list[dict[str, object]] = []  # every request: path, status, headers, start, end
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.serve(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a crawler closing a keep-alive connection, or giving up on a slow page

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.site.base = self.base
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "WikiServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    # ------------------------------------------------------------------ counting

    def ok(self, prefix: str = "/") -> int:
        """How many 200 responses were sent for paths under `prefix`."""
        with self.lock:
            return sum(n for (p, s), n in self.counts.items() if s == 200 and p.startswith(prefix))

    def hits(self, prefix: str) -> int:
        with self.lock:
            return sum(n for (p, _), n in self.counts.items() if p.startswith(prefix))

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.requests.clear()
            self.max_inflight = 0

    # ------------------------------------------------------------------ serving

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        start = time.monotonic()
        r = Response(500)
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if self.site.delay:
                self.stopping.wait(self.site.delay)
            auth = h.headers.get("Authorization")
            if self.site.require_auth and auth != self.site.require_auth:
                r = Response(401, b"<h1>Log in</h1>", headers={"WWW-Authenticate": 'Basic realm="wiki"'})
            else:
                with self.site.lock:
                    r = self.route(h.path, h.headers.get("Host", ""))
                sleep = r.sleep  # a slow page is slow to answer a conditional request too
                r = self._conditional(h, r)
                r.sleep = sleep
            if r.sleep:
                self.stopping.wait(r.sleep)
            self._send(h, r)
        finally:
            with self.lock:
                self.inflight -= 1
                self.counts[(h.path, r.status)] += 1
                self.requests.append({"path": h.path, "status": r.status, "auth": h.headers.get("Authorization"),
                                      "inm": h.headers.get("If-None-Match"), "ims": h.headers.get("If-Modified-Since"),
                                      "start": start, "end": time.monotonic()})

    def _conditional(self, h: BaseHTTPRequestHandler, r: Response) -> Response:
        if r.status != 200:
            return r
        etag, lm = r.headers.get("ETag"), r.headers.get("Last-Modified")
        inm, ims = h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")
        if etag and inm:
            if etag in [t.strip() for t in inm.split(",")]:
                return Response(304, headers={"ETag": etag, **({"Last-Modified": lm} if lm else {})})
            return r
        if lm and ims:
            try:
                if parsedate_to_datetime(lm) <= parsedate_to_datetime(ims):
                    return Response(304, headers={"Last-Modified": lm})
            except (TypeError, ValueError):
                pass
        return r

    def _send(self, h: BaseHTTPRequestHandler, r: Response) -> None:
        try:
            h.send_response(r.status)
            body = r.body
            if r.status == 200 and "gzip" in (h.headers.get("Accept-Encoding") or "") and r.headers.pop("X-Gzip", None):
                body = gzip.compress(body)
                h.send_header("Content-Encoding", "gzip")
            r.headers.pop("X-Gzip", None)
            for k, v in r.headers.items():
                h.send_header(k, v)
            if r.status != 304:
                h.send_header("Content-Type", r.ctype)
            if r.stream:
                h.send_header("Connection", "close")
                h.close_connection = True
                h.end_headers()
                chunk = b"<p>" + b"x" * 65530 + b"</p>\n"
                sent = 0
                while sent < r.stream and not self.stopping.is_set():
                    h.wfile.write(chunk)
                    sent += len(chunk)
                return
            if r.status != 304:
                h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if r.status != 304:
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the crawler gave up on this one (too big, too slow)

    def route(self, raw: str, host: str) -> Response:
        site = self.site
        parts = urlsplit(raw)
        path, query = parts.path, parse_qs(parts.query)
        if not host.startswith("127.0.0.1"):  # the "other host" of the redirect tests: must never be reached
            return Response(200, b"<h1>secret</h1>")
        if path.startswith("/confluence/display/OPS/"):
            slug = path[len("/confluence/display/OPS/"):]
            page = next((p for p in site.pages.values() if quote(confluence_slug(p)) == slug), None)
            if page is None:
                return self._moved(site.moved_from(lambda p: quote(confluence_slug(p)) == slug),
                                   site.confluence_url, site.confluence)
            return self._page(page, site.confluence)
        if path == "/confluence/pages/viewpage.action":
            pid = int(query.get("pageId", ["0"])[0])
            page = next((p for p in site.pages.values() if site.page_id(p) == pid), None)
            if page is None:
                return Response(404, b"<h1>Page not found</h1>")
            return Response(302, headers={"Location": f"{site.base}{site.confluence_url(page)}"})
        if path.startswith("/mediawiki/wiki/"):
            title = path[len("/mediawiki/wiki/"):]
            page = next((p for p in site.pages.values() if quote(mediawiki_title(p)) == title), None)
            if page is None:
                return self._moved(site.moved_from(lambda p: quote(mediawiki_title(p)) == title),
                                   site.mediawiki_url, site.mediawiki, etag=False, gzip_=True)
            return self._page(page, site.mediawiki, etag=False, gzip_=True)
        if path == "/mkdocs/sitemap.xml":
            body = site.mkdocs_sitemap().encode()
            return Response(200, body, "application/xml", {"ETag": _etag(body)})
        if path == "/mkdocs/only-in-sitemap/":
            body = site.only_in_sitemap().encode()
            return Response(200, body, headers={"ETag": _etag(body)})
        if path.startswith("/mkdocs/"):
            d = path[len("/mkdocs/"):]
            if d.endswith("index.html"):
                d = d[: -len("index.html")]
            page = next((p for p in site.pages.values() if quote(mkdocs_dir(p)) == d), None)
            if page is None:
                return self._moved(site.moved_from(lambda p: quote(mkdocs_dir(p)) == d), site.mkdocs_url, site.mkdocs)
            return self._page(page, site.mkdocs)
        if path.startswith("/lab/"):
            return self._lab(path[len("/lab/"):])
        return Response(404, b"<h1>Not found</h1>")

    def _page(self, page: WikiPage | None, render, *, etag: bool = True, gzip_: bool = False) -> Response:  # type: ignore[no-untyped-def]
        if page is None:
            return Response(404, b"<h1>Not found</h1>")
        if page.status != 200:
            return Response(page.status, b"<h1>Gone</h1>")
        body = render(page).encode("utf-8")
        sleep = self.site.slow_seconds if page.rel in self.site.slow_pages else 0.0
        headers = {"Last-Modified": formatdate(page.updated.timestamp(), usegmt=True),
                   "Cache-Control": "private, must-revalidate, max-age=0"}
        if etag:
            headers["ETag"] = _etag(body)
        if gzip_:
            headers["X-Gzip"] = "1"
        return Response(200, body, headers=headers, sleep=sleep)

    def _moved(self, moved, url_of, render, **opts) -> Response:  # type: ignore[no-untyped-def]
        """An old URL of a page that moved: a redirect to its new URL, the page itself (its canonical link
        names the new URL), or 404."""
        if moved is None:
            return Response(404, b"<h1>Not found</h1>")
        page, how, status = moved
        if how == "redirect" and page.status == 200:
            return Response(status, b"<p>Moved</p>", headers={"Location": f"{self.site.base}{url_of(page)}"})
        if how == "alias":
            return self._page(page, render, **opts)
        return Response(404, b"<h1>Not found</h1>")

    def _lab(self, name: str) -> Response:
        site = self.site
        lm = {"Last-Modified": "Tue, 02 Jan 2024 09:00:00 GMT"}
        if name == "":
            return Response(200, site.lab_index().encode())
        if name == "plain":
            return Response(200, site.lab_plain().encode(), headers=dict(lm))
        if name == "meta":
            return Response(200, site.lab_meta().encode())
        if name == "docusaurus":
            return Response(200, site.lab_docusaurus().encode(), headers=dict(lm))
        if name == "slow":
            return Response(200, b"<h1>Slow</h1><p>Finally.</p>", sleep=site.slow_seconds)
        if name == "huge":
            return Response(200, stream=3_000_000)
        if name == "away":
            return Response(302, headers={"Location": f"http://localhost:{self.port}/secret/page"})
        if name == "ftp":
            return Response(301, headers={"Location": "ftp://files.acme.internal/runbooks/"})
        if name in ("loop-a", "loop-b"):
            return Response(302, headers={"Location": "/lab/loop-b" if name == "loop-a" else "/lab/loop-a"})
        if name == "old-plain":
            return Response(301, headers={"Location": "/lab/plain"})
        if name.startswith("chain-"):  # chain-N: N redirects, then the plain page
            n = int(name[len("chain-"):])
            return Response(302, headers={"Location": f"/lab/chain-{n - 1}" if n > 1 else "/lab/plain"})
        if name == "download":
            return Response(200, b"\x00\x01binary" * 100, "application/octet-stream")
        return Response(404, b"<h1>Not found</h1>")


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


# --------------------------------------------------------------------------- a hostile server


class DribbleServer:
    """A raw socket server on 127.0.0.1:0 (issue 11, point 10): `/` links to `/ok-1`, `/ok-2` and `/drip`;
    the ok pages answer at once, `/drip` sends its answer one byte every `interval` seconds for
    `seconds` in all, at the place `where` says: "status" (the status line), "headers" (a header
    line), or "chunked" (a chunk-size line of a chunked body). A socket timeout bounds each recv() only,
    so only a deadline on the whole request stops it early. Use as a context manager."""

    PAGES = {"/ok-1": "Alpha page", "/ok-2": "Bravo page"}

    def __init__(self, where: str, *, interval: float = 0.5, seconds: float = 60.0):
        assert where in ("status", "headers", "chunked"), where
        self.where, self.interval, self.seconds = where, interval, seconds
        self.stopping = threading.Event()
        self.drip_started = threading.Event()
        self.dripped = 0  # bytes sent by the dripping answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "DribbleServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.sock.close()

    def url(self, path: str) -> str:
        return self.base + path

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
                path = request.split(b" ", 2)[1].decode("ascii", "replace")
                if path == "/drip":
                    self._drip(conn)
                else:
                    conn.sendall(self._page(path))
            except OSError:
                return  # the crawler gave up on this connection

    def _page(self, path: str) -> bytes:
        if path == "/":
            links = "".join(f'<li><a href="{p}">{t}</a></li>' for p, t in [*self.PAGES.items(), ("/drip", "Drip")])
            body = f"<html><body><main><h1>Home</h1><ul>{links}</ul></main></body></html>"
        elif path in self.PAGES:
            title = self.PAGES[path]
            body = f"<html><body><main><h1>{title}</h1><p>{title} text, served at once.</p></main></body></html>"
        else:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        raw = body.encode()
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                b"Content-Length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw)

    def _drip(self, conn: socket.socket) -> None:
        head, slow = {
            "status": (b"", b"HTTP/1.1 200 OK" + b" " * 10_000),
            "headers": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", b"X-Drip: " + b"a" * 10_000),
            "chunked": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
                        b"0" * 10_000),
        }[self.where]
        conn.sendall(head)
        self.drip_started.set()
        end = time.monotonic() + self.seconds
        for byte in slow:
            if time.monotonic() >= end or self.stopping.wait(self.interval):
                break
            conn.sendall(bytes([byte]))
            self.dripped += 1


# --------------------------------------------------------------------------- a static file server


class FileSite:
    """Files as a static server (a docs folder behind nginx, raw.githubusercontent.com) serves them:
    URL path -> (body, Content-Type; "" sends an empty one), with an ETag and a Last-Modified header, and
    304 to a conditional request that matches (issue 12). Mutable: edit() between crawls."""

    def __init__(self, files: dict[str, tuple[str | bytes, str]], when: dt.datetime = DEFAULT_DATE):
        self.files = {p: (b.encode() if isinstance(b, str) else b, ctype) for p, (b, ctype) in files.items()}
        self.updated = {p: when for p in self.files}
        self.base = ""  # set by the server
        self.delay = 0.0
        self.require_auth: str | None = None
        self.lock = threading.Lock()

    def edit(self, path: str, body: str | bytes, when: dt.datetime) -> None:
        with self.lock:
            self.files[path] = (body.encode() if isinstance(body, str) else body, self.files[path][1])
            self.updated[path] = when


class FileServer(WikiServer):
    """WikiServer (counting, conditional answers) over a FileSite."""

    site: FileSite  # type: ignore[assignment]

    def __init__(self, site: FileSite):
        super().__init__(site)  # type: ignore[arg-type]

    def route(self, raw: str, host: str) -> Response:
        path = urlsplit(raw).path
        if path not in self.site.files:
            return Response(404, b"Not found", "text/plain")
        body, ctype = self.site.files[path]
        return Response(200, body, ctype, {"ETag": _etag(body),
                                           "Last-Modified": formatdate(self.site.updated[path].timestamp(), usegmt=True)})
