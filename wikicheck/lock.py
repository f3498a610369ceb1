"""An exclusive lock on an index directory, so two crawls never write one store at once.

flock is released by the kernel when the holder dies, so a killed crawl never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import StoreLocked

LOCK_NAME = ".lock"


class IndexLock:
    def __init__(self, index_dir: str | Path, what: str = "crawl"):
        self.path = Path(index_dir) / LOCK_NAME
        self.what = what
        self.fd: int | None = None

    def __enter__(self) -> "IndexLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"index {self.path.parent} is locked by another run ({holder}); "
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
