"""The MCP server, driven by the official SDK's client: over stdio (`wikicheck mcp` as a subprocess)
and over streamable HTTP (/mcp of the running HTTP API, behind its bearer token)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, Any

import anyio
import httpx2
import mcp_types
import pytest
from mcp.client import ClientSession
from mcp.client.stdio import (
    StdioServerParameters,
    get_default_environment,
    stdio_client,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from service_helpers import (
    CANONICAL,
    STALE_COPY,
    TOKEN,
    http,
    running,
    sample_index,
    section,
)

from wikicheck.guard import Guard, guard_runs_json
from wikicheck.serve import create_app, jsonable


@pytest.fixture(scope="module")
def index(tmp_path_factory, real_embedder):
    return sample_index(tmp_path_factory, real_embedder)


@pytest.fixture(scope="module")
def guard(index, real_embedder):
    g = Guard(index, embedder=real_embedder)
    yield g
    g.close()


def chunks_for(index) -> list[dict[str, Any]]:
    """What an agent may hold: the stale copy's text verbatim, a slightly reworded copy, the current section."""
    stale = section(index, STALE_COPY, "Restart")["text"]
    return [
        {"id": "verbatim", "text": stale},
        {"id": "reworded", "text": stale.replace("paste the output into the incident channel",
                                                  "paste its output in the incident channel")},
        {"id": "current", "text": section(index, CANONICAL, "Restart")["text"]},
    ]


async def converse(read, write, chunks: list[dict[str, Any]]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One MCP session: what a client sees, recorded for the tests below."""
    async with ClientSession(read, write) as session:
        out: dict[str, Any] = {"init": await session.initialize()}
        out["tools"] = {t.name: t for t in (await session.list_tools()).tools}
        calls = {
            "search": ("search_runbooks", {"query": "restart pgbouncer"}),
            "annotate": ("search_runbooks", {"query": "restart pgbouncer", "k": 10, "policy": "annotate"}),
            "chunks": ("check_chunks", {"chunks": chunks}),
            "k_too_big": ("search_runbooks", {"query": "x", "k": 101}),
            "bad_policy": ("search_runbooks", {"query": "x", "policy": "drop"}),
            "bad_chunk": ("check_chunks", {"chunks": [{"id": "no text"}]}),
        }
        for key, (tool, args) in calls.items():
            out[key] = await session.call_tool(tool, args)
    return out


@pytest.fixture(scope="module", params=["stdio", "http"])
def transcript(request, index, guard, tmp_path_factory) -> dict[str, Any]:
    chunks = chunks_for(index)
    if request.param == "stdio":
        log = tmp_path_factory.mktemp("mcp") / "stderr.log"
        params = StdioServerParameters(command=sys.executable, args=["-m", "wikicheck", "mcp", "--index", str(index)],
                                       cwd=str(log.parent), env={"TOKENIZERS_PARALLELISM": "false"})

        async def run() -> dict[str, Any]:
            with log.open("w") as errlog:
                async with stdio_client(params, errlog=errlog) as (read, write):
                    return await converse(read, write, chunks)

        try:
            out = anyio.run(run)
        except BaseException:
            print(log.read_text(), file=sys.stderr)
            raise
    else:
        with running(create_app(index, token=TOKEN, guard=guard)) as base:

            async def run() -> dict[str, Any]:
                async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
                    async with streamable_http_client(f"{base}/mcp", http_client=client) as (read, write):
                        return await converse(read, write, chunks)

            out = anyio.run(run)
    out["transport"], out["chunks_sent"] = request.param, chunks
    return out


def without_scores(obj: Any) -> Any:
    """The Guard's JSON minus floats that another process may round differently in the 4th decimal."""
    if isinstance(obj, dict):
        return {k: without_scores(v) for k, v in obj.items() if k not in ("score", "similarity")}
    if isinstance(obj, list):
        return [without_scores(v) for v in obj]
    return obj


def same_json(got: Any, expected: Any, transport: str) -> None:
    if transport == "http":  # the same process and Guard: identical to the last digit
        assert got == expected
    else:
        assert without_scores(got) == without_scores(expected)


def test_server_info(transcript):
    init = transcript["init"]
    assert init.server_info.name == "wikicheck"
    assert "check_chunks" in init.instructions and "search_runbooks" in init.instructions


def test_tools_have_input_and_output_schemas(transcript):
    tools = transcript["tools"]
    assert set(tools) == {"search_runbooks", "check_chunks"}
    search = tools["search_runbooks"]
    props = search.input_schema["properties"]
    assert search.input_schema["required"] == ["query"]
    assert (props["query"]["type"], props["k"]["type"], props["k"]["default"]) == ("string", "integer", 5)
    assert (props["k"]["minimum"], props["k"]["maximum"]) == (1, 100)
    assert (props["policy"]["enum"], props["policy"]["default"]) == (["block", "demote", "annotate"], "block")
    check = tools["check_chunks"]
    assert check.input_schema["required"] == ["chunks"]
    assert check.input_schema["properties"]["chunks"]["type"] == "array"
    chunk = check.input_schema["$defs"]["Chunk"]
    assert set(chunk["properties"]) == {"section_id", "path", "heading", "text"}
    assert chunk["additionalProperties"] is True
    assert search.output_schema["required"] == ["version", "query", "policy", "results"]
    result = search.output_schema["$defs"]["SearchResult"]
    assert {"verdict", "reasons", "newer", "replaces", "provenance"} <= set(result["required"])
    assert result["properties"]["verdict"]["enum"] == ["ok", "warn", "block"]
    assert check.output_schema["required"] == ["version", "results"]
    assert all(t.annotations.read_only_hint for t in tools.values())


def _descriptions(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == "description" and isinstance(v, str)] + [
            d for v in obj.values() for d in _descriptions(v)]
    return [d for v in obj for d in _descriptions(v)] if isinstance(obj, list) else []


def test_tool_descriptions_carry_no_source_indentation(transcript):
    """#12: a tool's description was its docstring as written, continuation lines indented by 8 spaces."""
    for tool in transcript["tools"].values():
        assert tool.description.startswith(("Search the runbooks.", "Check runbook chunks"))
        texts = [tool.description, *_descriptions(tool.input_schema), *_descriptions(tool.output_schema)]
        for text in texts:
            assert all(line == line.lstrip() for line in text.splitlines()), (tool.name, text)
    assert "\n" in transcript["tools"]["search_runbooks"].description  # lines kept, indentation gone


def test_search_runbooks_structured(transcript, index, guard):
    res = transcript["search"]
    assert res.is_error is False
    sc = res.structured_content
    assert (sc["version"], sc["query"], sc["policy"], len(sc["results"])) == (1, "restart pgbouncer", "block", 5)
    assert sc["results"][0]["path"] == CANONICAL
    assert all(r["verdict"] != "block" for r in sc["results"])  # blocked sections are never served
    assert (STALE_COPY, "Restart") not in [(r["path"], r["heading"]) for r in sc["results"]]
    rep = next(r for r in sc["results"] if r["replaces"] == section(index, STALE_COPY, "Restart")["id"])
    assert rep["heading"] == "Restart" and rep["reasons"][0]["kind"] == "replacement"
    assert rep["reasons"][0]["replaced_reasons"][0]["kind"] == "superseded"
    assert rep["provenance"]["owner"] == "@acme/platform-team"
    assert json.loads(res.content[0].text) == sc  # the text block mirrors it for clients without structured output
    # exactly the Guard's JSON (as served by POST /search and printed by `wikicheck search --json`)
    same_json(sc, jsonable(guard_runs_json("restart pgbouncer", "block", guard.search("restart pgbouncer"))),
              transcript["transport"])


def test_search_runbooks_annotate_shows_the_blocked_copy(transcript):
    sc = transcript["annotate"].structured_content
    stale = next(r for r in sc["results"] if r["path"] == STALE_COPY and r["heading"] == "Restart")
    assert stale["verdict"] == "block" and stale["newer"]["path"] == CANONICAL


def test_check_chunks_blocks_the_stale_copy(transcript, index, guard):
    res = transcript["chunks"]
    assert res.is_error is False
    sc = res.structured_content
    verbatim, reworded, current = sc["results"]
    assert [r["chunk"]["id"] for r in sc["results"]] == ["verbatim", "reworded", "current"]
    assert [r["match"] for r in sc["results"]] == ["exact", "near", "exact"]
    for r in (verbatim, reworded):
        assert r["verdict"] == "block"
        assert (r["newer"]["path"], r["newer"]["heading"]) == (CANONICAL, "Restart")
        assert r["path"] == STALE_COPY
        assert r["reasons"][0]["rule"] == "WC201"
        assert r["provenance"]["owner"] == "@acme/checkout-team"
    assert (current["verdict"], current["path"], current["newer"]) == ("ok", CANONICAL, None)
    same_json(sc, jsonable({"version": 1, "results": guard.check_chunks(transcript["chunks_sent"])}),
              transcript["transport"])


@pytest.mark.parametrize("call, message", [
    ("k_too_big", "Input should be less than or equal to 100"),
    ("bad_policy", "Input should be 'block', 'demote' or 'annotate'"),
    ("bad_chunk", "a chunk needs section_id, path (+ heading) or text"),
])
def test_tool_errors(transcript, call, message):
    res = transcript[call]
    assert res.is_error is True and res.structured_content is None
    assert message in res.content[0].text


# --------------------------------------------------------------------------- lone surrogates (#11 point 14)


@asynccontextmanager
async def escaping_stdio_client(params: StdioServerParameters, errlog: IO[str]) -> AsyncIterator[tuple[Any, Any]]:
    """mcp's stdio transport, but writing ASCII JSON (\\uXXXX escapes) as JavaScript's JSON.stringify does.

    That is how a client sends a lone surrogate; the SDK's own writer cannot encode one."""
    process = await anyio.open_process([params.command, *params.args], cwd=params.cwd, stderr=errlog,
                                       env=get_default_environment() | (params.env or {}))
    to_session, from_server = anyio.create_memory_object_stream[Any](0)
    to_server, from_session = anyio.create_memory_object_stream[SessionMessage](0)

    async def read() -> None:
        pending = b""
        async with to_session:
            async for data in process.stdout:  # type: ignore[union-attr]
                *lines, pending = (pending + data).split(b"\n")
                for line in filter(None, lines):
                    await to_session.send(SessionMessage(mcp_types.jsonrpc_message_adapter.validate_json(line)))

    async def write() -> None:
        async with from_session:
            async for m in from_session:
                await process.stdin.send(  # type: ignore[union-attr]
                    (json.dumps(m.message.model_dump(by_alias=True, exclude_unset=True)) + "\n").encode())

    async with process, anyio.create_task_group() as tg:
        tg.start_soon(read)
        tg.start_soon(write)
        try:
            yield from_server, to_server
        finally:
            tg.cancel_scope.cancel()
            process.terminate()


def test_stdio_answers_lone_surrogates_with_a_json_rpc_error(index, tmp_path):
    """Before #11: the SDK could not parse the line and the call got no reply at all."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "wikicheck", "mcp", "--index", str(index)],
                                   cwd=str(tmp_path), env={"TOKENIZERS_PARALLELISM": "false"})
    calls = {
        "query": ("search_runbooks", {"query": "\ud800 x"}),
        "chunk": ("check_chunks", {"chunks": [{"path": CANONICAL, "heading": "Restart"}, {"text": "ab\udfff"}]}),
        "after": ("search_runbooks", {"query": "restart pgbouncer", "k": 1}),
    }

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {}
        with (tmp_path / "stderr.log").open("w") as errlog:
            async with escaping_stdio_client(params, errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                for key, (tool, args) in calls.items():
                    with anyio.fail_after(60):  # no reply would hang the session
                        try:
                            out[key] = await session.call_tool(tool, args)
                        except MCPError as e:
                            out[key] = e
        return out

    out = anyio.run(run)
    assert isinstance(out["query"], MCPError) and out["query"].code == mcp_types.INVALID_PARAMS
    assert out["query"].message == ('"params.arguments.query" is not valid Unicode: lone surrogate \\ud800 '
                                    "at character 0; send text as valid UTF-8 / UTF-16")
    assert isinstance(out["chunk"], MCPError) and out["chunk"].code == mcp_types.INVALID_PARAMS
    assert '"params.arguments.chunks[1].text" is not valid Unicode: lone surrogate \\udfff at character 2' \
        in out["chunk"].message
    after = out["after"]  # the server and the session live on
    assert after.is_error is False and after.structured_content["results"][0]["path"] == CANONICAL


def test_streamable_http_answers_lone_surrogates_with_a_json_rpc_error(index, guard):
    """The /mcp mount answers with the request's id and says what is wrong (the SDK said id null, "Parse error")."""
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    raw = (b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", '
           b'"params": {"name": "search_runbooks", "arguments": {"query": "\\ud800 x"}}}')
    with running(create_app(index, token=TOKEN, guard=guard)) as base:
        status, _, body = http("POST", f"{base}/mcp", raw=raw, headers=headers)
        assert (status, body["jsonrpc"], body["id"], body["error"]["code"]) == (400, "2.0", 7, mcp_types.INVALID_PARAMS)
        assert body["error"]["message"] == ('"params.arguments.query" is not valid Unicode: lone surrogate \\ud800 '
                                            "at character 0; send text as valid UTF-8 / UTF-16")
        ok = raw.replace(b"\\ud800 x", b"restart pgbouncer")
        status, _, body = http("POST", f"{base}/mcp", raw=ok, headers=headers)
        assert (status, body["id"], body["result"]["isError"]) == (200, 7, False)
