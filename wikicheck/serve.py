"""The HTTP JSON API over one Guard, with the MCP server mounted at /mcp (streamable HTTP).

    GET  /health        index status, model, counts (no token needed)
    POST /search        {"query", "k"?, "policy"?}      -> the JSON of `wikicheck search --json`
    POST /search/batch  {"queries": [...], "k"?, "policy"?} -> {"version": 1, "runs": [...]}
    POST /filter        {"chunks": [...]}               -> {"version": 1, "results": [...]}
    /mcp                MCP over streamable HTTP (tools search_runbooks and check_chunks)

Limits: a body of 1 MB, k from 1 to 100, 1000 queries or chunks per call, text that is valid
Unicode (no lone UTF-16 surrogate). Errors are ``{"error": {"code", "message"}}`` with the matching
status. With a token configured, everything but /health needs ``Authorization: Bearer <token>``.

The Guard is opened once and serves one call at a time (one SQLite connection, one model), so calls
reach it through a GuardPool: one worker thread behind a bounded queue. The event loop never waits
for the guard; beyond ``max_queue`` waiting calls the answer is 503 with ``Retry-After``; searches
that wait together are embedded together. /health is served from memory (HealthCache), so a load
balancer's probe answers at once however busy the guard is (#11 point 15).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .guard import POLICIES, Guard, guard_runs_json

MAX_BODY = 1 << 20  # bytes
MAX_K = 100
MAX_ITEMS = 1000  # queries per batch, chunks per filter call
DEFAULT_MAX_QUEUE = 64  # calls waiting for the guard before the service answers 503 (`wikicheck serve --max-queue`)
MAX_COALESCE = 64  # waiting searches embedded in one model call
HEALTH_MAX_AGE = 2.0  # seconds a /health status is served before it is read again
LOOPBACK_NAMES = ("localhost",)

log = logging.getLogger("wikicheck.serve")


class BadRequest(ValueError):
    """The request is well-formed JSON but asks for something invalid (missing field, bad policy, k out of range)."""


class Overloaded(Exception):
    """Every place in the guard's queue is taken (or the service is stopping): retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------------------- text that is not Unicode (#11 point 14)

_SURROGATE = re.compile("[\ud800-\udfff]")  # in a decoded str a pair is one code point: any left is lone


def _surrogate_in(text: str) -> str | None:
    m = _SURROGATE.search(text)
    return None if m is None else f"lone surrogate \\u{ord(m.group()):04x} at character {m.start()}"


def lone_surrogate(value: Any, where: str = "") -> str | None:
    """Where decoded JSON holds a lone UTF-16 surrogate, as one line naming the field; None when it holds none.

    JSON may escape half of a pair (JavaScript's JSON.stringify writes a lone one as "\\ud800") and Python
    decodes it to a str that no UTF-8 encoder accepts: the tokenizer failed on it (HTTP 500, a dropped
    connection) and an MCP reply could not be written (no answer at all). So it is refused on the way in.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:  # not recursive: JSON nested a thousand deep is still answered
        item, path = stack.pop()
        if isinstance(item, str):
            found, field_ = _surrogate_in(item), f'"{path}"'
        elif isinstance(item, dict):
            bad_key = next((k for k in item if isinstance(k, str) and _SURROGATE.search(k)), None)
            found = None if bad_key is None else _surrogate_in(bad_key)
            field_ = f'a key of "{path}"' if path else "a key of the top-level object"
            stack.extend(reversed([(v, f"{path}.{k}" if path else str(k)) for k, v in item.items()]))
        elif isinstance(item, list):
            found = None
            stack.extend(reversed([(v, f"{path}[{i}]") for i, v in enumerate(item)]))
        else:
            found = None
        if found:
            return f"{field_} is not valid Unicode: {found}; send text as valid UTF-8 / UTF-16"
    return None


# --------------------------------------------------------------------------- guarded operations (HTTP, MCP, CLI)


class _GuardState:
    def __init__(self, guard: Guard):
        self.lock = threading.Lock()


_STATES: weakref.WeakKeyDictionary[Guard, _GuardState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(guard: Guard) -> _GuardState:
    with _STATES_LOCK:
        st = _STATES.get(guard)
        if st is None:
            st = _STATES[guard] = _GuardState(guard)
        return st


@contextlib.contextmanager
def guarded(guard: Guard):  # type: ignore[no-untyped-def]
    """Hold the guard's lock (one SQLite connection, one model), picking up a newer crawl or check first."""
    st = _state(guard)
    with st.lock:
        guard.refresh()  # a long-running service must not serve yesterday's verdicts or vectors
        yield guard


def jsonable(obj: Any) -> Any:
    """Plain JSON types only (what the CLI prints with default=str), so HTTP, MCP and CLI answer alike."""
    return json.loads(json.dumps(obj, default=str))


def json_body(obj: Any) -> bytes:
    """The HTTP body of `obj`: the bytes JSONResponse(jsonable(obj)) sends, in one pass.

    The guard's worker makes it, so that the event loop only writes bytes (#11 point 15)."""
    return json.dumps(obj, default=str, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def check_query(query: Any, what: str = "query") -> str:
    if not isinstance(query, str) or not query.strip():
        raise BadRequest(f'"{what}" should be a non-empty string')
    bad = lone_surrogate(query, what)
    if bad:
        raise BadRequest(bad)
    return query


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise BadRequest(f'"k" should be an integer from 1 to {MAX_K}, got {json.dumps(k, default=str)}')
    return k


def check_policy(policy: Any) -> str:
    if policy not in POLICIES:
        raise BadRequest(f'"policy" should be one of {", ".join(POLICIES)}, got {json.dumps(policy, default=str)}')
    return policy


def run_search(guard: Guard, query: Any, k: Any = 5, policy: Any = "block") -> dict[str, Any]:
    """One guarded search, as ``wikicheck search --json`` prints it."""
    return jsonable(search_runs(guard, [(check_query(query), check_k(k), check_policy(policy))])[0])


def run_search_batch(guard: Guard, queries: Any, k: Any = 5, policy: Any = "block") -> dict[str, Any]:
    if not isinstance(queries, list):
        raise BadRequest('"queries" should be a list of strings')
    if len(queries) > MAX_ITEMS:
        raise BadRequest(f"at most {MAX_ITEMS} queries per batch, got {len(queries)}")
    queries = [check_query(q, f"queries[{i}]") for i, q in enumerate(queries)]
    k, policy = check_k(k), check_policy(policy)
    with guarded(guard):
        runs = guard.search_many(queries, k, policy)
    return jsonable({"version": 1, "runs": [guard_runs_json(q, policy, rs) for q, rs in zip(queries, runs)]})


def search_runs(guard: Guard, searches: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Several checked (query, k, policy) searches with one model call, each as guard_runs_json gives it.

    This is how the service keeps up under load: embedding one query costs about as much as embedding
    ten together (#11 point 15)."""
    by_args: dict[tuple[int, str], list[int]] = {}
    for i, (_, k, policy) in enumerate(searches):
        by_args.setdefault((k, policy), []).append(i)
    out: list[dict[str, Any]] = [{} for _ in searches]
    with guarded(guard):
        vectors = guard.embed([q for q, _, _ in searches])
        for (k, policy), rows in by_args.items():
            for i, results in zip(rows, guard.search_vectors(vectors[rows], k, policy)):
                out[i] = guard_runs_json(searches[i][0], policy, results)
    return out


def run_filter(guard: Guard, chunks: Any, limit: int | None = MAX_ITEMS) -> dict[str, Any]:
    """Verdicts for an agent's own chunks (Guard.check_chunks)."""
    if not isinstance(chunks, list):
        raise BadRequest('"chunks" should be a list of objects with section_id, path (+ heading) or text')
    if limit is not None and len(chunks) > limit:
        raise BadRequest(f"at most {limit} chunks per call, got {len(chunks)}")
    bad = lone_surrogate(chunks, "chunks")  # a chunk is echoed back: no key of it may hold one either
    if bad:
        raise BadRequest(bad)
    with guarded(guard):
        try:
            results = guard.check_chunks(chunks)
        except ValueError as e:  # Guard's documented answer to a malformed chunk
            raise BadRequest(str(e)) from None
    return jsonable({"version": 1, "results": results})


def health(guard: Guard) -> dict[str, Any]:
    """What a probe needs; no filesystem paths, as it is served without a token."""
    from .status import index_status

    st = index_status(guard.index_dir)  # its own connection: a probe never waits for a search
    last = st["last_crawl"] or {}
    return {
        "version": 1, "status": "ok", "model": st["model"], "dim": st["dim"], "counts": st["counts"],
        "index_up_to_date": st["index_up_to_date"], "checked": guard.has_check,
        "last_crawl": {"finished_at": last.get("finished_at"), "status": last.get("status")} if last else None,
    }


# --------------------------------------------------------------------------- the queue in front of the guard


@dataclass
class _Call:
    future: Future[Any]
    finish: Callable[[Any], Any]  # jsonable (a dict, for MCP) or json_body (bytes, for HTTP)
    search: tuple[str, int, str] | None = None  # a search, which may run together with the searches behind it
    fn: Callable[[], Any] | None = None  # anything else (a batch, a filter), run alone


def _same(obj: Any) -> Any:
    return obj


class GuardPool:
    """One worker thread in front of a Guard, fed by a bounded queue (#11 point 15).

    The guard serves one call at a time (one SQLite connection, one model), so more threads would only
    wait for its lock, as anyio's 40 did, and /health waited behind them. Calls wait here instead, and
    the wait is bounded: with `max_queue` calls waiting, the next one is refused at once (Overloaded,
    HTTP 503) with a Retry-After estimated from recent service times. Searches waiting together are
    embedded together (up to MAX_COALESCE), which is where a busy service gets its throughput.
    Submitting never blocks, so the event loop never waits for the guard.
    """

    def __init__(self, guard: Guard, max_queue: int = DEFAULT_MAX_QUEUE):
        if max_queue < 1:
            raise ValueError(f"max_queue should be at least 1, got {max_queue}")
        self.guard, self.max_queue = guard, max_queue
        self._queue: collections.deque[_Call] = collections.deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None  # started by the first call
        self._closed = False
        self._seconds_per_call = 0.05  # moving average, for Retry-After only

    def search(self, query: Any, k: Any = 5, policy: Any = "block", *, body: bool = False) -> Future[Any]:
        """Queue one search (checked here, so a bad one never takes a place). Its future gets what run_search
        returns, or with `body` that as an HTTP body (json_body)."""
        args = (check_query(query), check_k(k), check_policy(policy))
        return self._submit(_Call(Future(), json_body if body else jsonable, search=args))

    def call(self, fn: Callable[..., Any], *args: Any, body: bool = False) -> Future[Any]:
        """Queue `fn(guard, *args)` (run_search_batch, run_filter), which takes the guard's lock itself."""
        return self._submit(_Call(Future(), json_body if body else _same, fn=lambda: fn(self.guard, *args)))

    def stats(self) -> dict[str, int]:
        return {"waiting": len(self._queue), "limit": self.max_queue}

    def close(self) -> None:
        """Refuse new calls, cancel the waiting ones and let the running one finish."""
        with self._cond:
            self._closed = True
            while self._queue:
                self._queue.popleft().future.cancel()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()

    def _submit(self, call: _Call) -> Future[Any]:
        with self._cond:
            if self._closed:
                raise Overloaded("server shutting down; retry after 1 s", 1)
            waiting = len(self._queue)
            if waiting >= self.max_queue:
                retry = max(1, math.ceil(waiting * self._seconds_per_call))
                raise Overloaded(f"server busy: {waiting} requests already waiting for the guard "
                                 f"(limit {self.max_queue}); retry after {retry} s", retry)
            self._queue.append(call)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="wikicheck-guard", daemon=True)
                self._worker.start()
            self._cond.notify()
        return call.future

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                calls = [self._queue.popleft()]
                while (calls[0].search and self._queue and self._queue[0].search
                       and len(calls) < MAX_COALESCE):
                    calls.append(self._queue.popleft())
            calls = [c for c in calls if c.future.set_running_or_notify_cancel()]  # a client that gave up
            started = time.monotonic()
            self._run(calls)
            if calls:
                spent = (time.monotonic() - started) / len(calls)
                self._seconds_per_call = 0.8 * self._seconds_per_call + 0.2 * spent

    def _run(self, calls: list[_Call]) -> None:
        runs: list[dict[str, Any]] | None = None
        if len(calls) > 1:
            try:
                runs = search_runs(self.guard, [c.search for c in calls])  # type: ignore[misc]
            except Exception:  # then one at a time, so that only the failing search fails
                log.warning("%d searches failed together; running them one at a time", len(calls), exc_info=True)
        for i, c in enumerate(calls):
            try:
                if runs is not None:
                    raw = runs[i]
                else:
                    raw = search_runs(self.guard, [c.search])[0] if c.search else c.fn()  # type: ignore[misc]
                answer = c.finish(raw)
            except BaseException as e:  # noqa: BLE001 - the caller's to report (400, 500)
                c.future.set_exception(e)
            else:
                c.future.set_result(answer)


class HealthCache:
    """/health from memory (#11 point 15): a probe waits neither for the guard, nor its lock, nor a thread.

    The status (counts, manifest, last crawl: ~25 ms of SQLite in its own connection) is read again in a
    thread of its own when a probe finds it older than `max_age` seconds; until that read ends, probes
    get the previous status. A status that cannot be read is kept as the error, and served as a 503.
    """

    def __init__(self, guard: Guard, max_age: float = HEALTH_MAX_AGE):
        self.guard, self.max_age = guard, max_age
        self._lock = threading.Lock()
        self._value: dict[str, Any] | Exception | None = None
        self._read_at = 0.0
        self._reading = False

    def read(self) -> dict[str, Any] | Exception:
        """Read the status now (at startup, and in the refresh thread)."""
        try:
            value: dict[str, Any] | Exception = health(self.guard)
        except Exception as e:  # a probe must learn of it, and the log gets the traceback
            log.exception("cannot read the index status for /health")
            value = e
        with self._lock:
            self._value, self._read_at, self._reading = value, time.monotonic(), False
        return value

    def get(self) -> dict[str, Any] | Exception | None:
        """The last status read (None before the first), starting a fresh read when it is old."""
        with self._lock:
            value = self._value
            if self._reading or (value is not None and time.monotonic() - self._read_at < self.max_age):
                return value
            self._reading = True
        threading.Thread(target=self.read, name="wikicheck-health", daemon=True).start()
        return value


# --------------------------------------------------------------------------- HTTP


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def _json_body(request: Request) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():  # chunked bodies have no Content-Length to refuse early
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "payload_too_large", f"request body over {MAX_BODY} bytes")
    if not body.strip():
        raise ApiError(400, "invalid_json", "empty body; send a JSON object")
    try:
        data = json.loads(bytes(body))
    except (ValueError, RecursionError) as e:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body should be a JSON object")
    bad = lone_surrogate(data)  # any field: what is not read may still be echoed (a chunk's extra keys)
    if bad:
        raise BadRequest(bad)
    return data


def _require(data: dict[str, Any], field: str) -> Any:
    if field not in data:
        raise BadRequest(f'missing field "{field}"')
    return data[field]


def _endpoint(submit: Callable[[GuardPool, dict[str, Any]], Future[bytes]]):  # type: ignore[no-untyped-def]
    """An API route: parse and check the body here, on the event loop; wait for the guard without blocking it."""

    async def endpoint(request: Request) -> Response:
        try:
            data = await _json_body(request)
            body = await asyncio.wrap_future(submit(request.app.state.pool, data))
            return Response(body, media_type="application/json")
        except ApiError as e:
            return _error(e.status, e.code, e.message)
        except BadRequest as e:
            return _error(400, "bad_request", str(e))
        except Overloaded as e:
            return _error(503, "overloaded", str(e), {"Retry-After": str(e.retry_after)})

    return endpoint


def _search(pool: GuardPool, data: dict[str, Any]) -> Future[bytes]:
    return pool.search(_require(data, "query"), data.get("k", 5), data.get("policy", "block"), body=True)


def _search_batch(pool: GuardPool, data: dict[str, Any]) -> Future[bytes]:
    queries, k, policy = _require(data, "queries"), data.get("k", 5), data.get("policy", "block")
    return pool.call(run_search_batch, queries, k, policy, body=True)


def _filter(pool: GuardPool, data: dict[str, Any]) -> Future[bytes]:
    return pool.call(run_filter, _require(data, "chunks"), body=True)


async def _health(request: Request) -> JSONResponse:
    """From memory, never behind the guard (HealthCache); the queue's state is read live."""
    cache: HealthCache = request.app.state.health
    status = cache.get()
    if status is None:  # served before the lifespan read it (an app run without lifespan)
        status = await run_in_threadpool(cache.read)
    if isinstance(status, Exception):
        return _error(503, "unavailable", "the index status cannot be read; see the server log")
    return JSONResponse({**status, "queue": request.app.state.pool.stats()})


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 413: "payload_too_large"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
    return _error(exc.status_code, code, message, dict(exc.headers or {}))


async def _crash(request: Request, exc: Exception) -> JSONResponse:
    # the traceback goes to the server's log (uvicorn), never to the client
    return _error(500, "internal", "internal error; see the server log")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Gate:
    """Checks every request before routing: bearer token, Host header (DNS rebinding) and body size."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: set[str] | None):
        self.app = app
        self.token = token.encode() if token else None
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        response = self._refuse(scope["path"], headers)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse(self, path: str, headers: Headers) -> JSONResponse | None:
        if self.allowed_hosts is not None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.lower() not in self.allowed_hosts:
                return _error(421, "bad_host", f"Host {host!r} is not served here (the server listens on a loopback "
                                               "address; use 127.0.0.1 or localhost, or serve with a token)")
        if self.token is not None and path != "/health":
            auth = headers.get("authorization", "")
            scheme, _, presented = auth.partition(" ")
            if not auth:
                return _error(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)",
                              {"WWW-Authenticate": 'Bearer realm="wikicheck"'})
            if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self.token):
                return _error(401, "unauthorized", "invalid bearer token",
                              {"WWW-Authenticate": 'Bearer realm="wikicheck", error="invalid_token"'})
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return _error(400, "bad_request", "invalid Content-Length")
            if int(length) > MAX_BODY:
                return _error(413, "payload_too_large", f"request body over {MAX_BODY} bytes")
        return None


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


class _RpcUnicode:
    """Answers a JSON-RPC message to /mcp that holds a lone surrogate with an error naming its id and field.

    The SDK's parser refuses such JSON with "Parse error" and id null, which a client cannot match to
    its call (#11 point 14). Runs after _Gate: an unauthenticated body is never read here."""

    def __init__(self, app: ASGIApp, check: Callable[[bytes], dict[str, Any] | None]):
        self.app, self.check = app, check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/mcp" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        messages, body = [], bytearray()
        while len(body) <= MAX_BODY:  # beyond it the SDK refuses the body; the rest is passed on unread
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        # the SDK reads UTF-8 only, where an escape ("\\ud800") is the one way to carry a lone surrogate
        error = self.check(bytes(body)) if len(body) <= MAX_BODY and _ESCAPED_SURROGATE.search(body) else None
        if error is not None:
            await JSONResponse(error, status_code=400)(scope, receive, send)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)


def create_app(index_dir: str | Path, token: str | None = None, guard: Guard | None = None, *,
               host: str = "127.0.0.1", max_queue: int = DEFAULT_MAX_QUEUE) -> Starlette:
    """The HTTP API (and MCP at /mcp) over the index at `index_dir`.

    `guard` is opened here unless given (then the caller closes it). `host` is where the server
    listens: on a loopback address without a token, requests must name a loopback Host (no DNS
    rebinding). Binding elsewhere without a token is the caller's to refuse (`wikicheck serve` does).
    `max_queue` calls may wait for the guard; more are answered 503 (see GuardPool).
    """
    from mcp.server.transport_security import TransportSecuritySettings

    from .mcp_server import create_mcp_server, jsonrpc_unicode_error

    owned = guard is None
    guard = guard or Guard(index_dir)
    _state(guard)
    pool = GuardPool(guard, max_queue)
    status = HealthCache(guard)
    mcp = create_mcp_server(guard, pool=pool)
    host_check = is_loopback(host) and not token
    # the SDK's own DNS-rebinding check follows ours: on for a loopback address without a token, off otherwise
    # (behind a reverse proxy the Host is the proxy's name; the token protects the service then)
    security = None if host_check else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=host, max_request_body_size=MAX_BODY,
                                      stateless_http=True, json_response=True, transport_security=security)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(status.read)  # the first probe is answered from memory too
        # a mounted app's lifespan does not run: start the MCP session manager here
        async with mcp.session_manager.run():
            try:
                yield
            finally:
                await run_in_threadpool(pool.close)  # the running call ends before the guard is closed
                if owned:
                    guard.close()

    routes = [
        Route("/health", _health, methods=["GET"]),
        Route("/search", _endpoint(_search), methods=["POST"]),
        Route("/search/batch", _endpoint(_search_batch), methods=["POST"]),
        Route("/filter", _endpoint(_filter), methods=["POST"]),
        *mcp_app.routes,  # the /mcp route, inside our gate and error handlers
    ]
    loopback = {"localhost", "127.0.0.1", "[::1]", host.lower() if ":" not in host else f"[{host.lower()}]"}
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Gate, token=token or None, allowed_hosts=loopback if host_check else None),
                    Middleware(_RpcUnicode, check=jsonrpc_unicode_error)],
        exception_handlers={HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a JSON client gets a 404, not a redirect it may not follow
    app.state.guard, app.state.pool, app.state.health, app.state.mcp = guard, pool, status, mcp
    return app


__all__ = ["DEFAULT_MAX_QUEUE", "MAX_BODY", "MAX_ITEMS", "MAX_K", "BadRequest", "GuardPool", "HealthCache",
           "Overloaded", "create_app", "guarded", "health", "is_loopback", "json_body", "jsonable", "lone_surrogate",
           "run_filter", "run_search", "run_search_batch", "search_runs"]
