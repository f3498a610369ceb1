"""wikicheck serve / mcp / filter: the retrieval guard as a service, an MCP server and a stdin filter."""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import os
import socket
import sys
from typing import Any, Optional

import typer

from ..errors import WikicheckError
from .core import STORE_HELP, app, store_location

DEFAULT_MAX_QUEUE = 64  # wikicheck.service.DEFAULT_MAX_QUEUE, not imported at startup (it loads the guard)


WAIT_HELP = "Seconds to wait for a running crawl to finish before serving (default: refuse at once, exit 3)."


def _open_guard(index: str, wait: float = 0.0):  # type: ignore[no-untyped-def]
    """Open the index and load the model now, so a bad index or model fails before serving (exit 3).
    A crawl that is writing the index is waited for up to `wait` seconds (wikicheck.readers)."""
    from ..config import load_config, record_events_enabled
    from ..guard import Guard

    # stdout may be the MCP channel: whatever a model loader prints goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        guard = Guard(index, wait=wait)
        if guard.engine.warning:  # a damaged ONNX export: sentence-transformers answers (onnx_engine/choice.py)
            typer.echo(f"warning: {guard.engine.warning}", err=True)
        try:
            # exposure for the owner reports; off with WIKICHECK_NO_EVENTS=1 or [guard] record-events = false
            guard.config.record_events = record_events_enabled(load_config(None, sources_from=index))
            guard.embed(["warm up"])
        except BaseException:
            guard.close()
            raise
    return guard


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as e:
        raise WikicheckError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


@app.command()
def serve(
    index: str = typer.Option(None, "--index", "-i", help="Index directory."),
    store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Anything but loopback needs a token."),
    port: int = typer.Option(8765, "--port", help="Port to listen on (0: any free port)."),
    token_env: str = typer.Option("WIKICHECK_TOKEN", "--token-env",
                                  help="Environment variable holding the bearer token clients must send."),
    max_queue: int = typer.Option(DEFAULT_MAX_QUEUE, "--max-queue", min=1,
                                  help="Requests (search, batch, filter, MCP tool calls) that may wait for the index; "
                                       "beyond that the answer is 503 with Retry-After, so a busy server stays "
                                       "responsive and /health instant."),
    wait: float = typer.Option(0, "--wait", min=0, help=WAIT_HELP),
) -> None:
    """Serve the guarded search as an HTTP JSON API, with MCP (streamable HTTP) at /mcp."""
    import uvicorn

    from ..serve import create_app, is_loopback

    token = (os.environ.get(token_env) or "").strip() or None
    if token is None and not is_loopback(host):
        raise WikicheckError(
            f"refusing to serve on {host} without a token: set a bearer token in ${token_env} "
            f"(or bind to 127.0.0.1); clients then send \"Authorization: Bearer <token>\"")
    sock = _listen(host, port)
    try:
        where = store_location(index, store_url)
        guard = _open_guard(where, wait)
    except BaseException:
        sock.close()
        raise
    try:
        bound = sock.getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        typer.echo(f"wikicheck: serving {guard.store.where if guard.store.url else where} on http://{shown}:{bound[1]} "
                   f"(MCP at /mcp; {'bearer token from $' + token_env if token else 'no token'})", err=True)
        web = create_app(guard.location, token=token, guard=guard, host=host, max_queue=max_queue)
        # the model, the index and the guard's tables are here for good: out of the collector's way, as a full
        # collection over them stopped every thread for 0.1-0.9 s at a time under load (#11 point 15)
        gc.collect()
        gc.freeze()
        # logs (access log included) go to stderr: stdout carries nothing but data, as in every command
        log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
        log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
        server = uvicorn.Server(uvicorn.Config(web, host=bound[0], port=bound[1], log_level="info", lifespan="on",
                                               log_config=log_config))
        server.run(sockets=[sock])
    finally:
        guard.close()
        sock.close()


@app.command()
def mcp(index: str = typer.Option(None, "--index", "-i", help="Index directory."),
        store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
        wait: float = typer.Option(0, "--wait", min=0, help=WAIT_HELP)) -> None:
    """Run the MCP server over stdio (tools search_runbooks and check_chunks), for an agent to spawn."""
    from ..mcp_server import serve_stdio

    guard = _open_guard(store_location(index, store_url), wait)
    try:
        serve_stdio(guard)
    finally:
        guard.close()


@app.command("filter")
def filter_(index: str = typer.Option(None, "--index", "-i", help="Index directory."),
            store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP)) -> None:
    """Read chunks as JSON on stdin (a list, or {"chunks": [...]}); print their verdicts as JSON."""
    from ..guard import Guard
    from ..service import BadRequest, run_filter

    try:  # bytes, not sys.stdin: under a C locale that decodes a bad byte to a lone surrogate (#11 point 14)
        raw = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise WikicheckError(f"stdin is not valid UTF-8: byte 0x{e.object[e.start]:02x} at offset {e.start}") from None
    if not raw.strip():
        raise WikicheckError('no chunks on stdin: give a JSON list of chunks or {"chunks": [...]}')
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise WikicheckError(f"stdin is not valid JSON: {e}") from None
    chunks = data.get("chunks") if isinstance(data, dict) else data
    if not isinstance(chunks, list):
        raise WikicheckError('stdin should hold a JSON list of chunks or {"chunks": [...]}')
    guard = Guard(store_location(index, store_url))
    if guard.engine.warning:
        typer.echo(f"warning: {guard.engine.warning}", err=True)
    try:
        out = run_filter(guard, chunks, limit=None)
    except BadRequest as e:
        raise WikicheckError(f"invalid chunks: {e}") from None
    finally:
        guard.close()
    typer.echo(json.dumps(out, indent=2, sort_keys=True))
