"""`wikicheck crawl` and `wikicheck status`: output, exit codes, errors on stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from helpers import write_files

from wikicheck.index import Manifest
from wikicheck.lock import IndexLock
from wikicheck.store import Store

FAKE = ("--model", "test-hash-64")

CRAWL_KEYS = {"version", "index", "crawl_id", "model", "sources", "documents", "sections", "embedded", "pages_failed", "versions_added",
              "history_events", "index_rebuilt", "index_count", "warnings", "seconds", "timings", "engine"}


@pytest.fixture
def wiki(tmp_path):
    root = tmp_path / "wiki"
    write_files(root, {
        "deploy.md": "# Deploy\n\nIntro.\n\n## Steps\n\nrun make\n\n## Rollback\n\nrevert\n",
        "oncall.md": "# On call\n\npage the secondary\n",
        "empty.md": "",
    })
    return root


def one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --------------------------------------------------------------------------- crawl output


def test_crawl_json_summary(cli, wiki, index_dir):
    r = cli("crawl", wiki, "--index", index_dir, *FAKE, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == CRAWL_KEYS
    assert out["version"] == 1 and out["model"] == "test-hash-64" and out["index"] == str(index_dir)
    assert out["documents"] == {"total": 2, "changed": ["deploy.md", "oncall.md"], "removed": [], "renamed": []}
    assert out["sections"] == {"new": 4, "changed": 0, "unchanged": 0, "removed": 0}
    assert (out["embedded"], out["versions_added"], out["index_count"], out["index_rebuilt"]) == (4, 4, 4, True)
    assert [(w["path"], w["message"]) for w in out["warnings"]] == [("empty.md", "empty.md: skipped, the file is empty")]
    assert isinstance(out["seconds"], float) and out["seconds"] > 0
    assert out["sources"] == [{"name": "wiki", "kind": "folder", "root": str(wiki.resolve())}]
    assert r.stdout == json.dumps(out, indent=2, sort_keys=True) + "\n"  # sorted keys, nothing else on stdout
    # a test embedder has no ONNX export: crawl and queries use the embedder itself (#14)
    assert out["engine"] == {"crawl": "sentence-transformers", "query": "sentence-transformers",
                             "export": {"status": "skipped", "reason": "not a sentence-transformers model",
                                        "verified": None, "exporter": None}}

    again = json.loads(cli("crawl", wiki, "--index", index_dir, *FAKE, "--json").stdout)
    assert again["sections"] == {"new": 0, "changed": 0, "unchanged": 4, "removed": 0}
    assert (again["embedded"], again["documents"]["changed"], again["index_rebuilt"]) == (0, [], False)


def test_crawl_text_summary_and_warnings(cli, wiki, index_dir):
    r = cli("crawl", wiki, "--index", index_dir, *FAKE)
    assert r.exit_code == 0, r.stderr
    assert re.fullmatch(
        rf"crawled 1 source\(s\) into {re.escape(str(index_dir))}: 2 documents; sections 4 new, 0 changed, "
        r"0 unchanged, 0 removed; 4 embedded; 4 versions recorded; 1 warnings; \d+\.\ds\n", r.stdout)
    assert r.stderr == "warning: empty.md: skipped, the file is empty\n"


def test_crawl_json_after_edits(cli, wiki, index_dir):
    cli("crawl", wiki, "--index", index_dir, *FAKE)
    (wiki / "deploy.md").write_text("# Deploy\n\nIntro.\n\n## Steps\n\nrun make all\n")
    (wiki / "oncall.md").unlink()
    out = json.loads(cli("crawl", wiki, "--index", index_dir, *FAKE, "--json").stdout)
    assert out["documents"] == {"total": 1, "changed": ["deploy.md"], "removed": ["oncall.md"], "renamed": []}
    assert out["sections"] == {"new": 0, "changed": 1, "unchanged": 1, "removed": 2}
    assert (out["embedded"], out["index_count"]) == (1, 2)


def test_source_names_and_env_index(cli, wiki, tmp_path):
    r = cli("crawl", wiki, "--name", "runbooks", *FAKE, "--json", env={"WIKICHECK_INDEX": str(tmp_path / "envidx")})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["sources"][0]["name"] == "runbooks"
    with Store.open(tmp_path / "envidx") as st:
        assert {s["source"] for s in st.sections()} == {"runbooks"}


# --------------------------------------------------------------------------- status


def test_status_json(cli, wiki, index_dir):
    cli("crawl", wiki, "--index", index_dir, *FAKE)
    r = cli("status", "--index", index_dir, "--json")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert set(info) == {"version", "index", "model", "dim", "sources", "counts", "timestamp_sources", "manifest",
                         "index_up_to_date", "index_health", "last_crawl", "query_engine"}
    assert (info["version"], info["model"], info["dim"], info["index_up_to_date"]) == (1, "test-hash-64", 64, True)
    assert info["counts"] == {"documents": 2, "documents_removed": 0, "documents_history_only": 0, "sections": 4,
                              "sections_removed": 0, "sections_history_only": 0, "section_versions": 4,
                              "embeddings": 4, "crawls": 1}
    assert info["timestamp_sources"] == {"mtime": 4}
    assert info["manifest"]["count"] == 4 and info["manifest"]["model_id"] == "test-hash-64"
    assert (info["last_crawl"]["status"], info["last_crawl"]["warnings"]) == ("ok", 1)
    assert [(s["name"], s["kind"]) for s in info["sources"]] == [("wiki", "folder")]


def test_status_text_and_out_of_date(cli, wiki, index_dir):
    cli("crawl", wiki, "--index", index_dir, *FAKE)
    lines = cli("status", "--index", index_dir).stdout.splitlines()
    assert lines[0] == f"index      {index_dir}"
    assert lines[1] == "model      test-hash-64 (64 dims)"
    assert lines[2] == f"source     wiki: folder {wiki.resolve()}"
    assert lines[3:7] == ["documents  2 live, 0 removed", "sections   4 live, 0 removed, 4 versions",
                          "embeddings 4", "dates from mtime 4"]
    assert lines[7].startswith("faiss      4 vectors, 64 dims, built ") and lines[7].endswith(", up to date")
    assert lines[8] == "queries    embedded with test-hash-64 (a test embedder)"  # the query engine (#14)
    assert re.fullmatch(r"last crawl #1 ok at \S+, \d+\.\ds, 1 warnings", lines[9])
    (index_dir / "manifest.json").write_text(
        json.dumps({**json.loads((index_dir / "manifest.json").read_text()), "state": "stale"}))
    assert "OUT OF DATE" in cli("status", "--index", index_dir).stdout


def test_status_without_an_index(cli, tmp_path):
    r = cli("status", "--index", tmp_path / "none")
    assert r.exit_code == 3
    assert 'no wikicheck store at' in one_error_line(r) and "wikicheck crawl" in r.stderr


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("source", ["does/not/exist", "missing-wiki"])
def test_missing_source(cli, index_dir, source):
    r = cli("crawl", source, "--index", index_dir, *FAKE)
    assert r.exit_code == 3
    assert one_error_line(r) == f"error: {source}: no such file or directory; check the path"
    assert r.stdout == ""
    assert not index_dir.exists()


@pytest.mark.parametrize("args", [("crawl", "--help"), ("status", "--help")])
def test_help_exits_0(cli, args):
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    assert "Usage:" in r.stdout and r.stderr == ""


# typer 0.29 raises usage errors from its vendored click (typer.exceptions.TyperException); they must
# keep exit code 2, not take the "unexpected" branch (exit 4).
@pytest.mark.parametrize("args", [("crawl",), ("crawl", ".", "--no-such-flag")])
def test_usage_errors_exit_2(cli, args):
    r = cli(*args)
    assert r.exit_code == 2, r.stderr
    assert "unexpected" not in r.stderr


def test_unknown_kind(cli, wiki, index_dir):
    r = cli("crawl", wiki, "--index", index_dir, "--kind", "svn", *FAKE)
    assert r.exit_code == 3
    assert "unknown source kind 'svn' (known: folder, git" in one_error_line(r)


def test_bad_config(cli, wiki, index_dir, tmp_path):
    cfg = tmp_path / "wikicheck.toml"
    cfg.write_text('[crawl]\nmax-file-bytes = "5MB"\n')
    r = cli("crawl", wiki, "--index", index_dir, "--config", cfg, *FAKE)
    assert r.exit_code == 3
    assert 'option "max-file-bytes" of [crawl] should be int' in one_error_line(r)
    cfg.write_text("[crawl]\nmax-file-bytes = 10\n")
    out = json.loads(cli("crawl", wiki, "--index", index_dir, "--config", cfg, *FAKE, "--json").stdout)
    assert sorted(w["path"] for w in out["warnings"]) == ["deploy.md", "empty.md", "oncall.md"]


def test_locked_index(cli, wiki, index_dir):
    with IndexLock(index_dir, "crawl"):
        r = cli("crawl", wiki, "--index", index_dir, *FAKE)
    assert r.exit_code == 3
    line = one_error_line(r)
    assert f"index {index_dir} is locked by another run (crawl, pid {os.getpid()})" in line
    assert not (index_dir / "wikicheck.db").exists()
    assert cli("crawl", wiki, "--index", index_dir, *FAKE).exit_code == 0  # released


def test_locked_index_across_processes(wiki, index_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIKICHECK_")}
    with IndexLock(index_dir, "crawl"):
        proc = subprocess.run([sys.executable, "-m", "wikicheck", "crawl", str(wiki), "--index", str(index_dir), *FAKE],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: ") and "is locked by another run" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_model_mismatch_and_reembed(cli, wiki, index_dir):
    assert cli("crawl", wiki, "--index", index_dir, "--model", "test-hash-64").exit_code == 0
    r = cli("crawl", wiki, "--index", index_dir, "--model", "test-hash-32")
    assert r.exit_code == 3
    assert one_error_line(r) == (f'error: index {index_dir} was embedded with "test-hash-64", not "test-hash-32"; '
                                 'use --model "test-hash-64", or re-embed everything with --reembed')
    r = cli("crawl", wiki, "--index", index_dir, "--model", "test-hash-32", "--reembed", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["embedded"] == 4
    m = Manifest.read(index_dir)
    assert (m.model_id, m.dim, m.count) == ("test-hash-32", 32, 4)
    info = json.loads(cli("status", "--index", index_dir, "--json").stdout)
    assert (info["model"], info["dim"], info["index_up_to_date"]) == ("test-hash-32", 32, True)


def test_model_option_beats_the_environment(cli, wiki, index_dir):
    # regression: $WIKICHECK_MODEL silently overrode --model
    r = cli("crawl", wiki, "--index", index_dir, "--model", "test-hash-64", "--json",
            env={"WIKICHECK_MODEL": "test-hash-32"})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model"] == "test-hash-64"
    # without --model the environment is used, and here it no longer matches the index
    r = cli("crawl", wiki, "--index", index_dir, env={"WIKICHECK_MODEL": "test-hash-32"})
    assert r.exit_code == 3 and '"test-hash-64", not "test-hash-32"' in r.stderr
