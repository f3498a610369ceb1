"""One scan of a site: a frontier of URLs, a pool of fetchers, sitemaps, and the pages that changed address."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit, urlunsplit

from ...dates import now_iso
from ...errors import SourceNotFound
from ...model import Document
from ..base import Candidate, ScanResult
from ..engines.page import with_canonical
from .client import _Failed, _mb
from .pages import _fingerprint, _Kept, _kept, _Visit
from .scope import document_path, normalise_url, not_a_page

if TYPE_CHECKING:
    from .source import HttpSource

MAX_SITEMAPS = 50
SITEMAP_MAX = 50_000_000  # the sitemap protocol's own limit
MAX_MOVE_PAIRS = 20_000  # (gone page, new page) pairs compared for "the same page at a new URL", at most


def _sitemap_urls(body: bytes, limit: int = SITEMAP_MAX) -> tuple[list[str], list[str]]:
    """(page URLs, sitemap URLs) of a sitemap or sitemap index, gzipped (sitemap.xml.gz) or not."""
    if body[:2] == b"\x1f\x8b":
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        body = dec.decompress(body, limit + 1)
        if len(body) > limit:
            raise _Failed(f"skipped, the sitemap is over {_mb(limit)} uncompressed")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise _Failed(f"not a valid sitemap ({e})") from None
    locs = [(el.text or "").strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc"]
    locs = [u for u in locs if u]
    return ([], locs) if root.tag.rsplit("}", 1)[-1] == "sitemapindex" else (locs, [])


# --------------------------------------------------------------------------- the crawl


class _Crawl:
    """One scan of a site: a frontier of URLs, a pool of fetchers, candidates in the order pages answer."""

    def __init__(self, src: HttpSource, known: dict[str, dict[str, Any]]):
        self.src = src
        self.scope = src.scope
        self.known = known
        self.cache: dict[str, dict[str, Any]] = {}
        self.result = ScanResult(cache=self.cache)
        self.frontier: deque[tuple[str, str | None]] = deque()
        self.queued: set[str] = set()
        self.answered: set[str] = set()  # URLs with a final answer this crawl: page, 304, gone, not HTML
        self.resolved: set[str] = set()  # URLs that led to a page or a non-page file: no need to ask again
        self.paths: dict[str, str] = {}  # document path -> URL, one candidate per page
        self.links: dict[str, list[str]] = {}  # URL of a page -> the in-scope links on it
        self.attempts = 0
        self.now = now_iso()
        # pages that changed address: (old path, new path) from a redirect or a canonical link of a known URL;
        # known pages that are gone (path -> their last cache row), and pages new this crawl, to pair a gone
        # page with the same page at a new URL
        self.known_paths = {r["path"] for r in known.values() if r.get("kind") == "page" and r.get("path")}
        self.moved: set[tuple[str, str]] = set()
        self.gone: dict[str, dict[str, Any]] = {}
        self.fresh: dict[str, _Kept] = {}

    def run(self) -> None:
        start = self.src.start
        self.queued.add(start)
        self.attempts += 1
        v = self.src.visit(start, self.known)
        if v.outcome not in ("page", "unchanged"):
            raise SourceNotFound(f"{start}: {v.message or 'not an HTML page'}; check the start URL")
        self.handle(v, None)
        self.sitemaps()
        for url, row in self.known.items():  # every page the last crawl found is asked again (conditionally)
            if row.get("kind") == "page":
                self.enqueue(url, None)
        pool = ThreadPoolExecutor(max_workers=self.src.concurrency, thread_name_prefix="wikicheck-http")
        try:
            inflight: dict[Future[_Visit], str | None] = {}
            while True:
                while self.frontier and len(inflight) < self.src.concurrency and self.attempts < self.src.max_pages:
                    url, ref = self.frontier.popleft()
                    self.attempts += 1
                    inflight[pool.submit(self.src.visit, url, self.known)] = ref
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    ref = inflight.pop(fut)
                    self.handle(fut.result(), ref)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C waits for the requests in flight only
        self.finish()

    def enqueue(self, url: str, ref: str | None) -> None:
        if url not in self.queued and self.scope.allows(url) and not not_a_page(url):
            self.queued.add(url)
            self.frontier.append((url, ref))

    def warn(self, url: str, message: str) -> None:
        self.result.warnings.append((document_path(url), message))

    def handle(self, v: _Visit, ref: str | None) -> None:
        if v.outcome in ("page", "unchanged"):
            self.answered.update(v.hops)
            self.resolved.update(v.hops)
            if v.outcome == "page":
                assert v.page is not None and v.fingerprint is not None
                doc_url = v.final
                canonical = normalise_url(v.page.canonical) if v.page.canonical else None
                if canonical and self.scope.allows(canonical):
                    doc_url = canonical
                path = document_path(doc_url)
                links = list(dict.fromkeys(u for u in map(normalise_url, v.page.links) if u and self.scope.allows(u)))
                row: dict[str, Any] = {"kind": "page", "path": path, "doc_url": doc_url, "etag": v.etag,
                       "last_modified": v.last_modified, "fingerprint": v.fingerprint, "links": [],
                       "fetched_at": self.now}
                fp = v.fingerprint
            else:
                row = {**self.known[v.final], "etag": v.etag, "last_modified": v.last_modified,
                       "fetched_at": self.now}
                path, doc_url, fp = row["path"], row["doc_url"], row["fingerprint"]
                links = [u for u in row.get("links") or [] if self.scope.allows(u)]
            self.cache[v.final] = row
            self.links[v.final] = links
            for h in v.hops:  # a URL the last crawl knew as another page: that page moved here
                old = self.known.get(h)
                if old and old.get("kind") == "page" and old.get("path") and old["path"] != path:
                    self.moved.add((old["path"], path))
            # the canonical URL is this page: never fetched on its own
            self.queued.add(doc_url)
            self.answered.add(doc_url)
            self.resolved.add(doc_url)
            for u in links:
                self.enqueue(u, path)
            if path in self.paths:  # another URL of a page already found: one page, one document
                return
            self.paths[path] = doc_url
            if v.outcome == "page":  # the page is in hand: load() builds the document from it
                kept = _kept(v)
                load: Callable[[Callable[[str], None]], Document] = partial(
                    self.src._load_kept, path, doc_url, fp, kept)
                if self.known and path not in self.known_paths:
                    self.fresh[path] = kept
            else:  # a 304: load() is only called when the store does not hold the page live
                load = partial(self.src._load_again, path, doc_url, v.final, self.cache)
            self.result.candidates.append(Candidate(path, fp, load))
        elif v.outcome == "other":
            self.answered.update(v.hops)
            self.resolved.update(v.hops)
        elif v.outcome == "gone":
            self.answered.update(v.hops)
            for h in v.hops:
                old = self.known.get(h)
                if old and old.get("kind") == "page" and old.get("path") and old.get("fingerprint"):
                    self.gone.setdefault(old["path"], old)
            if not any(self.known.get(h, {}).get("kind") == "page" for h in v.hops):
                # a known page that is gone is reported as removed; a dead link gets a warning
                self.warn(v.url, f"{v.url}: {v.message}" + (f" (linked from {ref})" if ref else ""))
        else:
            self.result.failed += 1
            known = any(self.known.get(h, {}).get("kind") == "page" for h in v.hops)
            self.warn(v.url, f"{v.url}: {v.message}" + (f" (linked from {ref})" if ref else "")
                      + ("; the page keeps its last crawled version" if known else ""))

    def sitemaps(self) -> None:
        p = urlsplit(self.src.start)
        prefix = self.scope.rules[0].prefix
        todo = [urlunsplit((p.scheme, p.netloc, prefix + "sitemap.xml", "", ""))]
        seen: set[str] = set()
        while todo and len(seen) < MAX_SITEMAPS:
            url = todo.pop(0)
            if url in seen or not self.scope.allows(url):
                continue
            seen.add(url)
            v = self.src.visit(url, self.known, sitemap=True)
            row = None
            if v.outcome == "page":
                try:
                    pages, maps = _sitemap_urls(v.body)
                except (_Failed, OSError, EOFError, zlib.error) as e:
                    self.warn(url, f"{url}: {e}")
                    continue
                row = {"kind": "sitemapindex" if maps else "sitemap", "path": None, "doc_url": None, "etag": v.etag,
                       "last_modified": v.last_modified, "fingerprint": v.fingerprint, "links": maps or pages,
                       "fetched_at": self.now}
            elif v.outcome == "unchanged":
                row = {**self.known[v.final], "etag": v.etag, "last_modified": v.last_modified, "fetched_at": self.now}
            elif v.outcome == "failed":
                self.warn(url, f"{url}: {v.message}")
                row = self.known.get(url)
            if not row:
                continue
            self.cache[v.final] = row
            for u in row.get("links") or []:
                n = normalise_url(u)
                if not n:
                    continue
                if row["kind"] == "sitemapindex":
                    todo.append(n)
                else:
                    self.enqueue(n, "sitemap.xml")

    def finish(self) -> None:
        left = len(self.frontier)
        if left:
            self.warn(self.src.start, f"{self.src.start}: stopped after {self.src.max_pages} pages (--max-pages); "
                      f"{left} more URLs wait for the next crawl, and known pages not asked keep their last version")
        # pages the last crawl found that got no answer (failed, or not reached): keep them as they were
        for url, row in self.known.items():
            if (row.get("kind") != "page" or url in self.answered or url in self.cache or not self.scope.allows(url)
                    or not_a_page(url)):  # CODEOWNERS an older crawl took for a page: removed now
                continue
            self.cache[url] = row
            self.links.setdefault(url, row.get("links") or [])
            if row["path"] not in self.paths:
                self.paths[row["path"]] = row["doc_url"]
                self.result.candidates.append(Candidate(row["path"], row["fingerprint"], partial(
                    self.src._load_again, row["path"], row["doc_url"], url, self.cache)))
        # a page keeps the links that led nowhere yet (failed, gone, not reached), so that a re-crawl that
        # gets a 304 for it still tries them; links to pages are not kept, those pages are known anyway
        pages = set(self.cache)
        for url, links in self.links.items():
            if url in self.cache:
                self.cache[url]["links"] = [u for u in links if u not in self.resolved and u not in pages]
        # a page is renamed when none of its URLs answers with it any more, and only to a page new this crawl,
        # one to one: a redirect to a page the site had already (a merge, or a deleted page sent to the home
        # page) or of several pages to one (a login page) is a removal, and section history follows the text
        moved = _one_to_one({(old, new) for old, new in self.moved
                             if old not in self.paths and new not in self.known_paths})
        moved |= self.same_page_elsewhere({old for old, _ in moved}, {new for _, new in moved})
        self.result.renames = sorted(moved)

    def same_page_elsewhere(self, renamed: set[str], targets: set[str]) -> set[tuple[str, str]]:
        """(old path, new path) for each known page that is gone while exactly the same page, but for the
        canonical link that names its new URL, appeared at one new path this crawl, and no other page did."""
        gone = {p: row for p, row in self.gone.items() if p not in self.paths and p not in renamed}
        fresh = {p: kept for p, kept in self.fresh.items() if p not in targets}
        if not gone or not fresh or len(gone) * len(fresh) > MAX_MOVE_PAIRS:
            return set()  # a site reorganised without redirects: section history (wikicheck.history) still follows the text
        pairs: list[tuple[str, str]] = []
        for new, kept in fresh.items():
            html = zlib.decompress(kept.html_z).decode("utf-8")
            markdown = kept.kind == "markdown"  # served as is: no canonical link to tell apart
            bare = _fingerprint(html if markdown else with_canonical(html, None))
            for old, row in gone.items():
                # the page as it read at its old URL: with no canonical link, or one naming that URL
                if row["fingerprint"] == bare or not markdown and (
                        row["fingerprint"] == _fingerprint(with_canonical(html, row.get("doc_url")))):
                    pairs.append((old, new))
        return _one_to_one(set(pairs))


def _one_to_one(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The pairs whose old path and new path are each in no other pair."""
    olds, news = Counter(o for o, _ in pairs), Counter(n for _, n in pairs)
    return {(o, n) for o, n in pairs if olds[o] == 1 and news[n] == 1}
