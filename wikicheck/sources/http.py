"""An internal wiki site over HTTP: Confluence, MediaWiki, MkDocs, Docusaurus or any HTML site (issue 6).

The scan is the crawl. From the start URL it follows links and sitemap.xml within the allowed hosts
and path prefixes (the start URL's host and folder unless more are allowed), and revalidates every
page the last crawl found with a conditional GET (If-None-Match / If-Modified-Since, from the
store's http_cache table, which crawl() hands to scan()). A 304 becomes a candidate with the
stored fingerprint, so the crawler sees the page unchanged and never loads it. A 200 is extracted
at once (engines.py: main content and page metadata) and kept, compressed, for load(); its
fingerprint is the hash of what was extracted, so chrome that changes on every page (a new nav
entry) is not a change. A markdown page (text/markdown, or a .md URL served as text/plain or with no type, as
raw.githubusercontent.com and static servers do) is a page too, kept as served, and revalidated the same way
(#12). Files a site serves beside its pages (CODEOWNERS, wikicheck.toml, robots.txt, sitemap.xml, JSON,
images) are never pages: links and sitemap entries to them are not followed (not_a_page()).

One page is one document: redirects are followed (within the allowed hosts only) and
<link rel=canonical> names the document; its path is the URL path (without the leading slash),
its url the canonical URL. A known page that answers 404 or 410 is left out of the candidates, so
the crawler marks it removed (its history stays). A page that fails for any other reason (timeout,
5xx, too large) gets a warning, counts as failed, and keeps its last crawled version.

A page that changes address keeps its history (issue 9): when a URL the last crawl knew as document
path P now redirects to, or declares a canonical URL of, a page whose path is Q, or when P's URL is
gone (404, 410) and the very same page (same extracted content, but for its canonical link) appeared
at a new path Q in this crawl (through the sitemap or a link), the scan reports (P, Q) in
ScanResult.renames, and the crawler records the rename instead of an unrelated removal. P is not
renamed while any of its URLs still answers with it, nor to a page the last crawl knew already (a
merge, or a deleted page sent to the home page), nor when several pages lead to one (a login page).

Credentials come from the environment (WIKICHECK_HTTP_TOKEN, or WIKICHECK_HTTP_USER and
WIKICHECK_HTTP_PASSWORD) or a netrc file, are sent to allowed hosts only, and are never stored or
logged. A URL that carries credentials is refused.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import netrc
import os
import re
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from markdown_it import MarkdownIt

from ..dates import now_iso, parse_date
from ..errors import SourceNotFound, WikicheckError
from ..model import Document, Provenance
from ..parse import html_metadata, html_soup, split_front_matter
from .base import DATE_KEYS, DEFAULT_MAX_BYTES, MARKDOWN_EXT, Candidate, HistoryEvent, ScanResult, SkipFile
from .engines import _ASSET_EXT, Engine, Extracted, PageMeta, extract, page_links, with_canonical

USER_AGENT = "wikicheck/0.1 (runbook crawler)"
REDIRECTS = (301, 302, 303, 307, 308)
HTML_TYPES = ("text/html", "application/xhtml+xml")
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
# a type that says nothing: a .md page served so (raw.githubusercontent.com sends text/plain) is markdown
GENERIC_TYPES = ("", "text/plain", "application/octet-stream", "binary/octet-stream")
# files a docs site serves beside its pages, never pages themselves, whatever their Content-Type (#12):
# ownership and config (read from the folder or repository they come from, not from the site), site files
NOT_PAGE_NAMES = frozenset({"codeowners", "wikicheck.toml", "pyproject.toml", "robots.txt", "sitemap.xml",
                            "sitemap.xml.gz", "security.txt", "humans.txt", ".mailmap", ".gitignore",
                            ".gitattributes", "mkdocs.yml", "hugo.toml", "_config.yml", "docusaurus.config.js"})
_NOT_PAGE_EXT = re.compile(r"\.(toml|ini|cfg|conf|lock|env|properties)$", re.I)
SMALL_BODY = 64 * 1024  # redirect and error bodies read to keep the connection, at most
MAX_SITEMAPS = 50
SITEMAP_MAX = 50_000_000  # the sitemap protocol's own limit
_MD = MarkdownIt("commonmark")  # a markdown page's links
MAX_MOVE_PAIRS = 20_000  # (gone page, new page) pairs compared for "the same page at a new URL", at most
CREDENTIAL_HINT = ("set WIKICHECK_HTTP_TOKEN, or WIKICHECK_HTTP_USER and WIKICHECK_HTTP_PASSWORD, "
                   "or add the host to ~/.netrc")


class _Failed(Exception):
    """A request that did not produce a page: the message is the warning, without the URL."""


# --------------------------------------------------------------------------- URLs and scope


def normalise_url(url: str) -> str | None:
    """Lower-case scheme and host, no default port, no credentials, no fragment; None unless http(s)."""
    try:
        p = urlsplit(url.strip())
        port = p.port
    except ValueError:
        return None
    scheme = p.scheme.lower()
    if scheme not in ("http", "https") or not p.hostname:
        return None
    host = p.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    path = _remove_dot_segments(_UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), p.path or "/"))
    return urlunsplit((scheme, host, path or "/", p.query, ""))


# RFC 3986 2.3: percent-encoded unreserved characters ("%2e" for ".") mean the character itself
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: "/docs/../private/x" is "/private/x" (what a server will serve for it)."""
    out: list[str] = []
    segs = path.split("/")
    for i, seg in enumerate(segs):
        if seg == ".":
            if i == len(segs) - 1:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segs) - 1:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") or not path.startswith("/") else "/" + result


def not_a_page(url: str) -> bool:
    """A URL of a file a site serves beside its pages (CODEOWNERS, wikicheck.toml, robots.txt, JSON, images):
    never fetched as a page, linked or listed in the sitemap (#12)."""
    path = urlsplit(url).path
    name = unquote(path.rsplit("/", 1)[-1]).lower()
    return name in NOT_PAGE_NAMES or bool(_ASSET_EXT.search(path) or _NOT_PAGE_EXT.search(path))


def document_path(url: str) -> str:
    """The document path of a page: its URL path without the leading slash (and its query); "/" for the root."""
    p = urlsplit(url)
    path = unquote(p.path).lstrip("/")
    if p.query:
        path += "?" + p.query
    return path or "/"


def _host_port(url: str) -> tuple[str, int]:
    p = urlsplit(url)
    return (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)


@dataclass(frozen=True)
class _Allowed:
    host: str
    port: int | None  # None: any port
    prefix: str


class Scope:
    """The hosts and path prefixes a crawl may fetch."""

    def __init__(self, start: str, allow_hosts: list[str] | tuple[str, ...] = ()):
        host, port = _host_port(start)
        path = urlsplit(start).path or "/"
        prefix = path[: path.rfind("/") + 1] or "/"
        self.rules = [_Allowed(host, port, prefix)]
        if urlsplit(start).scheme == "http" and port == 80:  # a site that moves itself to https stays allowed
            self.rules.append(_Allowed(host, 443, prefix))
        for spec in allow_hosts:
            self.rules.append(self._parse(spec))

    @staticmethod
    def _parse(spec: str) -> _Allowed:
        s = spec.strip()
        if "://" in s:
            s = s.split("://", 1)[1]
        if "@" in s.split("/", 1)[0]:
            raise WikicheckError(f"--allow-host {spec}: credentials are not accepted here; {CREDENTIAL_HINT}")
        hostport, _, prefix = s.partition("/")
        try:
            p = urlsplit("//" + hostport)
            port = p.port
        except ValueError:
            raise WikicheckError(f"--allow-host {spec}: not a host name; give HOST, HOST:PORT or HOST/PATH/") from None
        if not p.hostname:
            raise WikicheckError(f"--allow-host {spec}: not a host name; give HOST, HOST:PORT or HOST/PATH/")
        return _Allowed(p.hostname.lower(), port, "/" + prefix)

    def allows(self, url: str) -> bool:
        return self.why_not(url) is None

    def why_not(self, url: str) -> str | None:
        p = urlsplit(url)
        if p.scheme not in ("http", "https"):
            return f"a {p.scheme or 'relative'} URL (only http and https are crawled)"
        host, port = _host_port(url)
        rules = [r for r in self.rules if r.host == host and (r.port is None or r.port == port)]
        if not rules:
            return f"host {p.netloc} is not allowed (add --allow-host {p.netloc})"
        # the path as a server may read it: every escape decoded ("%2F" too) and dot segments removed
        path = _remove_dot_segments(unquote(p.path or "/"))
        if not any(path.startswith(unquote(r.prefix)) for r in rules):
            return f"{p.path} is outside the allowed path prefix {rules[0].prefix}"
        return None

    def allowed_hosts(self) -> set[str]:
        return {r.host for r in self.rules}


# --------------------------------------------------------------------------- credentials


def _auth_header(host: str) -> str | None:
    """Authorization for an allowed host: environment first, then netrc. Never logged or stored."""
    token = os.environ.get("WIKICHECK_HTTP_TOKEN")
    if token:
        return f"Bearer {token}"
    user = os.environ.get("WIKICHECK_HTTP_USER")
    if user:
        password = os.environ.get("WIKICHECK_HTTP_PASSWORD", "")
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not os.path.isfile(path):
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except netrc.NetrcParseError as e:
        # never the parser's message: it can quote a token of the file, and a token can be a password
        why = "readable by others; chmod 600 it" if "permissive" in str(e.msg) else f"cannot parse line {e.lineno}"
        raise WikicheckError(f"{path}: {why}") from None
    except OSError as e:
        raise WikicheckError(f"{path}: cannot read it ({e.strerror})") from None
    if not entry:
        return None
    login, _, secret = entry
    return "Basic " + base64.b64encode(f"{login}:{secret or ''}".encode()).decode()


# --------------------------------------------------------------------------- the HTTP client


class _RateLimit:
    """At most `rate` requests a second to each host (0: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.next: dict[str, float] = {}
        self.lock = threading.Lock()

    def wait(self, host: str) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next.get(host, now))
            self.next[host] = at + self.interval
        if at > now:
            time.sleep(at - now)


class _Watchdog:
    """Shuts a request's socket down when its deadline passes (issue 11, point 10).

    A socket timeout bounds each recv() only: a server that dribbles one byte a second never trips it,
    and would hold a request (and the index lock) for as long as it likes. One thread per Client watches
    the deadline of every request in flight, one per fetching thread, and ends the request that overruns:
    the blocked recv() returns, and the request fails as timed out. The thread runs only while a request
    is armed."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        # thread -> (deadline, sockets the request may block on, its connection)
        self.armed: dict[int, tuple[float, list[socket.socket], http.client.HTTPConnection]] = {}
        self.fired: set[int] = set()
        self.running = False

    def arm(self, deadline: float, conn: http.client.HTTPConnection) -> None:
        """Watch the calling thread's request on `conn` until disarm()."""
        me = threading.get_ident()
        with self.cond:
            self.fired.discard(me)
            self.armed[me] = (deadline, [], conn)
            if not self.running:
                self.running = True
                threading.Thread(target=self._watch, name="wikicheck-http-deadline", daemon=True).start()
            self.cond.notify()

    def hold(self, sock: socket.socket | None) -> None:
        """Also shut `sock` down at the deadline: http.client forgets the socket of a closing response."""
        with self.cond:
            entry = self.armed.get(threading.get_ident())
            if entry is not None and sock is not None:
                entry[1].append(sock)

    def disarm(self) -> bool:
        """Stop watching the calling thread's request; True when its deadline had passed and it was cut off."""
        me = threading.get_ident()
        with self.cond:
            self.armed.pop(me, None)
            return self.has_fired(me)

    def has_fired(self, me: int | None = None) -> bool:
        with self.cond:
            return (threading.get_ident() if me is None else me) in self.fired

    def _watch(self) -> None:
        with self.cond:
            while self.armed:
                now = time.monotonic()
                for me, (deadline, socks, conn) in list(self.armed.items()):
                    if deadline <= now:
                        del self.armed[me]
                        self.fired.add(me)
                        for sock in [*socks, conn.sock]:
                            _shut(sock)
                if self.armed:
                    self.cond.wait(max(0.0, min(d for d, _, _ in self.armed.values()) - now))
            self.running = False


def _shut(sock: socket.socket | None) -> None:
    """End every recv() blocked on `sock`; the plain socket's shutdown, so a TLS socket keeps its state."""
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # closed already, or never connected


class _Open:
    """A response whose status and headers are in, and whose body the caller reads or discards."""

    def __init__(self, client: "Client", key: tuple[str, str], resp: http.client.HTTPResponse,
                 sock: socket.socket | None, deadline: float):
        self.client, self.key, self.resp, self.sock, self.deadline = client, key, resp, sock, deadline
        self.status, self.reason = resp.status, resp.reason
        self.headers = {k.lower(): v for k, v in resp.getheaders()}

    def read(self, limit: int) -> bytes:
        """The body, decompressed, or _Failed when it is over `limit` bytes or too slow."""
        body, failure = b"", None
        try:
            body = self._read(limit)
        except _Failed as e:
            failure = e
        except TimeoutError:
            failure = _Failed(self.client.timed_out())
        except (OSError, http.client.HTTPException, zlib.error) as e:
            failure = _Failed(f"broken response ({type(e).__name__})")
        if self.client.watchdog.disarm():  # cut off at the deadline: what came in is not the whole body
            failure = _Failed(self.client.timed_out())
        if failure is not None:
            self.client.drop(self.key)
            raise failure
        if self.resp.will_close:
            self.client.drop(self.key)
        return body

    def discard(self) -> None:
        """Read a small body so the connection can be used again; close it when the body is large."""
        try:
            length = self.headers.get("content-length", "")
            if self.status in (204, 304) or length == "0":
                self.resp.read()
            elif length.isdigit() and int(length) <= SMALL_BODY:
                self._read(SMALL_BODY)
            else:
                raise _Failed("large or unknown body")
            if self.resp.will_close or self.client.watchdog.disarm():
                self.client.drop(self.key)
        except (_Failed, OSError, http.client.HTTPException, zlib.error):
            self.client.drop(self.key)

    def _read(self, limit: int) -> bytes:
        enc = self.headers.get("content-encoding", "").strip().lower()
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS) if enc in ("gzip", "x-gzip") else (
            zlib.decompressobj() if enc == "deflate" else None)
        length = self.headers.get("content-length", "")
        if dec is None and length.isdigit() and int(length) > limit:
            raise _Failed(f"skipped, {_mb(int(length))} is over the {_mb(limit)} limit (raise --max-bytes-per-page)")
        chunks: list[bytes] = []
        total = 0
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _Failed(self.client.timed_out())
            if self.sock is not None:
                self.sock.settimeout(left)
            data = self.resp.read1(65536)
            if not data:
                break
            if dec is not None:  # bounded, so that a small gzip bomb cannot fill the memory
                out = dec.decompress(data, limit + 1 - total)
                while dec.unconsumed_tail and total + len(out) <= limit:
                    out += dec.decompress(dec.unconsumed_tail, limit + 1 - total - len(out))
                data = out
            total += len(data)
            if total > limit:
                raise _Failed(f"skipped, more than the {_mb(limit)} limit (raise --max-bytes-per-page)")
            chunks.append(data)
        self.resp.read()  # read1() leaves a response whose length ran out open; read() closes it for reuse
        return b"".join(chunks)


class Client:
    """GET with a deadline per request (connect, headers and body), keep-alive connections per thread, rate
    limit per host, no redirects."""

    def __init__(self, scope: Scope, *, timeout: float, rate: float):
        self.scope = scope
        self.timeout = timeout
        self.limit = _RateLimit(rate)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.all: list[http.client.HTTPConnection] = []
        self.auth: dict[str, str | None] = {}
        self.ssl = ssl.create_default_context()
        self.watchdog = _Watchdog()

    def timed_out(self) -> str:
        """The warning of a request cut off at its deadline: true, since the deadline covers the whole request."""
        return f"timed out after {self.timeout:g} s"

    def _auth(self, host: str) -> str | None:
        with self.lock:
            if host not in self.auth:
                self.auth[host] = _auth_header(host)
            return self.auth[host]

    def _conns(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        return self.local.__dict__.setdefault("conns", {})

    def _conn(self, key: tuple[str, str]) -> tuple[http.client.HTTPConnection, bool]:
        conns = self._conns()
        if key in conns:
            return conns[key], True
        scheme, netloc = key
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(netloc, timeout=self.timeout,
                                                                           context=self.ssl)
        else:
            conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
        conns[key] = conn
        with self.lock:
            self.all.append(conn)
        return conn, False

    def drop(self, key: tuple[str, str]) -> None:
        """Close this thread's connection to `key`, and end the watch on its request."""
        self.watchdog.disarm()
        conn = self._conns().pop(key, None)
        if conn is not None:
            conn.close()

    def drop_thread(self) -> None:
        for key in list(self._conns()):
            self.drop(key)

    def close(self) -> None:
        with self.lock:
            for conn in self.all:
                conn.close()
            self.all.clear()

    def open(self, url: str, headers: dict[str, str] | None = None) -> _Open:
        p = urlsplit(url)
        key = (p.scheme, p.netloc)
        host = (p.hostname or "").lower()
        self.limit.wait(p.netloc)
        deadline = time.monotonic() + self.timeout
        hdrs = {"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                "Accept-Encoding": "gzip, deflate", **(headers or {})}
        if host in self.scope.allowed_hosts():  # never to a host the crawl may not visit
            auth = self._auth(host)
            if auth:
                hdrs["Authorization"] = auth
        target = (p.path or "/") + (f"?{p.query}" if p.query else "")
        for attempt in (0, 1):
            conn, reused = self._conn(key)
            self.watchdog.arm(deadline, conn)  # the socket timeout below bounds one recv() only
            try:
                if conn.sock is not None:
                    conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
                else:
                    conn.timeout = max(0.01, deadline - time.monotonic())
                conn.request("GET", target, headers=hdrs)
                sock = conn.sock  # kept: http.client forgets it when the server closes after this response
                self.watchdog.hold(sock)
                resp = conn.getresponse()
                if self.watchdog.has_fired():  # headers cut short at the deadline read as complete ones
                    raise TimeoutError
                return _Open(self, key, resp, sock, deadline)
            except (OSError, http.client.HTTPException) as e:
                self.drop(key)
                retry = isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if retry and reused and attempt == 0 and not self.watchdog.has_fired():
                    continue  # a keep-alive connection the server had closed meanwhile
                raise _Failed(self._why(e)) from None
        raise _Failed("connection closed by the server")  # not reached

    def _why(self, e: OSError | http.client.HTTPException) -> str:
        """The warning for a request that failed before its body."""
        if isinstance(e, TimeoutError) or self.watchdog.has_fired():
            return self.timed_out()
        if isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)):
            return f"connection closed by the server ({type(e).__name__})"
        if isinstance(e, ssl.SSLError):
            return f"TLS error ({e.reason or e})"
        if isinstance(e, OSError):
            return f"cannot connect ({e.strerror or type(e).__name__})"
        return f"bad HTTP response ({type(e).__name__})"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 10e6 else f"{n / 1e6:.0f} MB"


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


def _fingerprint(html: str) -> str:
    """A page's fingerprint: the hash of what extract() made of it, so chrome that changes is not a change."""
    return "http:" + hashlib.sha1(html.encode("utf-8")).hexdigest()
