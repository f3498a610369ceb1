"""The CLI's rough edges from issue #12: a closed pipe, --version, search's no-query message, readable
help, how a crawl stopped by a signal is recorded and reported, and progress bars that complete."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import D2022, D2023, D2024, make_big_repo, read_count, store_db, write_files
from typer.main import get_command

from wikicheck.cli import app
from wikicheck.crawl import crawl
from wikicheck.embed import HashEmbedder
from wikicheck.readers import crawl_state
from wikicheck.store import Store

MODEL = "test-hash-64"
N_FILES, N_SECTIONS, N_COMMITS = 150, 6, 3  # enough pages left to stop in the middle of the page writes


def env(**extra: str) -> dict[str, str]:
    """The test's environment without WIKICHECK_* settings (the conftest sets WIKICHECK_HOME)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("WIKICHECK_") or k == "WIKICHECK_HOME"}
    return {**keep, "HF_HUB_OFFLINE": "1", **extra}


def wikicheck(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "wikicheck", *map(str, args)]


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory) -> Path:
    return make_big_repo(tmp_path_factory.mktemp("big") / "runbooks", N_FILES, N_SECTIONS, N_COMMITS)


@pytest.fixture(scope="module")
def checked_index(tmp_path_factory) -> Path:
    """150 stale pages crawled and checked once: every command has something to print."""
    root = tmp_path_factory.mktemp("stale") / "wiki"
    for i in range(150):
        parts = "".join(f"\n## Part {s}\n\nStep {s} of page {i}: run `tool-{i} --part {s}`.\n" for s in range(3))
        page = f"---\nupdated: 2020-0{1 + i % 9}-15\n---\n# Page {i}\n{parts}"
        write_files(root, {f"team{i % 10}/page{i:03d}.md": page})
    index = tmp_path_factory.mktemp("checked") / "index"
    crawl([str(root)], index, embedder=HashEmbedder(64))
    proc = subprocess.run(wikicheck("check", "--index", index, "-f", "json"), env=env(), capture_output=True,
                          check=False)
    assert proc.returncode in (0, 1), proc.stderr
    assert len(proc.stdout) > 100_000  # more than a pipe and stdout's buffer hold: the writer meets the closed pipe
    return index


# --------------------------------------------------------------------------- 1. a closed pipe


def into_closed_pipe(args: list[str], read: int) -> tuple[int, bytes, bytes]:
    """Run wikicheck with stdout into a pipe whose reader reads `read` bytes and goes away (`| head -c`)."""
    r, w = os.pipe()
    proc = subprocess.Popen(args, stdout=w, stderr=subprocess.PIPE, env=env())
    os.close(w)
    got = b""
    while len(got) < read:
        chunk = os.read(r, read - len(got))
        if not chunk:
            break
        got += chunk
    os.close(r)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, got, err


def test_check_into_head_ends_quietly(checked_index):
    code, got, err = into_closed_pipe(wikicheck("check", "-f", "json", "--index", checked_index), 100)
    assert got.startswith(b"{") and len(got) == 100
    assert (code, err) == (141, b"")


@pytest.mark.parametrize("args", [
    ["check", "-i"], ["check", "-f", "jsonl", "-i"], ["rules"], ["rules", "--json"], ["status", "-i"],
    ["status", "--json", "-i"], ["report", "-i"], ["report", "--format", "json", "-i"],
    ["search", "restart the deploy", "--no-events", "-i"], ["--version"],
])
def test_every_command_into_a_closed_pipe_ends_quietly(checked_index, args):
    # the reader is gone before the first byte: whatever the command prints meets the closed pipe,
    # in a write or in the flush at exit
    args = [*args, checked_index] if args[-1] == "-i" else args
    code, _, err = into_closed_pipe(wikicheck(*args), 0)
    assert (code, err.decode()) == (141, "")


# --------------------------------------------------------------------------- 2. --version


def test_version_comes_from_the_installed_package(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"wikicheck {importlib.metadata.version('wikicheck')}\n"
    assert re.fullmatch(r"wikicheck \d+\.\d+\.\d+\S*\n", result.stdout)


# --------------------------------------------------------------------------- 3. search without a query


def test_search_says_which_query_is_missing_or_extra(cli, tmp_path):
    none = cli("search")
    assert none.exit_code == 2
    assert "no query given: give a QUERY or --queries-file FILE" in none.stderr
    assert "not both" not in none.stderr
    queries = tmp_path / "q.txt"
    queries.write_text("restart\n")
    both = cli("search", "restart", "--queries-file", queries)
    assert both.exit_code == 2
    assert "both a QUERY and --queries-file given" in both.stderr


# --------------------------------------------------------------------------- 4. readable help

COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]
FILTER_STDIN = '{"chunks": [...]}'  # filter's documented stdin shape: JSON, not a type


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_no_python_types(cli, command):
    result = cli(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.stderr
    text = result.stdout.replace(FILTER_STDIN, "")
    for bad in ("list[", "<", "{", "}"):
        assert bad not in text, f"{bad!r} in the help of {command or 'wikicheck'}:\n{result.stdout}"


def test_help_names_values_in_words(cli):
    crawl_help = cli("crawl", "--help").stdout
    assert "Usage: " in crawl_help and " crawl [OPTIONS] SOURCE...\n" in crawl_help
    assert re.search(r"^  SOURCE\.\.\.\s+Folders", crawl_help, re.MULTILINE)
    assert re.search(r"^  -i, --index DIR\s", crawl_help, re.MULTILINE)
    assert re.search(r"^  --allow-host HOST\s", crawl_help, re.MULTILINE)
    search_help = cli("search", "--help").stdout
    assert " search [OPTIONS] [QUERY]\n" in search_help
    assert re.search(r"^  -k N\s+Number of results \(1-100\)\.\s+\[default: 5; 1 to 100\]", search_help, re.MULTILINE)
    assert re.search(r"^  --queries-file FILE\s", search_help, re.MULTILINE)


# --------------------------------------------------------------------------- 5. a crawl stopped by a signal


# SIGINT as in a terminal even when the tests run in the background (where it is ignored, and inherited)
WITH_SIGINT = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "runpy.run_module('wikicheck', run_name='__main__')")


def start(args: list[str], cwd: Path, **extra: str) -> subprocess.Popen:
    assert args[:3] == wikicheck()
    return subprocess.Popen([sys.executable, "-c", WITH_SIGINT, *args[3:]], cwd=cwd, env=env(**extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def signal_at_documents(proc: subprocess.Popen, index: Path, sig: int, n: int = 40, timeout: float = 120) -> None:
    """Send `sig` once the crawl has written `n` pages (so it lands in the page writes on any machine)."""
    db, deadline = store_db(index), time.monotonic() + timeout
    while read_count(db, "select count(*) from documents where known_from = 'crawl'") < n:  # not the history's
        if proc.poll() is not None:
            pytest.fail(f"the crawl ended (exit {proc.returncode}) before it wrote {n} pages: {proc.stderr.read()!r}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the crawl never wrote {n} pages")
        time.sleep(0.005)
    os.kill(proc.pid, sig)


def statuses(index: Path) -> list[str]:
    with Store.open(index) as st:
        return [r[0] for r in st.db.execute("select status from crawls order by id")]


def status_of(index: Path) -> tuple[str, str]:
    """(the last crawl line of `wikicheck status`, last_crawl.status of `wikicheck status --json`)."""
    text, data = (subprocess.run(wikicheck("status", "--index", index, *json_), env=env(), capture_output=True,
                                 check=False, text=True) for json_ in ([], ["--json"]))
    assert text.returncode == 0 and data.returncode == 0, text.stderr + data.stderr
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith("last crawl"))
    return line, json.loads(data.stdout)["last_crawl"]["status"]


@pytest.mark.parametrize("sig, code, said, status, line", [
    (signal.SIGTERM, 143, "terminated", "terminated", "last crawl #1 terminated (SIGTERM) at "),
    (signal.SIGINT, 130, "interrupted", "interrupted", "last crawl #1 interrupted (Ctrl-C, SIGINT) at "),
])
def test_a_crawl_stopped_by_a_signal_says_so_and_status_agrees(big_repo, tmp_path, sig, code, said, status, line):
    index = tmp_path / "index"
    proc = start(wikicheck("crawl", big_repo, "--index", index, "--model", MODEL, "--quiet"), tmp_path)
    signal_at_documents(proc, index, sig)
    assert proc.wait(timeout=60) == code
    assert proc.stderr.read().decode() == f"{said}\n"
    assert statuses(index) == [status]
    shown, shown_json = status_of(index)
    assert shown.startswith(line) and shown.endswith('did not finish: run "wikicheck crawl" again to complete it')
    assert shown_json == status
    with Store.open(index) as st:
        state = crawl_state(st)
        # a clean stop between pages: every page written has all its sections
        pages = st.db.execute("select count(*) from documents where known_from = 'crawl'").fetchone()[0]
        sections = st.db.execute("select count(*) from sections where known_from = 'crawl'").fetchone()[0]
    assert (state.status, state.running, state.complete, state.partial) == (status, False, False, True)
    assert 40 <= pages < N_FILES and sections == pages * (N_SECTIONS + 1)
    # readers refuse the half-crawled index, and the next crawl completes it
    refused = subprocess.run(wikicheck("check", "--index", index), env=env(), capture_output=True, check=False,
                             text=True)
    assert refused.returncode == 3 and f"did not finish ({status})" in refused.stderr
    again = crawl([str(big_repo)], index, embedder=HashEmbedder(64))
    assert again.warnings == [] and statuses(index) == [status, "ok"]
    with Store.open(index) as st:
        assert st.db.execute("select count(*) from sections where removed_at is null").fetchone()[0] == \
            N_FILES * (N_SECTIONS + 1)


def test_nightly_stopped_by_sigterm_marks_its_crawl_terminated(big_repo, tmp_path):
    index = tmp_path / "index"
    proc = start(wikicheck("nightly", big_repo, "--index", index, "-o", tmp_path / "reports"), tmp_path,
                 WIKICHECK_MODEL=MODEL)
    signal_at_documents(proc, index, signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert proc.stderr.read().decode() == "terminated\n"
    assert statuses(index) == ["terminated"]
    assert not (tmp_path / "reports").exists()


def test_status_of_a_killed_crawl_is_killed_not_running(big_repo, tmp_path):
    index = tmp_path / "index"
    proc = start(wikicheck("crawl", big_repo, "--index", index, "--model", MODEL, "--quiet"), tmp_path)
    signal_at_documents(proc, index, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert statuses(index) == ["running"]  # nobody could write more
    shown, shown_json = status_of(index)
    assert shown.startswith("last crawl #1 killed (its process died without a word) at ")
    assert shown_json == "killed"


# --------------------------------------------------------------------------- 6. progress


@pytest.fixture
def small_repo(git_repo) -> Path:
    return git_repo(
        (D2022, {"a.md": "# A\n\none\n", "b.md": "# B\n\none\n"}),
        (D2023, {"a.md": "# A\n\ntwo\n", "run.sh": "echo\n"}),
        (D2024, {"run.sh": "echo two\n"}),  # no page changes: the history still counts it as read
        (D2024, {"b.md": "# B\n\nthree\n"}),
    )


def test_history_progress_counts_commits_to_the_end(small_repo, tmp_path):
    calls: list[tuple[str, int, int]] = []
    crawl([str(small_repo)], tmp_path / "index", embedder=HashEmbedder(64),
          progress=lambda phase, done, total: calls.append((phase, done, total)))
    history = [(done, total) for phase, done, total in calls if phase == "history"]
    assert history and {total for _, total in history} == {4}
    assert history[0] == (0, 4) and history[-1] == (4, 4)
    assert [done for done, _ in history] == sorted(done for done, _ in history)


def test_progress_bars_complete_and_show_an_eta(small_repo, tmp_path):
    # a real terminal on stderr: the bars are drawn, and the last frame drawn holds every bar at its end
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(wikicheck("crawl", small_repo, "--index", tmp_path / "index", "--model", MODEL),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
                            env=env(COLUMNS="120", TERM="xterm"))
    os.close(secondary)
    drawn, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        if not select.select([primary], [], [], 1)[0]:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the crawl closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode("utf-8", "replace"))
    # frames follow each other with only cursor moves between them: the last one drawn of each bar
    bars = r"(?P<bar>history|pages|embedding) +\S+ +(?P<count>\S+) +(?P<elapsed>\S+)(?P<eta> eta \S+)?"
    last = {m["bar"]: m for m in re.finditer(bars, text)}
    assert last["history"]["count"] == "4/4", text  # all 4 commits read, one of them changed no page
    embedding = last["embedding"]
    assert re.fullmatch(r"(\d+)/\1", embedding["count"]) and embedding["eta"] == " eta 0:00:00", text
