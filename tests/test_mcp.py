"""The MCP server, driven by the official SDK's client: over stdio (`wikicheck mcp` as a subprocess)
and over streamable HTTP (/mcp of the running HTTP API, behind its bearer token)."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from service_helpers import CANONICAL, STALE_COPY, TOKEN, running, sample_index, section

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
