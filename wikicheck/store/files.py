"""The store's file: refusing what is no store, SQLite's quick_check, damage reported as StoreDamaged,
and the read-only look `config` takes before any store is opened."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from ..errors import StoreDamaged, StoreEmpty

# (path -> stat of the file and its WAL) of every store this process found sound with quick_check,
# so that a command opening one store twice (status) pays for the check once
_SOUND: dict[Path, tuple[int, ...]] = {}
_LAST_OPENED: list[Path] = []  # the store file this process opened last, for damage_error()

# Across processes, a file state quick_check passed is remembered in the user's cache directory
# (SOUND_FILE), so that the next command on an unchanged store skips a check that reads every page
# (86 s for a 7.2 GB store whose pages are no longer in the page cache). Only a state whose file and
# WAL had not changed for QUIET_NS before the check is remembered: any later write then gives the
# file a later mtime, whatever the filesystem's timestamp granularity (FAT's is 2 s).
SOUND_FILE = "sound-stores.json"
QUIET_NS = 3_000_000_000
_KEEP = 256  # stores remembered; the oldest is forgotten first

def _refuse_unusable_file(path: Path, index: str | Path, create: bool) -> None:
    """A directory is no store; a 0-byte file is an empty one, which only a crawl may fill (and a
    reader must not migrate into a store that then looks like a clean wiki)."""
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        raise StoreDamaged(f"{path} is a directory, not a wikicheck store; move it aside, or give another --index")
    if not stat.S_ISREG(st.st_mode):
        raise StoreDamaged(f"{path} is not a regular file, not a wikicheck store; move it aside, "
                           "or give another --index")
    wal = path.with_name(path.name + "-wal")
    if st.st_size == 0 and not create and not (wal.exists() and wal.stat().st_size):
        raise StoreEmpty(f'{path} is empty (0 bytes): no crawl has completed; '
                         f'run "wikicheck crawl SOURCE --index {index}"')


_EMPTY = (0,) * 8


def _file_state(path: Path) -> tuple[int, ...]:
    """What changes when the store's content does: the file's and its WAL's identity (device and
    inode), size and mtime. An empty WAL counts as none (closing the last connection deletes it)."""
    out: list[int] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
        except OSError:
            st = None
        out += [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns] if st is not None and st.st_size else [0, 0, 0, 0]
    return tuple(out)


def _sound_file() -> Path:
    from ..userdirs import cache_dir

    return cache_dir() / SOUND_FILE


def _remembered(key: Path, state: tuple[int, ...]) -> bool:
    """True when an earlier process found this very file state sound (SOUND_FILE)."""
    import json

    try:
        known = json.loads(_sound_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(known, dict) and known.get(str(key)) == list(state)


def _remember(key: Path, state: tuple[int, ...], checked_ns: int) -> None:
    """Remember a state quick_check passed, for later processes; only when the file and its WAL had
    been quiet for QUIET_NS before the check began. Best effort: a cache that cannot be written
    (read-only home, full disk) means the next process checks again, nothing worse."""
    import json

    from ..atomic import atomic_write

    if checked_ns - max(state[3::4]) < QUIET_NS:  # the file's and the WAL's mtimes (_file_state)
        return
    f = _sound_file()
    try:
        known = json.loads(f.read_text(encoding="utf-8"))
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    known.pop(str(key), None)  # re-added last: the oldest entries are the ones dropped
    known[str(key)] = list(state)
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(f, json.dumps(dict(list(known.items())[-_KEEP:])).encode())
    except OSError:
        pass


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick_check: every page of the file read once, about 0.1 s per 100 MB of store
    (measured on benchmarks/synth.py stores: 72-189 ms at 20k sections / 95 MB, 0.45-0.66 s at
    100k / 480 MB, on a busy 2-core machine; 86 s at 1M / 7.2 GB when its pages had left the page
    cache). Skipped when this process, or an earlier one (SOUND_FILE), found the same file state
    sound already. Damage is exit 3, and the file is left as it is: it holds the history that no crawl
    can recreate (fixes #11 point 12)."""
    import time

    key = path.resolve()
    state = _file_state(path)
    if _SOUND.get(key) == state or state == _EMPTY:  # checked already, or a new (empty) file
        return
    if _remembered(key, state):  # an earlier process checked this very state
        _SOUND[key] = state
        return
    checked_ns = time.time_ns()
    problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if problem != "ok":
        conn.close()
        raise _damaged(path, problem)
    _SOUND[key] = state
    _remember(key, state, checked_ns)


def _damaged(path: Path, problem: str) -> StoreDamaged:
    problem = " ".join(str(problem).split())[:160]
    return StoreDamaged(f"{path}: damaged ({problem}); move it aside with its -wal and -shm files (it holds the "
                        "history: keep it, or restore it from a backup), then crawl again into a fresh store")


def damage_error(e: BaseException) -> StoreDamaged | None:
    """The StoreDamaged to report for an SQLite error that says the store file is damaged (damage
    quick_check did not see at open, met by a later query), naming the store opened last; else None."""
    if _LAST_OPENED and isinstance(e, sqlite3.DatabaseError) and _corrupt(e, not_a_database=True):
        return _damaged(_LAST_OPENED[-1], str(e))
    return None


def _corrupt(e: sqlite3.DatabaseError, not_a_database: bool = False) -> bool:
    """SQLITE_CORRUPT (a damaged page); with `not_a_database`, SQLITE_NOTADB too (a damaged header)."""
    if isinstance(e, sqlite3.OperationalError):  # locked, busy, I/O: not damage to the file's content
        return False
    name = getattr(e, "sqlite_errorname", "") or ""  # Python 3.11+
    if name.startswith("SQLITE_CORRUPT") or "malformed" in str(e):
        return True
    return not_a_database and (name == "SQLITE_NOTADB" or "not a database" in str(e))




def source_roots(path: Path) -> list[str] | None:
    """The roots of the non-HTTP sources of the store file at `path`, by name, read without
    opening a Store (read only: no migration, no WAL); None when it cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [r[0] for r in conn.execute("select root from sources where kind != 'http' order by name")]
        finally:
            conn.close()
    except sqlite3.Error:
        return None
