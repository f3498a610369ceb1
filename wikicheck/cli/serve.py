"""wikicheck serve / mcp / filter: the retrieval guard as a service, an MCP server and a stdin filter."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import sys
from typing import Any

import typer

from ..errors import WikicheckError
from . import app, default_index


def _open_guard(index: str):  # type: ignore[no-untyped-def]
    """Open the index and load the model now, so a bad index or model fails before serving (exit 3)."""
    from ..config import load_config
    from ..guard import Guard
    from ..risk import record_events_enabled

    # stdout may be the MCP channel: whatever a model loader prints goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        guard = Guard(index)
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
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Anything but loopback needs a token."),
    port: int = typer.Option(8765, "--port", help="Port to listen on (0: any free port)."),
    token_env: str = typer.Option("WIKICHECK_TOKEN", "--token-env",
                                  help="Environment variable holding the bearer token clients must send."),
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
        guard = _open_guard(index or default_index())
    except BaseException:
        sock.close()
        raise
    try:
        bound = sock.getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        typer.echo(f"wikicheck: serving {index or default_index()} on http://{shown}:{bound[1]} "
                   f"(MCP at /mcp; {'bearer token from $' + token_env if token else 'no token'})", err=True)
        web = create_app(guard.index_dir, token=token, guard=guard, host=host)
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
def mcp(index: str = typer.Option(None, "--index", "-i", help="Index directory.")) -> None:
    """Run the MCP server over stdio (tools search_runbooks and check_chunks), for an agent to spawn."""
    from ..mcp_server import create_mcp_server

    guard = _open_guard(index or default_index())
    try:
        create_mcp_server(guard).run("stdio")
    finally:
        guard.close()


@app.command("filter")
def filter_(index: str = typer.Option(None, "--index", "-i", help="Index directory.")) -> None:
    """Read chunks as JSON on stdin (a list, or {"chunks": [...]}); print their verdicts as JSON."""
    from ..guard import Guard
    from ..serve import BadRequest, run_filter

    raw = sys.stdin.read()
    if not raw.strip():
        raise WikicheckError('no chunks on stdin: give a JSON list of chunks or {"chunks": [...]}')
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise WikicheckError(f"stdin is not valid JSON: {e}") from None
    chunks = data.get("chunks") if isinstance(data, dict) else data
    if not isinstance(chunks, list):
        raise WikicheckError('stdin should hold a JSON list of chunks or {"chunks": [...]}')
    guard = Guard(index or default_index())
    try:
        out = run_filter(guard, chunks, limit=None)
    except BadRequest as e:
        raise WikicheckError(f"invalid chunks: {e}") from None
    finally:
        guard.close()
    typer.echo(json.dumps(out, indent=2, sort_keys=True))
