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
reach it through a GuardPool (wikicheck/service.py, shared with MCP): one worker thread behind a bounded queue. The event loop never waits
for the guard; beyond ``max_queue`` waiting calls the answer is 503 with ``Retry-After``; searches
that wait together are embedded together. /health is served from memory (HealthCache), so a load
balancer's probe answers at once however busy the guard is (#11 point 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
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

from .guard import Guard
from .service import (  # the transport-neutral part; re-exported, it was defined here before #13
    DEFAULT_MAX_QUEUE,
    MAX_ITEMS,
    MAX_K,
    BadRequest,
    GuardPool,
    HealthCache,
    Overloaded,
    guarded,
    health,
    json_body,
    jsonable,
    lone_surrogate,
    run_filter,
    run_search,
    run_search_batch,
    search_runs,
)

MAX_BODY = 1 << 20  # bytes
LOOPBACK_NAMES = ("localhost",)


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
    if isinstance(status, Exception) or status is None:  # None: the service stopped before a first read
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
                await run_in_threadpool(status.close)  # waits for a status read in progress
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
