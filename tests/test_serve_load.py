"""`wikicheck serve` under more concurrent requests than it can hold (#11 point 15): searches wait in a
bounded queue for the guard, the rest get 503 with Retry-After, and /health answers all the while.

The searches are held, not slowed: the model behind the guard waits on an Event until the test lets it
go, so "while the guard is busy" is a state the test sets up, never a timing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from service_helpers import CANONICAL, TOKEN, http, running, sample_index

from wikicheck.guard import Guard, GuardConfig
from wikicheck.serve import create_app, guarded

QUEUE = 6  # the bound under test: requests waiting for the guard beyond the one it is serving
HANG = 120  # seconds; only so that a broken server fails the test instead of hanging it


class HeldEmbedder:
    """The real model behind a gate: embed() tells the test it was entered, then waits for the gate to open."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.model_id = inner.model_id
        self.entered = threading.Event()
        self.gate = threading.Event()

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        self.entered.set()
        assert self.gate.wait(HANG), "the test never opened the gate"
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def index(tmp_path_factory, real_embedder):
    return sample_index(tmp_path_factory, real_embedder)


@pytest.fixture
def held(index, real_embedder) -> Iterator[tuple[str, HeldEmbedder, Guard]]:
    """The API over a guard whose model is held, with a queue of QUEUE; the gate opens at the end in any case."""
    embedder = HeldEmbedder(real_embedder)
    guard = Guard(index, embedder=embedder, config=GuardConfig(record_events=False))
    try:
        with running(create_app(index, token=TOKEN, guard=guard, max_queue=QUEUE)) as base:
            try:
                yield base, embedder, guard
            finally:
                embedder.gate.set()
    finally:
        guard.close()


def in_threads(calls: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    """Start every call in its own thread; results land in the returned list, in call order, as they finish."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    return threads, results


def wait_until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG
    while not done():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


def search(base: str, i: int) -> Callable[[], tuple[int, dict[str, str], Any]]:
    return lambda: http("POST", f"{base}/search", {"query": f"restart pgbouncer {i}", "k": 2})


def test_overload_is_shed_with_503_and_health_answers_while_searches_are_held(held):
    base, embedder, _ = held
    # more requests than anyio's 40 worker threads, which searches and /health used to share
    extra = 42 - QUEUE
    first, first_result = in_threads([search(base, 0)])
    assert embedder.entered.wait(HANG)  # the guard is now busy with the first search, and stays so

    threads, results = in_threads([search(base, i) for i in range(1, 1 + QUEUE + extra)])
    wait_until("the overflow was refused", lambda: sum(r is not None for r in results) == extra)
    # the probe answers while every search is held: it waits neither for the guard nor behind the queue
    status, _, health = http("GET", f"{base}/health", token=None)
    assert (status, health["status"]) == (200, "ok")
    assert health["queue"] == {"waiting": QUEUE, "limit": QUEUE}
    assert first[0].is_alive() and sum(t.is_alive() for t in threads) == QUEUE

    refused = [i for i, r in enumerate(results) if r is not None]
    for i in refused:
        status, headers, body = results[i]
        assert (status, body["error"]["code"]) == (503, "overloaded"), body
        assert set(body) == {"error"} and body["error"]["message"].startswith(
            f"server busy: {QUEUE} requests already waiting for the guard (limit {QUEUE}); retry after ")
        assert int(headers["retry-after"]) >= 1

    embedder.gate.set()  # every search that was let in is answered, each with its own query's results
    for t in first + threads:
        t.join(HANG)
    served = {0: first_result[0], **{i + 1: r for i, r in enumerate(results) if i not in refused}}
    assert len(served) == 1 + QUEUE
    for i, (status, headers, body) in served.items():
        assert (status, body["query"], len(body["results"])) == (200, f"restart pgbouncer {i}", 2), body
        assert "retry-after" not in headers
    status, _, health = http("GET", f"{base}/health", token=None)
    assert health["queue"] == {"waiting": 0, "limit": QUEUE}


def test_batch_filter_and_mcp_share_the_queue(held):
    """Every way in to the guard waits in the same queue, and is refused the same way once it is full."""
    base, embedder, _ = held
    first, _ = in_threads([search(base, 0)])
    assert embedder.entered.wait(HANG)
    waiting, _ = in_threads([search(base, i) for i in range(1, 1 + QUEUE)])
    wait_until("the queue is full", lambda: http("GET", f"{base}/health", token=None)[2]["queue"]["waiting"] == QUEUE)

    for path, body in [("/search/batch", {"queries": ["restart pgbouncer"]}),
                       ("/filter", {"chunks": [{"path": CANONICAL, "heading": "Restart"}]})]:
        status, headers, got = http("POST", f"{base}{path}", body)
        assert (status, got["error"]["code"], int(headers["retry-after"]) >= 1) == (503, "overloaded", True)
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "check_chunks", "arguments": {"chunks": [{"path": CANONICAL, "heading": "Restart"}]}}}
    status, _, got = http("POST", f"{base}/mcp", raw=json.dumps(rpc).encode(),
                          headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"})
    assert (status, got["result"]["isError"]) == (200, True)
    assert f"server busy: {QUEUE} requests already waiting for the guard" in got["result"]["content"][0]["text"]
    embedder.gate.set()
    for t in first + waiting:
        t.join(HANG)


def test_health_does_not_take_the_guard_lock(held):
    """A probe answers while something else in the process (a CLI call, an MCP tool) holds the guard."""
    base, _, guard = held
    with guarded(guard):
        status, _, health = http("GET", f"{base}/health", token=None)
    assert (status, health["status"], health["checked"]) == (200, "ok", True)
