"""The guard's operations for every transport: HTTP (serve.py), MCP (mcp_server.py) and the CLI.

What a caller asks for is checked here (BadRequest), the guard is reached under its lock with the
newest crawl and check loaded (guarded), and answers are plain JSON, so every transport answers
alike. GuardPool queues calls in front of one Guard; HealthCache answers /health from memory.
Nothing here knows about HTTP or MCP (#13: mcp_server imported serve's private helpers, and serve
imported mcp_server back).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .guard import POLICIES, Guard, guard_runs_json
from .store import Store

MAX_K = 100
MAX_ITEMS = 1000  # queries per batch, chunks per filter call
DEFAULT_MAX_QUEUE = 64  # calls waiting for the guard before the service answers 503 (`wikicheck serve --max-queue`)
MAX_COALESCE = 64  # waiting searches embedded in one model call
HEALTH_MAX_AGE = 2.0  # seconds a /health status is served before it is read again

log = logging.getLogger("wikicheck.serve")  # the name the service has always logged under


class BadRequest(ValueError):
    """The request is well-formed JSON but asks for something invalid (missing field, bad policy, k out of range)."""


class Overloaded(Exception):
    """Every place in the guard's queue is taken (or the service is stopping): retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------------------- text that is not Unicode (#11 point 14)

_SURROGATE = re.compile("[\ud800-\udfff]")  # in a decoded str a pair is one code point: any left is lone


def _surrogate_in(text: str) -> str | None:
    m = _SURROGATE.search(text)
    return None if m is None else f"lone surrogate \\u{ord(m.group()):04x} at character {m.start()}"


def lone_surrogate(value: Any, where: str = "") -> str | None:
    """Where decoded JSON holds a lone UTF-16 surrogate, as one line naming the field; None when it holds none.

    JSON may escape half of a pair (JavaScript's JSON.stringify writes a lone one as "\\ud800") and Python
    decodes it to a str that no UTF-8 encoder accepts: the tokenizer failed on it (HTTP 500, a dropped
    connection) and an MCP reply could not be written (no answer at all). So it is refused on the way in.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:  # not recursive: JSON nested a thousand deep is still answered
        item, path = stack.pop()
        if isinstance(item, str):
            found, field_ = _surrogate_in(item), f'"{path}"'
        elif isinstance(item, dict):
            bad_key = next((k for k in item if isinstance(k, str) and _SURROGATE.search(k)), None)
            found = None if bad_key is None else _surrogate_in(bad_key)
            field_ = f'a key of "{path}"' if path else "a key of the top-level object"
            stack.extend(reversed([(v, f"{path}.{k}" if path else str(k)) for k, v in item.items()]))
        elif isinstance(item, list):
            found = None
            stack.extend(reversed([(v, f"{path}[{i}]") for i, v in enumerate(item)]))
        else:
            found = None
        if found:
            return f"{field_} is not valid Unicode: {found}; send text as valid UTF-8 / UTF-16"
    return None


# --------------------------------------------------------------------------- guarded operations (HTTP, MCP, CLI)


class _GuardState:
    def __init__(self, guard: Guard):
        self.lock = threading.Lock()


_STATES: weakref.WeakKeyDictionary[Guard, _GuardState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(guard: Guard) -> _GuardState:
    with _STATES_LOCK:
        st = _STATES.get(guard)
        if st is None:
            st = _STATES[guard] = _GuardState(guard)
        return st


@contextlib.contextmanager
def guarded(guard: Guard) -> Iterator[Guard]:
    """Hold the guard's lock (one SQLite connection, one model), picking up a newer crawl or check first."""
    st = _state(guard)
    with st.lock:
        guard.refresh()  # a long-running service must not serve yesterday's verdicts or vectors
        yield guard


def jsonable(obj: Any) -> Any:
    """Plain JSON types only (what the CLI prints with default=str), so HTTP, MCP and CLI answer alike."""
    return json.loads(json.dumps(obj, default=str))


def json_body(obj: Any) -> bytes:
    """The HTTP body of `obj`: the bytes JSONResponse(jsonable(obj)) sends, in one pass.

    The guard's worker makes it, so that the event loop only writes bytes (#11 point 15)."""
    return json.dumps(obj, default=str, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def check_query(query: Any, what: str = "query") -> str:
    if not isinstance(query, str) or not query.strip():
        raise BadRequest(f'"{what}" should be a non-empty string')
    bad = lone_surrogate(query, what)
    if bad:
        raise BadRequest(bad)
    return query


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise BadRequest(f'"k" should be an integer from 1 to {MAX_K}, got {json.dumps(k, default=str)}')
    return k


def check_policy(policy: Any) -> str:
    if policy not in POLICIES:
        raise BadRequest(f'"policy" should be one of {", ".join(POLICIES)}, got {json.dumps(policy, default=str)}')
    return str(policy)


def run_search(guard: Guard, query: Any, k: Any = 5, policy: Any = "block") -> dict[str, Any]:
    """One guarded search, as ``wikicheck search --json`` prints it."""
    run: dict[str, Any] = jsonable(search_runs(guard, [(check_query(query), check_k(k), check_policy(policy))])[0])
    return run


def run_search_batch(guard: Guard, queries: Any, k: Any = 5, policy: Any = "block") -> dict[str, Any]:
    if not isinstance(queries, list):
        raise BadRequest('"queries" should be a list of strings')
    if len(queries) > MAX_ITEMS:
        raise BadRequest(f"at most {MAX_ITEMS} queries per batch, got {len(queries)}")
    queries = [check_query(q, f"queries[{i}]") for i, q in enumerate(queries)]
    k, policy = check_k(k), check_policy(policy)
    with guarded(guard):
        runs = guard.search_many(queries, k, policy)
    batch: dict[str, Any] = jsonable({"version": 1, "runs": [guard_runs_json(q, policy, rs)
                                                             for q, rs in zip(queries, runs)]})
    return batch


def search_runs(guard: Guard, searches: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Several checked (query, k, policy) searches with one model call, each as guard_runs_json gives it.

    This is how the service keeps up under load: embedding one query costs about as much as embedding
    ten together (#11 point 15)."""
    by_args: dict[tuple[int, str], list[int]] = {}
    for i, (_, k, policy) in enumerate(searches):
        by_args.setdefault((k, policy), []).append(i)
    out: list[dict[str, Any]] = [{} for _ in searches]
    with guarded(guard):
        vectors = guard.embed([q for q, _, _ in searches])
        for (k, policy), rows in by_args.items():
            for i, results in zip(rows, guard.search_vectors(vectors[rows], k, policy)):
                out[i] = guard_runs_json(searches[i][0], policy, results)
    return out


def run_filter(guard: Guard, chunks: Any, limit: int | None = MAX_ITEMS) -> dict[str, Any]:
    """Verdicts for an agent's own chunks (Guard.check_chunks)."""
    if not isinstance(chunks, list):
        raise BadRequest('"chunks" should be a list of objects with section_id, path (+ heading) or text')
    if limit is not None and len(chunks) > limit:
        raise BadRequest(f"at most {limit} chunks per call, got {len(chunks)}")
    bad = lone_surrogate(chunks, "chunks")  # a chunk is echoed back: no key of it may hold one either
    if bad:
        raise BadRequest(bad)
    with guarded(guard):
        try:
            results = guard.check_chunks(chunks)
        except ValueError as e:  # Guard's documented answer to a malformed chunk
            raise BadRequest(str(e)) from None
    answer: dict[str, Any] = jsonable({"version": 1, "results": results})
    return answer


def health(guard: Guard, previous: tuple[Any, dict[str, Any]] | None = None, store: Store | None = None
           ) -> tuple[dict[str, Any], tuple[Any, dict[str, Any]]]:
    """(what a probe needs, the (key, status) read for it). No filesystem paths: it is served without
    a token. `previous`: the last read's (key, status), whose counts are kept while its key holds;
    `store`: the connection to read with, never the guard's (status.serving_status)."""
    from .status import serving_status

    read = serving_status(guard.location, previous, store)  # a probe never waits for a search
    st = read[1]
    last = st["last_crawl"] or {}
    return {
        "version": 1, "status": "ok", "model": st["model"], "dim": st["dim"], "counts": st["counts"],
        "index_up_to_date": st["index_up_to_date"], "checked": guard.has_check,
        "last_crawl": {"finished_at": last.get("finished_at"), "status": last.get("status")} if last else None,
    }, read


# --------------------------------------------------------------------------- the queue in front of the guard


@dataclass
class _Call:
    future: Future[Any]
    finish: Callable[[Any], Any]  # jsonable (a dict, for MCP) or json_body (bytes, for HTTP)
    search: tuple[str, int, str] | None = None  # a search, which may run together with the searches behind it
    fn: Callable[[], Any] | None = None  # anything else (a batch, a filter), run alone


def _same(obj: Any) -> Any:
    return obj


class GuardPool:
    """One worker thread in front of a Guard, fed by a bounded queue (#11 point 15).

    The guard serves one call at a time (one SQLite connection, one model), so more threads would only
    wait for its lock, as anyio's 40 did, and /health waited behind them. Calls wait here instead, and
    the wait is bounded: with `max_queue` calls waiting, the next one is refused at once (Overloaded,
    HTTP 503) with a Retry-After estimated from recent service times. Searches waiting together are
    embedded together (up to MAX_COALESCE), which is where a busy service gets its throughput.
    Submitting never blocks, so the event loop never waits for the guard.
    """

    def __init__(self, guard: Guard, max_queue: int = DEFAULT_MAX_QUEUE):
        if max_queue < 1:
            raise ValueError(f"max_queue should be at least 1, got {max_queue}")
        self.guard, self.max_queue = guard, max_queue
        self._queue: collections.deque[_Call] = collections.deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None  # started by the first call
        self._closed = False
        self._seconds_per_call = 0.05  # moving average, for Retry-After only

    def search(self, query: Any, k: Any = 5, policy: Any = "block", *, body: bool = False) -> Future[Any]:
        """Queue one search (checked here, so a bad one never takes a place). Its future gets what run_search
        returns, or with `body` that as an HTTP body (json_body)."""
        args = (check_query(query), check_k(k), check_policy(policy))
        return self._submit(_Call(Future(), json_body if body else jsonable, search=args))

    def call(self, fn: Callable[..., Any], *args: Any, body: bool = False) -> Future[Any]:
        """Queue `fn(guard, *args)` (run_search_batch, run_filter), which takes the guard's lock itself."""
        return self._submit(_Call(Future(), json_body if body else _same, fn=lambda: fn(self.guard, *args)))

    def stats(self) -> dict[str, int]:
        return {"waiting": len(self._queue), "limit": self.max_queue}

    def close(self) -> None:
        """Refuse new calls, cancel the waiting ones and let the running one finish."""
        with self._cond:
            self._closed = True
            while self._queue:
                self._queue.popleft().future.cancel()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()

    def _submit(self, call: _Call) -> Future[Any]:
        with self._cond:
            if self._closed:
                raise Overloaded("server shutting down; retry after 1 s", 1)
            waiting = len(self._queue)
            if waiting >= self.max_queue:
                retry = max(1, math.ceil(waiting * self._seconds_per_call))
                raise Overloaded(f"server busy: {waiting} requests already waiting for the guard "
                                 f"(limit {self.max_queue}); retry after {retry} s", retry)
            self._queue.append(call)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="wikicheck-guard", daemon=True)
                self._worker.start()
            self._cond.notify()
        return call.future

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                calls = [self._queue.popleft()]
                while (calls[0].search and self._queue and self._queue[0].search
                       and len(calls) < MAX_COALESCE):
                    calls.append(self._queue.popleft())
            calls = [c for c in calls if c.future.set_running_or_notify_cancel()]  # a client that gave up
            started = time.monotonic()
            self._run(calls)
            if calls:
                spent = (time.monotonic() - started) / len(calls)
                self._seconds_per_call = 0.8 * self._seconds_per_call + 0.2 * spent

    def _run(self, calls: list[_Call]) -> None:
        runs: list[dict[str, Any]] | None = None
        if len(calls) > 1:
            try:
                runs = search_runs(self.guard, [c.search for c in calls])  # type: ignore[misc]
            except Exception:  # then one at a time, so that only the failing search fails
                log.warning("%d searches failed together; running them one at a time", len(calls), exc_info=True)
        for i, c in enumerate(calls):
            try:
                if runs is not None:
                    raw = runs[i]
                else:
                    raw = search_runs(self.guard, [c.search])[0] if c.search else c.fn()  # type: ignore[misc]
                answer = c.finish(raw)
            except BaseException as e:  # noqa: BLE001 - the caller's to report (400, 500)
                c.future.set_exception(e)
            else:
                c.future.set_result(answer)


class HealthCache:
    """/health from memory (#11 point 15): a probe waits neither for the guard, nor its lock, nor a thread.

    The status (last crawl, manifest; ~1 ms of SQLite in its own connection, plus the counts and the index
    digest when a crawl or an index build happened since: 25 ms on the sample wiki, seconds at 1M
    sections) is read again in a thread of its own when a probe finds it older than `max_age` seconds;
    until that read ends, probes get the previous status. A status that cannot be read is kept as the
    error, and served as a 503.
    """

    def __init__(self, guard: Guard, max_age: float = HEALTH_MAX_AGE):
        self.guard, self.max_age = guard, max_age
        self._lock = threading.Lock()
        self._value: dict[str, Any] | Exception | None = None
        self._read_at = 0.0
        self._reading = False
        self._previous: tuple[Any, dict[str, Any]] | None = None  # (key, status) of the last read
        self._store: Store | None = None  # used by one read at a time, closed by close()
        self._io = threading.Lock()  # one read or close at a time: close() waits for a read in progress
        self._closed = False

    def read(self) -> dict[str, Any] | Exception | None:
        """Read the status now (at startup, and in the refresh thread): the counts again only when a
        crawl or an index build happened since the last read (status.serving_status). After close(),
        the last status read, without reading (the service is stopping)."""
        with self._io:
            if self._closed:
                with self._lock:
                    self._reading = False
                    return self._value
            return self._read()

    def _read(self) -> dict[str, Any] | Exception:
        try:
            if self._store is None:  # one connection of its own, kept: opening checks the whole file
                self._store = Store.open(self.guard.location)
            value: dict[str, Any] | Exception
            value, self._previous = health(self.guard, self._previous, self._store)
        except Exception as e:  # a probe must learn of it, and the log gets the traceback
            log.exception("cannot read the index status for /health")
            value = e
            if self._store is not None:  # opened again by the next read
                self._store.close()
                self._store = None
        with self._lock:
            self._value, self._read_at, self._reading = value, time.monotonic(), False
        return value

    def close(self) -> None:
        """Close the status connection (the service is stopping), after a read in progress ends; later
        reads serve the last status and open nothing."""
        with self._io:
            self._closed = True
            store, self._store = self._store, None
            if store is not None:
                store.close()

    def get(self) -> dict[str, Any] | Exception | None:
        """The last status read (None before the first), starting a fresh read when it is old."""
        with self._lock:
            value = self._value
            if self._reading or (value is not None and time.monotonic() - self._read_at < self.max_age):
                return value
            self._reading = True
        threading.Thread(target=self.read, name="wikicheck-health", daemon=True).start()
        return value


__all__ = ["DEFAULT_MAX_QUEUE", "MAX_ITEMS", "MAX_K", "BadRequest", "GuardPool", "HealthCache", "Overloaded",
           "check_k", "check_policy", "check_query", "guarded", "health", "json_body", "jsonable", "lone_surrogate",
           "run_filter", "run_search", "run_search_batch", "search_runs"]
