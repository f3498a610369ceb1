"""The HTTP API of `wikicheck serve`, served for real by uvicorn over the sample wiki (real model, real check)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection

import pytest
from service_helpers import (
    CANONICAL,
    STALE_COPY,
    TOKEN,
    http,
    running,
    sample_index,
    section,
)
from typer.testing import CliRunner

from wikicheck.guard import Guard, guard_runs_json
from wikicheck.serve import MAX_BODY, create_app, jsonable


@pytest.fixture(scope="module")
def index(tmp_path_factory, real_embedder):
    return sample_index(tmp_path_factory, real_embedder)


@pytest.fixture(scope="module")
def guard(index, real_embedder):
    g = Guard(index, embedder=real_embedder)
    yield g
    g.close()


@pytest.fixture(scope="module")
def url(index, guard):
    """The API with a token, as `wikicheck serve` runs it."""
    with running(create_app(index, token=TOKEN, guard=guard)) as base:
        yield base


@pytest.fixture(scope="module")
def open_url(index, guard):
    """The API on loopback without a token."""
    with running(create_app(index, guard=guard)) as base:
        yield base


# --------------------------------------------------------------------------- endpoints


def test_health_needs_no_token(url):
    status, _, body = http("GET", f"{url}/health", token=None)
    assert status == 200
    assert (body["version"], body["status"], body["model"], body["dim"]) == (1, "ok", "all-MiniLM-L6-v2", 384)
    assert body["counts"]["documents"] == 34 and body["counts"]["sections"] > 100
    assert body["index_up_to_date"] is True and body["checked"] is True
    assert body["last_crawl"]["status"] == "ok"
    assert "index" not in body and "sources" not in body  # unauthenticated: no filesystem paths


def test_search_replaces_the_stale_team_copy(url, index):
    status, _, body = http("POST", f"{url}/search", {"query": "restart pgbouncer"})
    assert status == 200
    assert (body["version"], body["query"], body["policy"]) == (1, "restart pgbouncer", "block")
    results = body["results"]
    assert len(results) == 5
    assert results[0]["path"] == CANONICAL and results[0]["verdict"] == "ok"
    assert all(r["verdict"] != "block" for r in results)  # blocked sections are never served
    assert (STALE_COPY, "Restart") not in [(r["path"], r["heading"]) for r in results]
    copy_restart = section(index, STALE_COPY, "Restart")
    rep = next(r for r in results if r["replaces"] == copy_restart["id"])
    assert (rep["path"], rep["heading"], rep["verdict"]) == (CANONICAL, "Restart", "ok")
    why = rep["reasons"][0]
    assert why["kind"] == "replacement"
    assert why["message"].startswith(f"replaces {STALE_COPY} §Restart: superseded by {CANONICAL} §Restart")
    assert "psql -h db-01.acme.internal` → new `psql -h pgbouncer.db.svc.cluster.local`" in why["message"]
    replaced = why["replaced_reasons"][0]
    assert (replaced["rule"], replaced["kind"], replaced["level"]) == ("WC201", "superseded", "error")
    assert replaced["newer"]["path"] == CANONICAL
    assert rep["provenance"] == {"changed_at": "2026-06-18T00:00:00Z", "author": None, "commit": None,
                                 "timestamp_source": "front_matter", "owner": "@acme/platform-team"}
    assert "kubectl -n db rollout restart deploy/pgbouncer" in rep["text"]


def test_search_is_the_guards_json(url, guard):
    status, _, body = http("POST", f"{url}/search", {"query": "pgbouncer pool sizes", "k": 3, "policy": "demote"})
    assert status == 200
    assert body == jsonable(guard_runs_json("pgbouncer pool sizes", "demote", guard.search("pgbouncer pool sizes", 3, "demote")))


def test_annotate_labels_the_stale_copy(url):
    status, _, body = http("POST", f"{url}/search", {"query": "restart pgbouncer", "k": 10, "policy": "annotate"})
    assert status == 200
    stale = [r for r in body["results"] if r["path"] == STALE_COPY and r["heading"] == "Restart"]
    assert len(stale) == 1 and stale[0]["verdict"] == "block"
    assert stale[0]["newer"]["path"] == CANONICAL and stale[0]["replaces"] is None
    assert {"superseded", "stale"} <= {r["kind"] for r in stale[0]["reasons"]}


def test_search_batch(url):
    status, _, body = http("POST", f"{url}/search/batch",
                           {"queries": ["restart pgbouncer", "run the refund batch"], "k": 2})
    assert status == 200
    assert body["version"] == 1
    assert [(r["query"], r["policy"], len(r["results"])) for r in body["runs"]] == [
        ("restart pgbouncer", "block", 2), ("run the refund batch", "block", 2)]
    assert body["runs"][0]["results"][0]["path"] == CANONICAL


def test_filter(url, index):
    copy_restart = section(index, STALE_COPY, "Restart")
    canonical = section(index, CANONICAL, "Restart")
    chunks = [
        {"id": "a", "text": copy_restart["text"]},
        {"id": "b", "path": STALE_COPY, "heading": "Restart"},
        {"id": "c", "section_id": canonical["id"], "metadata": {"from": "agent-store"}},
    ]
    status, _, body = http("POST", f"{url}/filter", {"chunks": chunks})
    assert status == 200
    assert body["version"] == 1
    a, b, c = body["results"]
    assert [r["chunk"] for r in body["results"]] == chunks  # passed through, extra keys included
    assert [r["match"] for r in (a, b, c)] == ["exact", "path", "section_id"]
    for r in (a, b):
        assert (r["verdict"], r["newer"]["path"], r["newer"]["heading"]) == ("block", CANONICAL, "Restart")
        assert r["section_id"] == copy_restart["id"]
        assert r["reasons"][0]["kind"] == "superseded"
    assert (c["verdict"], c["reasons"], c["newer"]) == ("ok", [], None)
    assert c["provenance"]["owner"] == "@acme/platform-team"


def test_a_new_check_run_is_picked_up_without_a_restart(index, real_embedder, tmp_path):
    from wikicheck.check import run_checks
    from wikicheck.config import Config
    from wikicheck.rules import RULES
    from wikicheck.store import Store

    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    chunk = {"path": STALE_COPY, "heading": "Restart"}
    g = Guard(copy, embedder=real_embedder)
    try:
        with running(create_app(copy, guard=g)) as base:
            assert http("POST", f"{base}/filter", {"chunks": [chunk]})[2]["results"][0]["verdict"] == "block"
            with Store.open(copy) as store:  # what a nightly `wikicheck check` with every rule turned off records
                assert run_checks(store, Config({"rules": {code: False for code in RULES}})).findings == []
            after = http("POST", f"{base}/filter", {"chunks": [chunk]})[2]["results"][0]
            assert (after["verdict"], after["reasons"], after["newer"]) == ("ok", [], None)
    finally:
        g.close()


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("path", ["/search", "/search/batch", "/filter", "/mcp", "/no-such-route"])
@pytest.mark.parametrize("authorization, error", [
    (None, None),
    (f"Bearer {TOKEN}x", "invalid_token"),
    ("Bearer ", "invalid_token"),
    (f"Basic {TOKEN}", "invalid_token"),
])
def test_token_required(url, path, authorization, error):
    headers = {"Authorization": authorization} if authorization else {}
    status, hdrs, body = http("POST", f"{url}{path}", {"query": "x"}, token=None, headers=headers)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert hdrs["www-authenticate"].startswith('Bearer realm="wikicheck"')
    assert (f'error="{error}"' in hdrs["www-authenticate"]) == bool(error)
    assert TOKEN not in json.dumps(body)


def test_no_token_configured_means_no_token_needed(open_url):
    status, _, body = http("POST", f"{open_url}/search", {"query": "restart pgbouncer", "k": 1}, token=None)
    assert status == 200 and body["results"][0]["path"] == CANONICAL


def test_loopback_without_token_refuses_foreign_host_headers(open_url):
    """DNS rebinding: a page on evil.example must not read the runbooks through the victim's browser."""
    port = open_url.rsplit(":", 1)[1]
    status, _, body = http("POST", f"{open_url}/search", {"query": "x"}, token=None,
                           headers={"Host": f"evil.example:{port}"})
    assert (status, body["error"]["code"]) == (421, "bad_host")
    status, _, _ = http("GET", f"{open_url}/health", token=None, headers={"Host": f"localhost:{port}"})
    assert status == 200


# --------------------------------------------------------------------------- errors


def chunked(data: bytes, size: int = 64 * 1024):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("method, path, body, raw, status, code, message", [
    ("POST", "/search", None, b"{not json", 400, "invalid_json", "body is not valid JSON"),
    ("POST", "/search", None, b"", 400, "invalid_json", "empty body"),
    ("POST", "/search", ["restart pgbouncer"], None, 400, "invalid_json", "body should be a JSON object"),
    ("POST", "/search", {"k": 3}, None, 400, "bad_request", 'missing field "query"'),
    ("POST", "/search", {"query": ""}, None, 400, "bad_request", '"query" should be a non-empty string'),
    ("POST", "/search", {"query": "x", "k": 0}, None, 400, "bad_request", '"k" should be an integer from 1 to 100, got 0'),
    ("POST", "/search", {"query": "x", "k": 101}, None, 400, "bad_request", "got 101"),
    ("POST", "/search", {"query": "x", "k": "5"}, None, 400, "bad_request", 'got "5"'),
    ("POST", "/search", {"query": "x", "k": True}, None, 400, "bad_request", "got true"),
    ("POST", "/search", {"query": "x", "policy": "drop"}, None, 400, "bad_request",
     '"policy" should be one of block, demote, annotate, got "drop"'),
    ("POST", "/search/batch", {"queries": "restart"}, None, 400, "bad_request", '"queries" should be a list'),
    ("POST", "/search/batch", {"queries": ["ok", 3]}, None, 400, "bad_request", '"queries[1]" should be a non-empty string'),
    ("POST", "/search/batch", {"queries": ["x"] * 1001}, None, 400, "bad_request", "at most 1000 queries"),
    ("POST", "/filter", {}, None, 400, "bad_request", 'missing field "chunks"'),
    ("POST", "/filter", {"chunks": [{"id": 1}]}, None, 400, "bad_request", "a chunk needs section_id, path (+ heading) or text"),
    ("POST", "/filter", {"chunks": ["text"]}, None, 400, "bad_request", "chunk 0: expected an object"),
    ("GET", "/nope", None, None, 404, "not_found", "no route GET /nope"),
    ("POST", "/search/", {"query": "x"}, None, 404, "not_found", "no route POST /search/"),
    ("GET", "/search", None, None, 405, "method_not_allowed", "no route GET /search"),
    ("POST", "/health", {}, None, 405, "method_not_allowed", "no route POST /health"),
])
def test_errors(url, method, path, body, raw, status, code, message):
    got_status, headers, got = http(method, f"{url}{path}", body, raw=raw)
    assert (got_status, got["error"]["code"]) == (status, code), got
    assert message in got["error"]["message"]
    assert set(got) == {"error"} and set(got["error"]) == {"code", "message"}
    assert headers["content-type"] == "application/json"
    if status == 405:
        assert headers["allow"]


def test_body_too_large(url):
    # refused on its Content-Length, before the body is read (the body sent is short: a client still
    # writing a long body when the server closes the connection may see a reset instead of the answer)
    status, _, got = http("POST", f"{url}/filter", raw=b'{"chunks": []}', headers={"Content-Length": str(MAX_BODY + 1)})
    assert (status, got["error"]) == (413, {"code": "payload_too_large", "message": "request body over 1048576 bytes"})
    # without a Content-Length (chunked): refused once the body read so far is too long
    status, _, got = http("POST", f"{url}/search", raw=chunked(b'{"query": "' + b"x" * MAX_BODY + b'"}'))
    assert (status, got["error"]["code"]) == (413, "payload_too_large")
    # at the limit is fine
    body = b'{"query": "restart pgbouncer", "k": 1, "pad": "' + b" " * (MAX_BODY - 60) + b'"}'
    assert len(body) <= MAX_BODY
    status, _, got = http("POST", f"{url}/search", raw=body)
    assert (status, got["results"][0]["path"]) == (200, CANONICAL)


def test_unexpected_error_is_a_json_500_without_traceback(index, real_embedder):
    broken = Guard(index, embedder=real_embedder)
    app = create_app(index, token=TOKEN, guard=broken)
    broken.store.close()  # the database goes away under a running service
    with running(app) as base:
        status, _, body = http("POST", f"{base}/search", {"query": "restart pgbouncer"})
    assert status == 500
    assert body == {"error": {"code": "internal", "message": "internal error; see the server log"}}


# --------------------------------------------------------------------------- lone surrogates (#11 point 14)

# JSON may escape half of a UTF-16 pair ("\ud800"), as JavaScript's JSON.stringify does for a lone one;
# Python decodes it to a str that no UTF-8 encoder (the tokenizer's, the response's) accepts.
SURROGATE_BODIES = [
    ("/search", b'{"query": "\\ud800 x"}', '"query" is not valid Unicode: lone surrogate \\ud800 at character 0'),
    ("/search", b'{"query": "restart \\udfff"}', '"query" is not valid Unicode: lone surrogate \\udfff at character 8'),
    ("/search", '{"query": "\\ud800 x"}'.encode("utf-16"), '"query" is not valid Unicode'),  # JSON in UTF-16
    ("/search/batch", b'{"queries": ["restart pgbouncer", "\\ud800 x"]}',
     '"queries[1]" is not valid Unicode: lone surrogate \\ud800 at character 0'),
    ("/filter", b'{"chunks": [{"text": "\\ud800 x"}]}', '"chunks[0].text" is not valid Unicode'),
    ("/filter", b'{"chunks": [{"path": "platform/pgbouncer.md", "heading": "Restart", "meta": {"note": "a\\udc00"}}]}',
     '"chunks[0].meta.note" is not valid Unicode: lone surrogate \\udc00 at character 1'),
    ("/filter", b'{"chunks": [{"path": "platform/pgbouncer.md", "\\ud800": 1}]}',
     'a key of "chunks[0]" is not valid Unicode: lone surrogate \\ud800 at character 0'),
]


@pytest.mark.parametrize("path, raw, message", SURROGATE_BODIES)
def test_lone_surrogate_is_a_400_and_keeps_the_connection(url, path, raw, message):
    """A 400 in the usual error shape, and the keep-alive connection serves the next request."""
    conn = HTTPConnection(url.removeprefix("http://"), timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        conn.request("POST", path, body=raw, headers=headers)
        resp = conn.getresponse()
        got = json.loads(resp.read())
        assert (resp.status, got) == (400, {"error": {"code": "bad_request", "message": got["error"]["message"]}})
        assert message in got["error"]["message"]
        assert resp.getheader("connection") != "close"
        conn.request("POST", "/search", body=json.dumps({"query": "restart pgbouncer", "k": 1}), headers=headers)
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())["results"][0]["path"]) == (200, CANONICAL)
    finally:
        conn.close()


def test_valid_surrogate_pairs_are_fine(url):
    """An escaped pair is one character (U+1F4A5 here), not an error."""
    status, _, body = http("POST", f"{url}/search", raw=b'{"query": "restart pgbouncer \\ud83d\\udca5", "k": 1}')
    assert (status, body["query"], body["results"][0]["path"]) == (200, "restart pgbouncer \U0001f4a5", CANONICAL)


@pytest.mark.parametrize("stdin, message", [
    ('{"chunks": [{"text": "\\ud800 x"}]}', 'error: invalid chunks: "chunks[0].text" is not valid Unicode: lone surrogate'),
    ('[{"path": "platform/pgbouncer.md", "note": "\\udfff"}]', '"chunks[0].note" is not valid Unicode'),
    (b'[{"text": "caf\xe9"}]', "error: stdin is not valid UTF-8: byte 0xe9 at offset 14"),  # Latin-1, not UTF-8
])
def test_filter_cli_refuses_lone_surrogates(index, stdin, message, tmp_path, monkeypatch, real_embedder):
    import wikicheck.guard as guard_module
    from wikicheck.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(guard_module, "get_embedder", lambda name=None, batch_size=32: real_embedder)
    r = CliRunner().invoke(app, ["filter", "--index", str(index)], input=stdin)
    assert r.exit_code == 3, r.output
    assert message in r.stderr and r.stderr.count("\n") == 1
    assert r.stdout == ""


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_serve_refuses_other_hosts_without_a_token(cli, index, host, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "  ")  # blank is no token
    r = cli("serve", "--index", index, "--host", host, "--token-env", "MY_TOKEN")
    assert r.exit_code == 3
    assert r.stderr.startswith(f"error: refusing to serve on {host} without a token: set a bearer token in $MY_TOKEN")
    assert r.stdout == ""


def test_serve_max_queue_option(cli, index):
    from wikicheck.cli import serve as cli_serve
    from wikicheck.serve import DEFAULT_MAX_QUEUE

    assert cli_serve.DEFAULT_MAX_QUEUE == DEFAULT_MAX_QUEUE  # the CLI's copy (it does not import starlette to start)
    r = cli("serve", "--index", index, "--max-queue", "0")
    assert r.exit_code == 2 and "--max-queue" in r.stderr
    assert "--max-queue" in cli("serve", "--help").stdout


def test_serve_for_real(index, tmp_path):
    """`python -m wikicheck serve` on any free port: token from the environment, API and MCP mount up, Ctrl-C stops it."""
    env = {**os.environ, "WIKICHECK_TOKEN": TOKEN, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "wikicheck", "serve", "--index", str(index), "--port", "0",
                             "--max-queue", "5"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("Application startup complete" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        serving = next(line for line in lines if line.startswith("wikicheck: serving"))
        assert "(MCP at /mcp; bearer token from $WIKICHECK_TOKEN)" in serving
        base = serving.split(" on ", 1)[1].split(" ", 1)[0]
        assert base.startswith("http://127.0.0.1:")
        status, _, health = http("GET", f"{base}/health", token=None)
        assert (status, health["queue"]) == (200, {"waiting": 0, "limit": 5})
        assert http("POST", f"{base}/search", {"query": "x"}, token="wrong")[0] == 401
        status, _, body = http("POST", f"{base}/search", {"query": "restart pgbouncer", "k": 1})
        assert (status, body["results"][0]["path"]) == (200, CANONICAL)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        finally:
            proc.kill()
        reader.join(5)
    assert proc.returncode in (0, 130)
    assert TOKEN not in "".join(lines) and proc.stdout.read() == ""  # type: ignore[union-attr]
