"""What the service's /health reads (status.serving_status): the counts and the index digest, which
scan every section, only when a crawl or an index build happened since the last read; the same
answer as `wikicheck status` otherwise. Real folder wiki, real SQLite and faiss files."""

from __future__ import annotations

import os

import pytest
from helpers import write_files

from wikicheck.crawl import crawl
from wikicheck.embed import HashEmbedder
from wikicheck.index import MANIFEST_NAME
from wikicheck.status import index_status, serving_status
from wikicheck.store import Store

PAGES = {
    "db/restart.md": "# Restart\n\n## Steps\n\nRun `systemctl restart pgbouncer` on db-01.\n",
    "db/failover.md": "# Failover\n\n## Steps\n\nPromote the replica with `pg_ctl promote`.\n",
}


@pytest.fixture
def wiki(tmp_path):
    root = tmp_path / "wiki"
    write_files(root, PAGES)
    crawl([str(root)], tmp_path / "idx", embedder=HashEmbedder(64))
    return root


@pytest.fixture
def scans(monkeypatch):
    """How many times the counts and the index digest were read."""
    calls: list[str] = []
    counts, state = Store.counts, Store.index_state
    monkeypatch.setattr(Store, "counts", lambda self: calls.append("counts") or counts(self))
    monkeypatch.setattr(Store, "index_state", lambda self, m: calls.append("index_state") or state(self, m))
    return calls


def test_counts_are_read_once_while_nothing_is_crawled(wiki, tmp_path, scans):
    idx = tmp_path / "idx"
    first = serving_status(idx)
    assert scans == ["counts", "index_state"]
    full = index_status(idx)
    assert {k: first[1][k] for k in ("model", "dim", "counts", "index_up_to_date", "last_crawl")} == \
        {k: full[k] for k in ("model", "dim", "counts", "index_up_to_date", "last_crawl")}
    scans.clear()
    again = serving_status(idx, first)
    assert scans == [] and again == first


def test_a_crawl_makes_the_next_read_count_again(wiki, tmp_path, scans):
    idx = tmp_path / "idx"
    first = serving_status(idx)
    write_files(wiki, {"db/vacuum.md": "# Vacuum\n\n## Steps\n\nRun `vacuumdb --all --analyze`.\n"})
    crawl([str(wiki)], idx, embedder=HashEmbedder(64))
    scans.clear()
    key, st = serving_status(idx, first)
    assert scans == ["counts", "index_state"] and key != first[0]
    assert st["counts"]["documents"] == first[1]["counts"]["documents"] + 1
    assert st["last_crawl"]["id"] == first[1]["last_crawl"]["id"] + 1 and st["index_up_to_date"]


def test_a_crawl_that_changes_nothing_still_counts_again(wiki, tmp_path, scans):
    """A new crawl row is a new key, whatever it wrote: the counts are never older than the last crawl."""
    idx = tmp_path / "idx"
    first = serving_status(idx)
    crawl([str(wiki)], idx, embedder=HashEmbedder(64))
    scans.clear()
    key, st = serving_status(idx, first)
    assert scans == ["counts", "index_state"] and st["counts"] == {**first[1]["counts"], "crawls": 2}


def test_an_index_build_makes_the_next_read_check_the_index_again(wiki, tmp_path, scans):
    idx = tmp_path / "idx"
    first = serving_status(idx)
    manifest = idx / MANIFEST_NAME
    st = manifest.stat()
    os.utime(manifest, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))  # as a rebuild rewrites it
    scans.clear()
    second = serving_status(idx, first)
    assert scans == ["counts", "index_state"] and second[0] != first[0] and second[1] == first[1]
    manifest.unlink()  # no index at all: not up to date, and said at once
    scans.clear()
    third = serving_status(idx, second)
    assert "index_state" not in scans and third[1]["index_up_to_date"] is False


def test_the_service_reads_its_status_with_one_connection_of_its_own(wiki, tmp_path, scans, monkeypatch):
    from wikicheck.guard import Guard, GuardConfig
    from wikicheck.service import HealthCache

    idx = tmp_path / "idx"
    guard = Guard(idx, embedder=HashEmbedder(64), config=GuardConfig(record_events=False))
    opened: list[str] = []
    real_open = Store.open.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Store, "open", classmethod(lambda cls, *a, **k: opened.append("open") or real_open(cls, *a, **k)))
    cache = HealthCache(guard)
    try:
        first = cache.read()
        assert isinstance(first, dict) and first["counts"]["documents"] == len(PAGES)
        scans.clear()
        for _ in range(3):
            assert cache.read() == first
        assert opened == ["open"] and scans == []  # opened once; counted once
        write_files(wiki, {"db/vacuum.md": "# Vacuum\n\n## Steps\n\nRun `vacuumdb --all`.\n"})
        crawl([str(wiki)], idx, embedder=HashEmbedder(64))
        opened.clear()
        after = cache.read()  # the crawl is seen through the same connection
        assert isinstance(after, dict) and after["counts"]["documents"] == len(PAGES) + 1 and opened == []
    finally:
        cache.close()
        guard.close()


def test_closing_waits_for_a_read_in_progress_and_later_reads_open_nothing(wiki, tmp_path, monkeypatch, caplog):
    """The service stops while a refresh thread reads the status: the connection is closed after that read,
    never under it (which logged "Cannot operate on a closed database"), and nothing opens another."""
    import threading

    import wikicheck.service as service
    from wikicheck.guard import Guard, GuardConfig

    guard = Guard(tmp_path / "idx", embedder=HashEmbedder(64), config=GuardConfig(record_events=False))
    cache = service.HealthCache(guard, max_age=0.0)
    first = cache.read()
    assert isinstance(first, dict)
    entered, release = threading.Event(), threading.Event()
    real_health = service.health

    def slow_health(*args):  # type: ignore[no-untyped-def]
        entered.set()
        assert release.wait(10)
        return real_health(*args)

    monkeypatch.setattr(service, "health", slow_health)
    assert cache.get() == first  # old: starts a read in a thread of its own
    assert entered.wait(10)
    store = cache._store
    closer = threading.Thread(target=cache.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive()  # waits for the read
    release.set()
    closer.join(10)
    assert not closer.is_alive() and cache._store is None
    with pytest.raises(Exception, match="closed"):
        store.db.execute("select 1")  # the read's connection, closed after the read
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    opened: list[str] = []
    monkeypatch.setattr(Store, "open", classmethod(lambda cls, *a, **k: opened.append("open")))
    assert isinstance(cache.read(), dict) and cache.get() is not None and opened == []
    guard.close()
