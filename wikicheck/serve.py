"""The HTTP JSON API over one Guard, with the MCP server mounted at /mcp (streamable HTTP).

    GET  /health        index status, model, counts (no token needed)
    POST /search        {"query", "k"?, "policy"?}      -> the JSON of `wikicheck search --json`
    POST /search/batch  {"queries": [...], "k"?, "policy"?} -> {"version": 1, "runs": [...]}
    POST /filter        {"chunks": [...]}               -> {"version": 1, "results": [...]}
    /mcp                MCP over streamable HTTP (tools search_runbooks and check_chunks)

Limits: a body of 1 MB, k from 1 to 100, 1000 queries or chunks per call. Errors are
``{"error": {"code", "message"}}`` with the matching status. With a token configured,
everything but /health needs ``Authorization: Bearer <token>``. The Guard is opened once; its
calls block (embedding, SQLite), so they run in a worker thread, one at a time.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .guard import POLICIES, Guard, guard_runs_json

MAX_BODY = 1 << 20  # bytes
MAX_K = 100
MAX_ITEMS = 1000  # queries per batch, chunks per filter call
LOOPBACK_NAMES = ("localhost",)


class BadRequest(ValueError):
    """The request is well-formed JSON but asks for something invalid (missing field, bad policy, k out of range)."""


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


def check_query(query: Any, what: str = "query") -> str:
    if not isinstance(query, str) or not query.strip():
        raise BadRequest(f'"{what}" should be a non-empty string')
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
    query, k, policy = check_query(query), check_k(k), check_policy(policy)
    with guarded(guard):
        results = guard.search(query, k, policy)
    return jsonable(guard_runs_json(query, policy, results))


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


def run_filter(guard: Guard, chunks: Any, limit: int | None = MAX_ITEMS) -> dict[str, Any]:
    """Verdicts for an agent's own chunks (Guard.check_chunks)."""
    if not isinstance(chunks, list):
        raise BadRequest('"chunks" should be a list of objects with section_id, path (+ heading) or text')
    if limit is not None and len(chunks) > limit:
        raise BadRequest(f"at most {limit} chunks per call, got {len(chunks)}")
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
    return data


def _require(data: dict[str, Any], field: str) -> Any:
    if field not in data:
        raise BadRequest(f'missing field "{field}"')
    return data[field]


def _endpoint(fn: Callable[[Guard, dict[str, Any]], dict[str, Any]]):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> JSONResponse:
        guard: Guard = request.app.state.guard
        try:
            data = await _json_body(request)
            return JSONResponse(await run_in_threadpool(fn, guard, data))
        except ApiError as e:
            return _error(e.status, e.code, e.message)
        except BadRequest as e:
            return _error(400, "bad_request", str(e))

    return endpoint


def _search(guard: Guard, data: dict[str, Any]) -> dict[str, Any]:
    return run_search(guard, _require(data, "query"), data.get("k", 5), data.get("policy", "block"))


def _search_batch(guard: Guard, data: dict[str, Any]) -> dict[str, Any]:
    return run_search_batch(guard, _require(data, "queries"), data.get("k", 5), data.get("policy", "block"))


def _filter(guard: Guard, data: dict[str, Any]) -> dict[str, Any]:
    return run_filter(guard, _require(data, "chunks"))


async def _health(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(health, request.app.state.guard))


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


def create_app(index_dir: str | Path, token: str | None = None, guard: Guard | None = None, *,
               host: str = "127.0.0.1") -> Starlette:
    """The HTTP API (and MCP at /mcp) over the index at `index_dir`.

    `guard` is opened here unless given (then the caller closes it). `host` is where the server
    listens: on a loopback address without a token, requests must name a loopback Host (no DNS
    rebinding). Binding elsewhere without a token is the caller's to refuse (`wikicheck serve` does).
    """
    from mcp.server.transport_security import TransportSecuritySettings

    from .mcp_server import create_mcp_server

    owned = guard is None
    guard = guard or Guard(index_dir)
    _state(guard)
    mcp = create_mcp_server(guard)
    host_check = is_loopback(host) and not token
    # the SDK's own DNS-rebinding check follows ours: on for a loopback address without a token, off otherwise
    # (behind a reverse proxy the Host is the proxy's name; the token protects the service then)
    security = None if host_check else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=host, max_request_body_size=MAX_BODY,
                                      stateless_http=True, json_response=True, transport_security=security)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # a mounted app's lifespan does not run: start the MCP session manager here
        async with mcp.session_manager.run():
            try:
                yield
            finally:
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
        middleware=[Middleware(_Gate, token=token or None, allowed_hosts=loopback if host_check else None)],
        exception_handlers={HTTPException: _http_error, Exception: _crash},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # a JSON client gets a 404, not a redirect it may not follow
    app.state.guard = guard
    app.state.mcp = mcp
    return app


__all__ = ["MAX_BODY", "MAX_ITEMS", "MAX_K", "BadRequest", "create_app", "guarded", "health", "is_loopback",
           "jsonable", "run_filter", "run_search", "run_search_batch"]
