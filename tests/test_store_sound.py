"""Store.open's quick_check, remembered across processes: a file state that passed is not checked again
by the next command, and any change to the file (a write, damage) makes the next open check it again."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import wikicheck.store.files as files
from wikicheck.errors import StoreDamaged
from wikicheck.store import DB_NAME, Store


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("WIKICHECK_CACHE_DIR", str(d))
    return d


@pytest.fixture
def checks(monkeypatch) -> list[Path]:
    """The store files quick_check read in this process (sqlite3's statement trace)."""
    seen: list[Path] = []
    connect = sqlite3.connect

    def traced(database, *args, **kwargs):  # type: ignore[no-untyped-def]
        conn = connect(database, *args, **kwargs)
        conn.set_trace_callback(lambda sql: seen.append(Path(database)) if "quick_check" in sql else None)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    return seen


def new_process() -> None:
    """What a new process starts with: no store found sound yet (the cache directory aside)."""
    files._SOUND.clear()


def quiet_store(tmp_path: Path, age_s: float = 60.0) -> Path:
    """A store with a few rows whose file (WAL folded in) was last written `age_s` seconds ago."""
    idx = tmp_path / "idx"
    with Store.open(idx, create=True) as st:
        st.db["meta"].insert({"key": "note", "value": "x" * 5000}, replace=True)
        st.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = idx / DB_NAME
    t = time.time() - age_s
    os.utime(db, (t, t))
    return db


def garbage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = os.urandom(4096)
    db.write_bytes(bytes(data))


def test_a_checked_state_is_not_checked_again_by_the_next_process(tmp_path, cache, checks):
    db = quiet_store(tmp_path)
    new_process()
    Store.open(db.parent).close()
    assert checks == [db]  # the first open of this state reads every page
    assert json.loads((cache / files.SOUND_FILE).read_text())[str(db.resolve())] == list(files._file_state(db))
    for _ in range(2):
        new_process()
        Store.open(db.parent).close()
    assert checks == [db]


def test_damage_after_the_check_is_found_by_the_next_process(tmp_path, cache, checks):
    db = quiet_store(tmp_path)
    new_process()
    Store.open(db.parent).close()
    garbage(db)  # a write: the file's mtime moves on
    damaged = db.read_bytes()
    new_process()
    with pytest.raises(StoreDamaged, match="damaged"):
        Store.open(db.parent)
    assert checks == [db, db] and db.read_bytes() == damaged


def test_a_write_by_wikicheck_is_checked_again_too(tmp_path, cache, checks):
    db = quiet_store(tmp_path)
    new_process()
    with Store.open(db.parent) as st:
        st.db["meta"].insert({"key": "other", "value": "y"}, replace=True)
    new_process()
    Store.open(db.parent).close()
    assert checks == [db, db]


def test_a_file_written_just_before_the_check_is_not_remembered(tmp_path, cache, checks):
    """Within QUIET_NS of its last write a later write could carry the same mtime on a filesystem with
    coarse timestamps: such a state is checked by every process until it has been quiet long enough."""
    db = quiet_store(tmp_path, age_s=0)
    for _ in range(2):
        new_process()
        Store.open(db.parent).close()
    assert checks == [db, db]
    assert not (cache / files.SOUND_FILE).exists()


@pytest.mark.parametrize("broken", ["not json", "[1, 2]", None])
def test_an_unusable_cache_means_checking_again(tmp_path, cache, checks, broken):
    db = quiet_store(tmp_path)
    if broken is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("a file where the cache directory should be")
    else:
        cache.mkdir(parents=True)
        (cache / files.SOUND_FILE).write_text(broken)
    for _ in range(2):
        new_process()
        Store.open(db.parent).close()  # never an error for the cache's sake
    assert len(checks) == (2 if broken is None else 1)


def test_remembered_across_real_processes(tmp_path, cache):
    """Two real processes: the second one's open does not run quick_check."""
    db = quiet_store(tmp_path)
    code = (
        "import sqlite3, sys\n"
        "seen = []\n"
        "connect = sqlite3.connect\n"
        "def traced(*a, **k):\n"
        "    c = connect(*a, **k)\n"
        "    c.set_trace_callback(lambda s: seen.append(s) if 'quick_check' in s else None)\n"
        "    return c\n"
        "sqlite3.connect = traced\n"
        "from wikicheck.store import Store\n"
        "Store.open(sys.argv[1]).close()\n"
        "print(len(seen))\n"
    )
    env = {**os.environ, "WIKICHECK_CACHE_DIR": str(cache)}
    runs = [subprocess.run([sys.executable, "-c", code, str(db.parent)], env=env, capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(2)]
    assert runs == ["1", "0"]
