"""An exclusive lock on an index directory, so two crawls never write one store at once.

flock is released by the kernel when the holder dies, so a killed crawl never leaves a stale lock.
A reader that finds the faiss index damaged rebuilds the file only while it holds this lock too
(`lock_if_free`): with the lock held no crawl is writing the store, so the rebuilt file is one
state of the store, and no crawl's own index write can interleave with it (issue 11).
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import IndexFileUnusable, StoreLocked

if TYPE_CHECKING:
    from .store.pg import PgLock

LOCK_NAME = ".lock"


def unusable(path: Path, what: str, err: OSError | None = None) -> IndexFileUnusable:
    """The error for a file of the index directory that is not what wikicheck wrote there."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        mode = 0
    if stat.S_ISDIR(mode):
        found = "is a directory"
    elif mode and not stat.S_ISREG(mode):
        found = "is not a regular file"
    else:
        found = f"cannot be opened ({err.strerror if err and err.strerror else err})"
    return IndexFileUnusable(f"{path} {found}, not {what}; move it away and run again")


class IndexLock:
    def __init__(self, index_dir: str | Path, what: str = "crawl"):
        self.path = Path(index_dir) / LOCK_NAME
        self.target = str(self.path.parent.resolve())  # what it locks (PgLock: the store's URL)
        self.what = what
        self.fd: int | None = None
        self.holder: str | None = None  # who holds it, when __enter__ found it held

    def __enter__(self) -> "IndexLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # fixes #11 point 13: a directory named .lock was a crash (exit 4)
            raise unusable(self.path, "the index lock file", e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"index {self.path.parent} is locked by another run ({self.holder}); "
                "wait for it to finish, or check that no other wikicheck is writing this index"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.what}, pid {os.getpid()}".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                self.fd = None


def store_lock(index: str | Path, what: str = "crawl") -> "IndexLock | PgLock":
    """The writer's lock of a store: the index directory's lock file, or for a PostgreSQL store
    (a postgresql:// URL) a session advisory lock in the database (store.pg.PgLock)."""
    from .store.pg import PgLock, is_store_url

    if is_store_url(index):
        return PgLock(str(index), what)
    return IndexLock(index, what)


@dataclass(frozen=True)
class NotLocked:
    """Why lock_if_free could not take the lock."""

    reason: str
    held: bool  # another run holds it (else the lock file itself is unusable)


@contextmanager
def lock_if_free(index_dir: str | Path, what: str) -> Iterator[NotLocked | None]:
    """Hold the index lock for the block when no other run holds it, and never wait for it.

    Yields None while the lock is held, else why it is not ("another run holds the index lock
    (crawl, pid 12)"): the caller then writes nothing to the index directory."""
    lock = IndexLock(index_dir, what)
    try:
        lock.__enter__()
    except StoreLocked:
        yield NotLocked(f"another run holds the index lock ({lock.holder})", held=True)
        return
    except IndexFileUnusable as e:
        yield NotLocked(str(e), held=False)
        return
    try:
        yield None
    finally:
        lock.__exit__()
