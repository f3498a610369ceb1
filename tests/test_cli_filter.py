"""`wikicheck filter`: chunks as JSON on stdin, verdicts as JSON on stdout."""

from __future__ import annotations

import json

import pytest
from service_helpers import CANONICAL, STALE_COPY, sample_index, section
from typer.testing import CliRunner

import wikicheck.guard as guard_module
from wikicheck.cli import app
from wikicheck.embed import DEFAULT_MODEL


@pytest.fixture(scope="module")
def index(tmp_path_factory, real_embedder):
    return sample_index(tmp_path_factory, real_embedder)


@pytest.fixture
def run(tmp_path, monkeypatch, real_embedder):
    """Run `wikicheck filter` in-process with stdin; text chunks are embedded by the session's model, not a second load."""
    monkeypatch.chdir(tmp_path)

    def get_embedder(name=None, batch_size=32):
        assert name == DEFAULT_MODEL
        return real_embedder

    monkeypatch.setattr(guard_module, "get_embedder", get_embedder)

    def invoke(stdin: str, *args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, ["filter", *args], input=stdin)

    return invoke


def test_filter_list(run, index):
    stale = section(index, STALE_COPY, "Restart")
    chunks = [
        {"id": 1, "text": stale["text"]},
        {"id": 2, "text": stale["text"].replace("The restart itself takes about 10 s.", "Restarting takes about 10 s.")},
        {"id": 3, "path": CANONICAL, "heading": "Restart"},
    ]
    r = run(json.dumps(chunks), "--index", str(index))
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert r.stdout == json.dumps(out, indent=2, sort_keys=True) + "\n"
    assert out["version"] == 1
    first, second, third = out["results"]
    assert [x["chunk"] for x in out["results"]] == chunks
    assert [x["match"] for x in out["results"]] == ["exact", "near", "path"]
    for x in (first, second):
        assert (x["verdict"], x["newer"]["path"], x["section_id"]) == ("block", CANONICAL, stale["id"])
        assert x["reasons"][0]["message"].startswith(f"superseded by {CANONICAL} §Restart (changed 2026-06-18")
    assert (third["verdict"], third["newer"]) == ("ok", None)


def test_filter_object_with_chunks(run, index):
    sid = section(index, STALE_COPY, "Verify")["id"]
    r = run(json.dumps({"chunks": [{"section_id": sid}, {"path": "no/such.md", "heading": "Nope"}]}), "--index", str(index))
    assert r.exit_code == 0, r.stderr
    known, unknown = json.loads(r.stdout)["results"]
    assert (known["match"], known["verdict"], known["newer"]["path"]) == ("section_id", "block", CANONICAL)
    assert (unknown["match"], unknown["verdict"], unknown["reasons"][0]["kind"]) == ("none", "warn", "unknown_section")


def test_filter_empty_list(run, index):
    r = run("[]", "--index", str(index))
    assert (r.exit_code, json.loads(r.stdout)) == (0, {"version": 1, "results": []})


@pytest.mark.parametrize("stdin, message", [
    ("", 'error: no chunks on stdin: give a JSON list of chunks or {"chunks": [...]}'),
    ("{oops", "error: stdin is not valid JSON: Expecting property name enclosed in double quotes"),
    ('{"chunk": []}', 'error: stdin should hold a JSON list of chunks or {"chunks": [...]}'),
    ('"text"', 'error: stdin should hold a JSON list of chunks or {"chunks": [...]}'),
    ('[{"id": 1}]', "error: invalid chunks: a chunk needs section_id, path (+ heading) or text"),
    ('[42]', "error: invalid chunks: chunk 0: expected an object with section_id, path+heading or text"),
])
def test_filter_bad_input(run, index, stdin, message):
    r = run(stdin, "--index", str(index))
    assert r.exit_code == 3
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_filter_missing_index(run, tmp_path):
    r = run('[{"text": "x"}]', "--index", str(tmp_path / "nowhere"))
    assert r.exit_code == 3
    assert r.stderr.startswith("error: no wikicheck store at ")
