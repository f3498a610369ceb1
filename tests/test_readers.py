"""Readers see the last completed crawl, never a half-written one (issue 11, point 16).

A real `wikicheck crawl` process is stopped part way (SIGSTOP: a crawl that is running) or killed
(SIGKILL: a crawl that died) in the page writes; then `check`, `search` and the guard are asked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import commit, make_big_repo, read_count, store_db

from wikicheck.crawl import crawl
from wikicheck.embed import HashEmbedder
from wikicheck.guard import Guard
from wikicheck.readers import CrawlUnfinished, IndexBusy, crawl_state
from wikicheck.store import Store

MODEL = "test-hash-64"


N_PAGES = 300


def _edit_tonight(repo: Path) -> None:
    """Tonight's change to every page: the next crawl has 300 pages to write and embed."""
    commit(repo, {f"pages/p{i:03d}.md": f"# Runbook {i}\n\n## Step 0\n\nChanged tonight: run `deploy --svc {i} --v2`.\n"
                  for i in range(N_PAGES)}, "2024-06-01T10:00:00+00:00", "tonight")


@pytest.fixture(scope="module")
def _built(tmp_path_factory) -> tuple[Path, Path]:
    """Once per module: the 300-page repo, crawled (in process, hashing embedder) into an index, then given
    tonight's edit. The tests only read the repo (the index records its path, so they all crawl this one);
    each gets a copy of the index (`crawled`)."""
    root = tmp_path_factory.mktemp("readers")
    repo = make_big_repo(root / "runbooks", N_PAGES, 6, 2)
    index = _crawled(repo, root / "index")
    _edit_tonight(repo)
    return repo, index


@pytest.fixture
def repo(_built) -> Path:
    """The repo: yesterday's commits, crawled into `crawled`, and tonight's edit, not crawled yet."""
    return _built[0]


@pytest.fixture
def crawled(_built, tmp_path: Path) -> Path:
    """This test's copy of an index with one completed crawl, of the repo before tonight's edit."""
    shutil.copytree(_built[1], tmp_path / "index", ignore=shutil.ignore_patterns(".lock"))
    return tmp_path / "index"


def _wait_for(index: Path, proc: subprocess.Popen, sql: str, n: int) -> None:
    db, deadline = store_db(index), time.monotonic() + 120
    while read_count(db, sql) < n:
        assert proc.poll() is None, f"the crawl ended (exit {proc.returncode}) before {sql} reached {n}"
        assert time.monotonic() < deadline, f"{sql} never reached {n}"
        time.sleep(0.005)


def _crawled(repo: Path, index: Path) -> Path:
    crawl([str(repo)], index, embedder=HashEmbedder(64))
    return index


def _start(repo: Path, index: Path, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIKICHECK_")}
    return subprocess.Popen(
        [sys.executable, "-m", "wikicheck", "crawl", str(repo), "--index", str(index), "--model", MODEL,
         "--quiet"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _in_page_writes(proc: subprocess.Popen, index: Path) -> None:
    """Wait until the crawl has rewritten some pages (the store is now half tonight's)."""
    _wait_for(index, proc, "select count(*) from sections where text like '%tonight%'", 50)


@pytest.fixture
def stopped_crawl(repo: Path, crawled: Path, tmp_path: Path):
    """An index with one completed crawl and a second crawl (of tonight's edit) frozen (SIGSTOP) while it runs."""
    index = crawled
    proc = _start(repo, index, tmp_path)
    _in_page_writes(proc, index)
    os.kill(proc.pid, signal.SIGSTOP)
    yield index, proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_check_refuses_while_a_crawl_runs_and_records_nothing(stopped_crawl, cli):
    index, _ = stopped_crawl
    runs = read_count(store_db(index), "select count(*) from check_runs")
    r = cli("check", "--index", index)
    assert r.exit_code == 3, r.output
    assert "a crawl is writing" in r.stderr and "--wait" in r.stderr
    assert read_count(store_db(index), "select count(*) from check_runs") == runs  # no run recorded


def test_check_waits_for_a_running_crawl_with_wait(stopped_crawl, cli):
    index, proc = stopped_crawl
    # let the crawl go on a little later: check --wait must sit it out, then check the complete store
    threading.Timer(1.0, lambda: os.kill(proc.pid, signal.SIGCONT)).start()
    r = cli("check", "--index", index, "--wait", "300", "--format", "json", "--fail-on", "never")
    assert r.exit_code == 0, r.output
    assert proc.wait(timeout=60) == 0
    with Store.open(index) as st:
        assert crawl_state(st).complete
        last_check = st.db.execute("select max(started_at) from check_runs").fetchone()[0]
        last_crawl_end = st.db.execute("select max(finished_at) from crawls").fetchone()[0]
    # it ran on the finished crawl, not during it (a check during a crawl is refused, exit 3: the test
    # above); both times are whole seconds, and a quick crawl may end in the second the check starts
    assert last_check >= last_crawl_end


def test_check_refuses_after_a_killed_crawl_until_a_crawl_completes(stopped_crawl, repo, cli):
    index, proc = stopped_crawl
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    r = cli("check", "--index", index)
    assert r.exit_code == 3, r.output
    assert "did not finish" in r.stderr and "wikicheck crawl" in r.stderr
    with Store.open(index) as st:
        assert crawl_state(st).status == "killed"
    crawl([str(repo)], index, embedder=HashEmbedder(64))
    assert cli("check", "--index", index, "--fail-on", "never").exit_code == 0


def test_crawl_refused_while_check_holds_the_lock(repo, crawled):
    """check holds the index lock while it reads and records: a crawl cannot start under it."""
    from wikicheck.errors import StoreLocked
    from wikicheck.lock import IndexLock

    index = crawled
    with IndexLock(index, "check"):
        with pytest.raises(StoreLocked, match="check"):
            crawl([str(repo)], index, embedder=HashEmbedder(64))


def test_guard_refuses_to_load_a_half_crawled_store(stopped_crawl):
    index, _ = stopped_crawl
    with pytest.raises(IndexBusy, match="a crawl is writing"):
        Guard(index, embedder=HashEmbedder(64))


def test_guard_keeps_serving_the_completed_crawl_while_the_next_one_runs(repo, crawled, tmp_path):
    index = crawled  # crawled before tonight's edit, which the repo already has
    guard = Guard(index, embedder=HashEmbedder(64))
    try:
        before = {k: (r["id"], r["content_hash"]) for k, r in guard.sections.items()}
        query = "Step 3 for svc7: run deploy --svc 7 --step 3"
        results_before = [(r.section["id"], r.verdict) for r in guard.search(query, k=5)]
        proc = _start(repo, index, tmp_path)
        try:
            _in_page_writes(proc, index)
            os.kill(proc.pid, signal.SIGSTOP)
            assert not guard.refresh()  # nothing completed since it loaded
            guard.reload()  # even when asked to: it keeps the completed state
            assert {k: (r["id"], r["content_hash"]) for k, r in guard.sections.items()} == before
            assert [(r.section["id"], r.verdict) for r in guard.search(query, k=5)] == results_before
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            assert proc.wait(timeout=120) == 0
        assert guard.refresh()  # the crawl completed: now it loads it
        assert any("tonight" in r["text"] for r in guard.sections.values())
    finally:
        guard.close()


def test_search_cli_refuses_a_half_crawled_store(stopped_crawl, cli):
    index, _ = stopped_crawl
    r = cli("search", "step 3", "--index", index)
    assert r.exit_code == 3, r.output
    assert "a crawl is writing" in r.stderr


def test_check_library_refuses_after_a_killed_crawl(stopped_crawl):
    from wikicheck.check import run_checks

    index, proc = stopped_crawl
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with Store.open(index) as st, pytest.raises(CrawlUnfinished):
        run_checks(st)


@pytest.mark.parametrize("command", ["serve", "mcp"])
def test_services_refuse_to_start_on_a_half_crawled_store(stopped_crawl, cli, command):
    index, _ = stopped_crawl
    r = cli(command, "--index", index)
    assert r.exit_code == 3, r.output
    assert "a crawl is writing" in r.stderr and "--wait" in r.stderr
