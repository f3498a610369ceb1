"""HttpSource: an internal wiki site over HTTP; one URL fetched, and pages made into documents."""

from __future__ import annotations

import hashlib
import socket
import zlib
from typing import Any, Callable, Iterator
from urllib.parse import urljoin, urlsplit

from ...dates import parse_date
from ...errors import SourceNotFound, WikicheckError
from ...model import Document, Provenance
from ...parse.frontmatter import split_front_matter
from ...parse.html import html_metadata
from ..base import DEFAULT_MAX_BYTES, HistoryEvent, ScanResult, SkipFile
from ..engines.page import extract
from .client import Client, _Failed
from .crawler import SITEMAP_MAX, _Crawl
from .pages import (
    HTML_TYPES,
    _decode,
    _fingerprint,
    _Kept,
    _kept,
    _looks_like_html,
    _markdown_page,
    _page_kind,
    _Visit,
)
from .scope import CREDENTIAL_HINT, Scope, _host_port, normalise_url, not_a_page

REDIRECTS = (301, 302, 303, 307, 308)


# --------------------------------------------------------------------------- the source


class HttpSource:
    kind = "http"

    def __init__(self, url: str, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 allow_hosts: list[str] | tuple[str, ...] = (), max_pages: int = 10_000, concurrency: int = 4,
                 rate: float = 5.0, timeout: float = 20.0, max_redirects: int = 5):
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https"):
            raise SourceNotFound(f"{url}: only http and https URLs can be crawled")
        if "@" in parts.netloc:
            raise SourceNotFound(f"{parts.scheme}://{parts.hostname}{parts.path}: credentials in the URL are not "
                                 f"accepted (they would end up in the index); {CREDENTIAL_HINT}")
        start = normalise_url(url)
        if start is None:
            raise SourceNotFound(f"{url}: not a valid http(s) URL")
        for opt, v in (("max-pages", max_pages), ("concurrency", concurrency), ("max-bytes-per-page", max_bytes)):
            if v < 1:
                raise WikicheckError(f"--{opt} should be at least 1, got {v}")
        if timeout <= 0:
            raise WikicheckError(f"--timeout should be over 0 seconds, got {timeout:g}")
        if rate < 0 or max_redirects < 0:
            raise WikicheckError(f"--rate and max_redirects should be 0 or more, got {rate:g} and {max_redirects}")
        self.start = self.root = start
        self.name = name
        self.scope = Scope(start, list(allow_hosts))
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self.concurrency = concurrency
        self.max_redirects = max_redirects
        self.timeout = timeout
        self.client = Client(self.scope, timeout=timeout, rate=rate)
        for host in self.scope.allowed_hosts():  # a broken netrc is an error now, not a failure per page
            self.client._auth(host)
        self._probe()

    def _probe(self) -> None:
        """Fail before the crawl takes the index lock when the start host cannot be reached at all."""
        host, port = _host_port(self.start)
        try:
            socket.create_connection((host, port), timeout=min(self.timeout, 10)).close()
        except OSError as e:
            reason = e.strerror or str(e) or type(e).__name__
            raise SourceNotFound(f"{self.start}: cannot connect to {host}:{port} ({reason}); "
                                 "check the URL and that the site is reachable from here") from None

    def history(self, since: str | None) -> tuple[Iterator[HistoryEvent], str | None]:
        return iter(()), None  # versions accrue from one crawl to the next

    def scan(self, known: dict[str, dict[str, Any]] | None = None) -> ScanResult:
        """Crawl the site. `known`: what the last crawl learnt per URL (Store.http_cache)."""
        run = _Crawl(self, known or {})
        try:
            run.run()
        finally:
            self.client.close()
        return run.result

    # ------------------------------------------------------------------ one URL

    def visit(self, url: str, known: dict[str, dict[str, Any]], *, sitemap: bool = False) -> _Visit:
        """GET one URL, conditional when it is known, following redirects within the scope only."""
        hops: list[str] = []
        cur = url
        try:
            while True:
                hops.append(cur)
                entry = known.get(cur) or {}
                cond: dict[str, str] = {}
                if entry.get("fingerprint"):
                    if entry.get("etag"):
                        cond["If-None-Match"] = entry["etag"]
                    if entry.get("last_modified"):
                        cond["If-Modified-Since"] = entry["last_modified"]
                r = self.client.open(cur, cond)
                if r.status in REDIRECTS:
                    loc = r.headers.get("location", "").strip()
                    r.discard()
                    if not loc:
                        return _Visit(url, hops, "failed", f"HTTP {r.status} redirect without a Location", r.status)
                    raw = urljoin(cur, loc)
                    scheme = urlsplit(raw).scheme.lower()
                    if scheme not in ("http", "https"):
                        return _Visit(url, hops, "failed",
                                      f"redirect to {raw} refused: only http and https URLs are crawled", r.status)
                    nxt = normalise_url(raw) or raw
                    why = self.scope.why_not(nxt)
                    if why:
                        return _Visit(url, hops, "failed", f"redirect to {nxt} not followed: {why}", r.status)
                    if nxt in hops:
                        return _Visit(url, hops, "failed", "redirect loop", r.status)
                    if len(hops) > self.max_redirects:
                        return _Visit(url, hops, "failed", f"more than {self.max_redirects} redirects", r.status)
                    cur = nxt
                    continue
                etag, lm = r.headers.get("etag"), r.headers.get("last-modified")
                if r.status == 304 and entry.get("fingerprint"):
                    r.discard()
                    return _Visit(url, hops, "unchanged", status=304, etag=etag or entry.get("etag"),
                                  last_modified=lm or entry.get("last_modified"))
                if r.status in (404, 410):
                    r.discard()
                    return _Visit(url, hops, "gone", f"HTTP {r.status} {r.reason}".strip(), r.status)
                if r.status != 200:
                    r.discard()
                    hint = f"; {CREDENTIAL_HINT}" if r.status in (401, 403) else ""
                    return _Visit(url, hops, "failed", f"HTTP {r.status} {r.reason}".strip() + hint, r.status)
                ctype = r.headers.get("content-type", "")
                mime = ctype.split(";")[0].strip().lower()
                if sitemap and mime in HTML_TYPES:  # a site that answers every path with its home page
                    r.client.drop(r.key)
                    return _Visit(url, hops, "other", mime, 200)
                if sitemap:
                    body = r.read(SITEMAP_MAX)
                    return _Visit(url, hops, "page", status=200, etag=etag, last_modified=lm,
                                  fingerprint=hashlib.sha1(body).hexdigest(), size=len(body), body=body)
                kind = _page_kind(mime, cur)
                if kind is None or not_a_page(cur):
                    r.client.drop(r.key)  # a PDF, an image, CODEOWNERS: not a page, and not downloaded
                    return _Visit(url, hops, "other", mime or "not a page", 200)
                body = r.read(self.max_bytes)
                text = _decode(body, ctype)
                if not text.strip():
                    return _Visit(url, hops, "failed", "skipped, the page is empty", 200)
                if kind == "markdown":
                    page = _markdown_page(text, cur)
                elif not mime and not _looks_like_html(text):  # no Content-Type, and not HTML either
                    return _Visit(url, hops, "other", "no Content-Type, and not an HTML page", 200)
                else:
                    page = extract(text, cur)
                fp = _fingerprint(page.html)
                return _Visit(url, hops, "page", status=200, etag=etag, last_modified=lm, fingerprint=fp,
                              size=len(body), page=page)
        except _Failed as e:
            return _Visit(url, hops, "failed", str(e))
        except Exception as e:  # one page that breaks the extraction never stops the crawl
            return _Visit(url, hops, "failed", f"could not read the page ({type(e).__name__}: {e})")

    # ------------------------------------------------------------------ pages -> documents

    def _document(self, path: str, doc_url: str, fp: str, html: str, kept: _Kept,
                  warn: Callable[[str], None] | None = None) -> Document:
        if kept.kind == "markdown":
            meta, _, err = split_front_matter(html)
            if err and warn is not None:
                warn(f"{path}: {err}; fix the YAML between the --- lines")
        else:
            meta = html_metadata(html)
        meta.update(kept.extra)
        meta["engine"] = kept.engine
        if kept.last_modified:
            meta["last_modified_header"] = kept.last_modified
        m = kept.meta
        header_date = parse_date(kept.last_modified)
        if m.changed_at:
            prov = Provenance(m.changed_at, m.author, m.version, m.timestamp_source)
        elif header_date:
            prov = Provenance(header_date, m.author, m.version, "http_header")
        else:
            prov = Provenance(None, m.author, m.version, None)
        return Document(source=self.name, path=path, kind=kept.kind, text=html, fingerprint=fp, provenance=prov,
                        meta=meta, title=kept.title, url=doc_url, mtime=None, size=kept.size)

    def _load_kept(self, path: str, doc_url: str, fp: str, kept: _Kept, warn: Callable[[str], None]) -> Document:
        return self._document(path, doc_url, fp, zlib.decompress(kept.html_z).decode("utf-8"), kept, warn)

    def _load_again(self, path: str, doc_url: str, url: str, cache: dict[str, dict[str, Any]],
                    warn: Callable[[str], None]) -> Document:
        # a 304 for a page the store does not hold live (removed, or a crawl killed before saving it)
        v = self.visit(url, {})
        self.client.drop_thread()
        if v.outcome != "page" or v.page is None or v.fingerprint is None:
            raise SkipFile(f"{url}: {v.message or 'not a page'}")
        row = cache.get(url)
        if row is not None:
            row.update(etag=v.etag, last_modified=v.last_modified, fingerprint=v.fingerprint)
        return self._document(path, doc_url, v.fingerprint, v.page.html, _kept(v), warn)
