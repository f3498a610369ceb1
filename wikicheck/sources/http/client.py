"""The HTTP client: credentials, a deadline per request, keep-alive connections and a rate limit per host."""

from __future__ import annotations

import base64
import http.client
import netrc
import os
import socket
import ssl
import threading
import time
import zlib
from urllib.parse import urlsplit

from ...errors import WikicheckError
from .scope import Scope

USER_AGENT = "wikicheck/0.1 (runbook crawler)"
SMALL_BODY = 64 * 1024  # redirect and error bodies read to keep the connection, at most


class _Failed(Exception):
    """A request that did not produce a page: the message is the warning, without the URL."""


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
