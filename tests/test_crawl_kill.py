"""SIGKILL a real `wikicheck crawl` process part way, crawl again, and get what a clean crawl gets.

The repo: 300 pages x 7 sections, 3 commits of history 200 days apart (a few seconds of crawling).
Kill points are either a delay after start or a state of the store another process can see (so they
land in the history import, the page writes or the embedding phase whatever the machine's speed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import Snapshot, assert_index_consistent, make_big_repo, read_count, snapshot, store_db

from wikicheck.crawl import crawl
from wikicheck.embed import HashEmbedder
from wikicheck.store import Store

MODEL = "test-hash-64"
N_FILES, N_SECTIONS, N_COMMITS = 300, 6, 3
TRIGGERS = {
    "versions": "select count(*) from section_versions",  # history import
    "documents": "select count(*) from documents where known_from = 'crawl'",  # pages (not the history's rows)
    "embeddings": "select count(*) from embeddings",  # embedding, then the index
}


@pytest.fixture(scope="session")
def big_repo(tmp_path_factory) -> Path:
    return make_big_repo(tmp_path_factory.mktemp("big") / "runbooks", N_FILES, N_SECTIONS, N_COMMITS)


@pytest.fixture(scope="session")
def clean(big_repo, tmp_path_factory) -> Snapshot:
    """One uninterrupted crawl of the big repo into a fresh index."""
    index = tmp_path_factory.mktemp("clean") / "index"
    crawl([str(big_repo)], index, embedder=HashEmbedder(64))
    snap = snapshot(index)
    # the repo is what the kill points assume: every page has 7 sections (an H1 and 6 steps),
    # 3 commits rewrite all pages, then every 2nd, then every 3rd page
    assert len(snap.live) == N_FILES * (N_SECTIONS + 1)
    commit_events = N_FILES + N_FILES // 2 + N_FILES // 3
    assert len(snap.versions) > commit_events
    return snap


def start(repo: Path, index: Path | str, cwd: Path) -> subprocess.Popen:
    """`wikicheck crawl` of `repo` as a process: into an index directory, or a PostgreSQL store (a URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIKICHECK_")}
    where = ["--store", index] if isinstance(index, str) else ["--index", str(index)]
    with open(cwd / "crawl.err", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "wikicheck", "crawl", str(repo), *where, "--model", MODEL, "--quiet"],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)


def kill_at(proc: subprocess.Popen, index: Path | str, what: str, n: float, timeout: float = 120) -> None:
    """SIGKILL `proc` after a delay, or once a count in the store it writes (an index directory, or a
    PostgreSQL store's URL) reaches n."""
    if what == "delay":
        time.sleep(n)
    else:
        deadline = time.monotonic() + timeout
        count = (lambda sql: pg_count(index, sql)) if isinstance(index, str) else \
            (lambda sql, db=store_db(index): read_count(db, sql))
        while count(TRIGGERS[what]) < n:
            if proc.poll() is not None:
                pytest.fail(f"the crawl ended (exit {proc.returncode}) before {what} reached {n}")
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{what} never reached {n}")
            time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the crawl had already finished when it was killed"


def assert_same_as_clean(index: Path, clean: Snapshot) -> None:
    got = snapshot(index)
    assert got.live == clean.live  # same section ids and content hashes
    assert got.removed == clean.removed
    assert got.documents == clean.documents
    dupes = [v for v, n in Counter(got.versions).items() if n > 1]
    assert dupes == [], f"{len(dupes)} versions recorded twice, e.g. {dupes[:2]}"
    assert Counter(got.versions) == Counter(clean.versions)
    assert got.last_commit == clean.last_commit
    assert assert_index_consistent(index, MODEL) == len(clean.live)
    assert [p.name for p in index.iterdir() if p.name.endswith(".tmp")] == []
    with Store.open(index) as st:
        assert st.db.execute("select count(*) from warnings").fetchone()[0] == 0
        assert st.db.execute("select count(*) from meta where key like 'history:%'").fetchone()[0] <= 1


def crawl_statuses(index: Path) -> list[str]:
    with Store.open(index) as st:
        return [r[0] for r in st.db.execute("select status from crawls order by id")]


@pytest.mark.parametrize("what, n", [
    ("delay", 0.3),  # starting up: before or while the store is created
    ("delay", 1.5),  # wherever that is on this machine
    ("versions", 200),  # in the history import
    ("documents", 40),  # in the page writes
    ("embeddings", 1),  # embedding or writing the index
])
def test_killed_crawl_resumes_to_the_clean_result(big_repo, clean, tmp_path, what, n):
    index = tmp_path / "index"
    kill_at(start(big_repo, index, tmp_path), index, what, n)
    resumed = crawl([str(big_repo)], index, embedder=HashEmbedder(64))
    assert resumed.warnings == []
    assert_same_as_clean(index, clean)
    statuses = crawl_statuses(index)
    if what == "delay":  # the first run may have died before it recorded itself
        assert statuses in (["ok"], ["killed", "ok"])
    else:
        assert statuses == ["killed", "ok"]


def test_killed_twice_then_finished_by_the_cli(big_repo, clean, tmp_path):
    index = tmp_path / "index"
    # the first commit records 2100 versions: past that, replaying history from the start (instead of
    # from the checkpoint) would close and reopen versions, so this point checks the checkpoint
    kill_at(start(big_repo, index, tmp_path), index, "versions", N_FILES * (N_SECTIONS + 1) + 60)
    kill_at(start(big_repo, index, tmp_path), index, "documents", 250)  # late in the page writes
    last = start(big_repo, index, tmp_path)
    assert last.wait(timeout=300) == 0, (tmp_path / "crawl.err").read_text()
    assert_same_as_clean(index, clean)
    assert crawl_statuses(index) == ["killed", "killed", "ok"]
    # and a crawl after that finds nothing to do
    again = crawl([str(big_repo)], index, embedder=HashEmbedder(64))
    assert (again.sections_new, again.sections_changed, again.sections_embedded, again.versions_added) == (0, 0, 0, 0)
    assert again.history_events == 0 and again.index_rebuilt is False


# --------------------------------------------------------------------------- a PostgreSQL store (#15)


def pg_count(url: str, sql: str) -> int:
    """A count from the PostgreSQL store a crawl is writing; 0 before its tables exist."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except psycopg.Error:
        return 0


@pytest.mark.parametrize("what, n", [("versions", 200), ("documents", 40), ("embeddings", 1)])
def test_killed_crawl_of_a_postgresql_store_resumes_to_the_clean_result(big_repo, clean, tmp_path, pg_url, what, n):
    """The same kill points on a PostgreSQL store: the server rolls back the dead session's open
    transaction and releases its lock; the next crawl takes over and gets the clean crawl's store."""
    from wikicheck.index_pg import pg_manifest

    kill_at(start(big_repo, pg_url, tmp_path), pg_url, what, n)
    resumed = crawl([str(big_repo)], pg_url, embedder=HashEmbedder(64))
    assert resumed.warnings == []
    got = snapshot(pg_url)  # type: ignore[arg-type]
    assert (got.live, got.removed, got.documents) == (clean.live, clean.removed, clean.documents)
    assert Counter(got.versions) == Counter(clean.versions)
    assert got.last_commit == clean.last_commit
    with Store.open(pg_url) as st:
        assert [r[0] for r in st.db.execute("select status from crawls order by id")] == ["killed", "ok"]
        missing = st.db.execute("select count(*) from sections s where s.removed_at is null and not exists (select 1 "
                                "from embeddings e where e.content_hash = s.content_hash and e.model_id = ?)",
                                [MODEL]).fetchone()[0]
        assert missing == 0
        manifest = pg_manifest(st, MODEL)
        assert manifest is not None and manifest.count == len(clean.live)
