"""The MCP server: the retrieval guard as two tools for agents.

* ``search_runbooks(query, k=5, policy="block")``: guarded search of the runbooks;
* ``check_chunks(chunks)``: verdicts for chunks the agent retrieved from its own store.

Both return structured content (``structuredContent``, with an output schema) in exactly the
shape of the HTTP API and of ``wikicheck search --json`` / ``wikicheck filter``: verdicts, reasons,
the newer section to follow, what a result replaces, and provenance.

Served over stdio by ``wikicheck mcp`` (serve_stdio) and over streamable HTTP at /mcp by
``wikicheck serve``. Either way the tools reach the guard through a GuardPool (see service.py), and a
message holding a lone UTF-16 surrogate gets a JSON-RPC error, not silence (#11 point 14).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, Any, Literal, TypeVar

import anyio
import mcp_types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ToolAnnotations
from pydantic import ConfigDict, Field, ValidationError, with_config
from typing_extensions import NotRequired, TypedDict

from . import __version__
from .guard import Guard
from .service import (
    MAX_ITEMS,
    MAX_K,
    BadRequest,
    GuardPool,
    Overloaded,
    lone_surrogate,
    run_filter,
)

T = TypeVar("T")

# The output types describe the Guard's JSON. Every key the Guard may add later is let through
# (extra="allow"): the schema documents the shape, it does not trim it.
_OPEN = ConfigDict(extra="allow")

Verdict = Literal["ok", "warn", "block"]


@with_config(_OPEN)
class SectionRef(TypedDict):
    """A section to follow instead."""

    path: str
    section_id: str
    heading: NotRequired[str | None]
    heading_path: NotRequired[list[str]]
    changed_at: NotRequired[str | None]
    source: NotRequired[str | None]


@with_config(_OPEN)
class Reason(TypedDict):
    """Why a result got its verdict: a finding of `wikicheck check` (rule, kind, level, message, evidence)."""

    name: str
    kind: str
    level: str
    message: str
    rule: NotRequired[str | None]
    evidence: NotRequired[dict[str, Any]]
    newer: NotRequired[SectionRef | None]
    fingerprint: NotRequired[str | None]
    replaced_reasons: NotRequired[list[dict[str, Any]]]


@with_config(_OPEN)
class Provenance(TypedDict):
    changed_at: str | None
    author: str | None
    commit: str | None
    timestamp_source: str | None
    owner: str | None


@with_config(_OPEN)
class SearchResult(TypedDict):
    """One result. ``replaces`` is the section id of the blocked section this one stands in for (it takes
    that section's rank); ``out_of_order`` says why a result is not where its score would put it."""

    path: str
    heading: str
    heading_path: list[str]
    section_id: str
    source: str
    anchor: str | None
    line_start: int | None
    score: float
    verdict: Verdict
    reasons: list[Reason]
    newer: SectionRef | None
    replaces: str | None
    provenance: Provenance
    text: str
    replaced: NotRequired[dict[str, Any] | None]
    demoted: NotRequired[bool]
    out_of_order: NotRequired[str | None]


@with_config(_OPEN)
class SearchRun(TypedDict):
    version: int
    query: str
    policy: str
    results: list[SearchResult]


@with_config(_OPEN)
class ChunkVerdict(TypedDict):
    """The verdict of one chunk; ``chunk`` echoes it, ``match`` says how it was matched to the wiki."""

    chunk: dict[str, Any]
    match: str
    verdict: Verdict
    reasons: list[Reason]
    newer: SectionRef | None
    section_id: str | None
    path: NotRequired[str]
    heading: NotRequired[str]
    heading_path: NotRequired[list[str]]
    source: NotRequired[str]
    anchor: NotRequired[str | None]
    line_start: NotRequired[int | None]
    replaces: NotRequired[str | None]
    provenance: NotRequired[Provenance]
    similarity: NotRequired[float | None]
    version: NotRequired[dict[str, Any]]
    whole_section: NotRequired[bool]
    duplicate_of: NotRequired[int]


@with_config(_OPEN)
class ChunkVerdicts(TypedDict):
    version: int
    results: list[ChunkVerdict]


@with_config(_OPEN)
class Chunk(TypedDict, total=False):
    """A chunk from the agent's store: give section_id, or path (+ heading), or its text. Other keys are echoed back."""

    section_id: str
    path: str
    heading: str
    text: str


INSTRUCTIONS = """\
Runbooks go stale. Before acting on a runbook, get it through these tools:
- search_runbooks finds sections and, with policy "block" (the default), replaces outdated ones by the
  current section (marked `replaces`, in the rank of the section it replaces); every result has a
  verdict (ok, warn, block), the reasons and where it came from (provenance).
- check_chunks checks text you already hold (from your own store or an earlier answer): a "block"
  verdict means do not follow it; `newer` names the section to use instead.
"""

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


async def _answer(submit: Callable[[], Future[T]]) -> T:
    """The pool's answer, awaited without holding a thread. What the caller can act on (a bad argument, a
    full queue) becomes a ToolError saying so; any other failure stays "Error executing tool"."""
    try:
        return await asyncio.wrap_future(submit())
    except (BadRequest, Overloaded) as e:
        raise ToolError(str(e)) from None


def _tool(server: MCPServer) -> Callable[[Callable[..., Any]], Any]:
    """Register a read-only tool whose description is its docstring without the source's indentation
    (#12: the SDK passes ``__doc__`` on as it is)."""
    def register(fn: Callable[..., Any]) -> Any:
        return server.tool(annotations=_READ_ONLY, description=inspect.cleandoc(fn.__doc__ or ""))(fn)
    return register


def create_mcp_server(guard: Guard, pool: GuardPool | None = None) -> MCPServer:
    """An MCP server with the tools search_runbooks and check_chunks over an open Guard.

    Calls go through `pool` (the HTTP API's, so that both share one queue), or a pool of its own."""
    pool = pool or GuardPool(guard)
    server: MCPServer = MCPServer("wikicheck", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")

    @_tool(server)
    async def search_runbooks(
        query: Annotated[str, Field(description="What to look for, in plain words.", min_length=1)],
        k: Annotated[int, Field(description="Number of results.", ge=1, le=MAX_K)] = 5,
        policy: Annotated[Literal["block", "demote", "annotate"], Field(
            description="block: outdated sections are removed and replaced by the current one; "
                        "demote: they go last; annotate: similarity order, verdicts only.")] = "block",
    ) -> SearchRun:
        """Search the runbooks. Outdated (superseded, contradicted, deprecated) sections are blocked and the
        current section takes their place; each result carries its verdict, the reasons and its provenance."""
        return await _answer(lambda: pool.search(query, k, policy))  # type: ignore[return-value]

    @_tool(server)
    async def check_chunks(
        chunks: Annotated[list[Chunk], Field(
            description="Chunks to check: each with section_id, or path (+ heading), or text.",
            max_length=MAX_ITEMS)],
    ) -> ChunkVerdicts:
        """Check runbook chunks you already hold. Each gets a verdict (ok, warn, block), the reasons and, when
        it is outdated, `newer`: the current section to follow instead (an old copy is matched by its text)."""
        return await _answer(lambda: pool.call(run_filter, [dict(c) for c in chunks]))  # type: ignore[return-value]

    return server


# --------------------------------------------------------------------------- messages the SDK cannot read


def jsonrpc_unicode_error(raw: bytes | str) -> dict[str, Any] | None:
    """The JSON-RPC error for a request that holds a lone UTF-16 surrogate, with the request's id; else None.

    The SDK's JSON parser refuses such a message outright, so without this the request gets no answer
    (stdio) or one with id null (HTTP). Python's parser reads it, which finds the id and the field."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return None  # a notification gets no answer; a batch or a response is not ours to answer
    where = lone_surrogate(message)
    if where is None:
        return None
    rid = message["id"]
    if isinstance(rid, bool) or not isinstance(rid, (int, str)) or lone_surrogate(rid):
        rid = None
    code = mcp_types.INVALID_PARAMS if where.startswith('"params') else mcp_types.INVALID_REQUEST
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": where}}


async def _relay(source: Any, sink: Any, replies: Any) -> None:
    """Pass the stdio transport's messages on; answer a request it could not parse instead of dropping it."""
    async with sink:
        async for item in source:
            error = None
            if isinstance(item, ValidationError):  # the SDK's parser failed; it keeps the line as the input
                line = next((e.get("input") for e in item.errors() if isinstance(e.get("input"), str)), None)
                error = jsonrpc_unicode_error(line) if line else None
            if error is None:
                await sink.send(item)
            else:
                await replies.send(SessionMessage(mcp_types.JSONRPCError.model_validate(error)))


async def _serve_stdio(server: MCPServer) -> None:
    # MCPServer.run_stdio_async, with _relay between the transport and the server (the SDK has no hook for it)
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream), anyio.create_task_group() as tg:
        sink, source = anyio.create_memory_object_stream[Any](0)
        tg.start_soon(_relay, read_stream, sink, write_stream)
        await lowlevel.run(source, write_stream, lowlevel.create_initialization_options())
        tg.cancel_scope.cancel()


def serve_stdio(guard: Guard) -> None:
    """`wikicheck mcp`: the MCP server over stdio, until the client closes stdin."""
    pool = GuardPool(guard)
    try:
        anyio.run(_serve_stdio, create_mcp_server(guard, pool=pool))
    finally:
        pool.close()


__all__ = ["ChunkVerdict", "ChunkVerdicts", "Reason", "SearchResult", "SearchRun", "create_mcp_server",
           "jsonrpc_unicode_error", "serve_stdio"]
