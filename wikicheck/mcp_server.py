"""The MCP server: the retrieval guard as two tools for agents.

* ``search_runbooks(query, k=5, policy="block")``: guarded search of the runbooks;
* ``check_chunks(chunks)``: verdicts for chunks the agent retrieved from its own store.

Both return structured content (``structuredContent``, with an output schema) in exactly the
shape of the HTTP API and of ``wikicheck search --json`` / ``wikicheck filter``: verdicts, reasons,
the newer section to follow, what a result replaces, and provenance.

Served over stdio by ``wikicheck mcp`` and over streamable HTTP at /mcp by ``wikicheck serve``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import ConfigDict, Field, with_config
from typing_extensions import NotRequired, TypedDict

from . import __version__
from .guard import Guard
from .serve import MAX_ITEMS, MAX_K, BadRequest, _state, run_filter, run_search

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


def create_mcp_server(guard: Guard) -> MCPServer:
    """An MCP server with the tools search_runbooks and check_chunks over an open Guard."""
    _state(guard)  # share the HTTP API's lock, and note which check run the verdicts come from
    server: MCPServer = MCPServer("wikicheck", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")

    @server.tool(annotations=_READ_ONLY)
    def search_runbooks(
        query: Annotated[str, Field(description="What to look for, in plain words.", min_length=1)],
        k: Annotated[int, Field(description="Number of results.", ge=1, le=MAX_K)] = 5,
        policy: Annotated[Literal["block", "demote", "annotate"], Field(
            description="block: outdated sections are removed and replaced by the current one; "
                        "demote: they go last; annotate: similarity order, verdicts only.")] = "block",
    ) -> SearchRun:
        """Search the runbooks. Outdated (superseded, contradicted, deprecated) sections are blocked and the
        current section takes their place; each result carries its verdict, the reasons and its provenance."""
        try:
            return run_search(guard, query, k, policy)  # type: ignore[return-value]
        except BadRequest as e:  # the caller's to fix: say what; any other failure stays "Error executing tool"
            raise ToolError(str(e)) from None

    @server.tool(annotations=_READ_ONLY)
    def check_chunks(
        chunks: Annotated[list[Chunk], Field(
            description="Chunks to check: each with section_id, or path (+ heading), or text.",
            max_length=MAX_ITEMS)],
    ) -> ChunkVerdicts:
        """Check runbook chunks you already hold. Each gets a verdict (ok, warn, block), the reasons and, when
        it is outdated, `newer`: the current section to follow instead (an old copy is matched by its text)."""
        try:
            return run_filter(guard, [dict(c) for c in chunks])  # type: ignore[return-value]
        except BadRequest as e:
            raise ToolError(str(e)) from None

    return server


__all__ = ["ChunkVerdict", "ChunkVerdicts", "Reason", "SearchResult", "SearchRun", "create_mcp_server"]
