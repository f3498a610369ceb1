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


def _file_state(path: Path) -> tuple[int, ...]:
    """What changes when the store's content does: the file's and its WAL's identity, size and
    mtime. An empty WAL counts as none (closing the last connection deletes it)."""
    out: list[int] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
        except OSError:
            st = None
        out += [st.st_ino, st.st_size, st.st_mtime_ns] if st is not None and st.st_size else [0, 0, 0]
    return tuple(out)


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick_check: every page of the file read once, about 0.1 s per 100 MB of store
    (measured on benchmarks/synth.py stores: 72-189 ms at 20k sections / 95 MB, 0.45-0.66 s at
    100k / 480 MB, on a busy 2-core machine). Skipped when this process found the same file sound
    already. Damage is exit 3, and the file is left as it is: it holds the history that no crawl
    can recreate (fixes #11 point 12)."""
    key = path.resolve()
    state = _file_state(path)
    if _SOUND.get(key) == state or state == (0,) * 6:  # checked already, or a new (empty) file
        return
    problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if problem != "ok":
        conn.close()
        raise _damaged(path, problem)
    _SOUND[key] = state


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
