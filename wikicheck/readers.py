"""What a reader of an index may see: the last completed crawl, never a half-written one.

A crawl writes page by page (so that it can be killed and rerun), which means that while it runs,
or after it was killed, the store holds some pages of tonight and some of yesterday, and
embeddings are pending for the new ones. A reader that looked then would judge a wiki that never
existed: `check` would record findings on it, and a search would mix yesterday's vectors with
tonight's text. So readers ask first:

* `check` refuses (exit 3) while a crawl runs or when the last one did not finish, and holds the
  index lock while it writes its findings, so no crawl starts under it;
* the retrieval guard loads sections and verdicts in one read transaction, and only when the
  latest crawl completed: a long-running service keeps serving what it loaded last (the previous
  completed crawl) until the new crawl is done; a guard that never loaded waits or refuses.

The crawls table is the arbiter (status ``running`` until the crawl ends). A crawl killed by a
signal cannot mark itself: its row still says ``running`` while no process holds the lock, and
that is how a killed crawl is told from a live one (flock dies with its holder, see lock.py).
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass

from .errors import WikicheckError
from .lock import LOCK_NAME
from .store import Store


class IndexBusy(WikicheckError):
    """A crawl is writing the index: what it holds now is no crawl's complete state."""


class CrawlUnfinished(WikicheckError):
    """The latest crawl was killed or failed: the store is partly tonight's, partly yesterday's."""


@dataclass(frozen=True)
class CrawlState:
    crawl_id: int | None  # the latest crawl, whatever its status
    status: str | None  # ok, running, killed, failed; None: never crawled
    running: bool  # a process is crawling this index now
    finished_at: str | None

    @property
    def complete(self) -> bool:
        """The store holds one crawl's complete state."""
        return self.status == "ok"

    @property
    def partial(self) -> bool:
        """A crawl is writing, or the last one died: part of the store is not that of any crawl."""
        return self.status not in (None, "ok")


def crawl_state(store: Store) -> CrawlState:
    """The state of the latest crawl of `store` (one indexed query; the lock is only tried when
    that crawl says it is still running, to tell a live crawl from a killed one)."""
    row = store.newest_crawl()
    if row is None:
        return CrawlState(None, None, False, None)
    crawl_id, status, finished = row.id, row.status, row.finished_at
    running = status == "running" and _lock_held(store)
    if status == "running" and not running:
        status = "killed"  # nobody holds the lock: the crawl that wrote 'running' died
    return CrawlState(crawl_id, status, running, finished)


def _lock_held(store: Store) -> bool:
    """True when another process holds the index lock (a crawl or nightly run is writing)."""
    if store.url:  # a PostgreSQL store: its writer's advisory lock (store.pg.PgLock)
        return store.writer_lock_holder() is not None
    if store.path is None:
        return False
    path = store.path.parent / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # no lock file: nobody ever locked this index
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def require_complete(store: Store, *, wait: float = 0.0, what: str = "read", poll: float = 1.0) -> CrawlState:
    """Return the crawl state when the store holds a completed crawl; wait up to `wait` seconds
    for a running crawl to finish; otherwise raise IndexBusy or CrawlUnfinished (exit 3)."""
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        st = crawl_state(store)
        if st.status is None or st.complete:
            return st  # never crawled: the caller says what an empty store means for it
        if not st.running:
            raise CrawlUnfinished(
                f"the last crawl of {_where(store)} did not finish ({st.status}); "
                f"run \"wikicheck crawl\" again to complete it before you {what}")
        if time.monotonic() >= deadline:
            raise IndexBusy(
                f"a crawl is writing {_where(store)} now; {what} once it finishes "
                f"(or pass --wait SECONDS to wait for it)")
        time.sleep(min(poll, max(0.05, deadline - time.monotonic())))


def _where(store: Store) -> str:
    return store.where


__all__ = ["CrawlState", "CrawlUnfinished", "IndexBusy", "crawl_state", "require_complete"]

