"""Shared by the service tests (HTTP API, MCP, filter): the sample wiki crawled once per test process
with the real model and checked, a uvicorn server in a thread, and a small HTTP client."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SAMPLE_WIKI = Path(__file__).parent.parent / "sample_wiki"
STALE_COPY = "teams/checkout/pgbouncer-restart.md"
CANONICAL = "platform/pgbouncer.md"
TOKEN = "s3cret-t0ken-for-tests"

_built: dict[str, Any] = {}


def pristine_sample(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> tuple[Path, Path, Any]:
    """(wiki, index, crawl summary): sample_wiki copied to tmp and crawled with the real model, nothing else;
    built once per process. The real-model crawl (and its ONNX export and verification) is the costly part of
    every sample-wiki test, so the service index, the end-to-end check and the ONNX tests each copy this one
    index (shutil.copytree) instead of crawling the same wiki again. Never write to it: copy it. Copies keep
    the wiki's path as their source, so a recrawl of a copy reads this wiki (restore anything you change in it)."""
    if "pristine" in _built:
        return _built["pristine"]
    from wikicheck.crawl import crawl

    root = tmp_path_factory.mktemp("sample-crawl")
    wiki = root / "sample_wiki"
    shutil.copytree(SAMPLE_WIKI, wiki)  # in tmp, so file mtimes don't matter
    index = root / "index"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # no wikicheck.toml of the developer's is found; the wiki's own config is
        for name in ("WIKICHECK_MODEL", "WIKICHECK_CONFIG", "WIKICHECK_INDEX", "WIKICHECK_ENGINE"):
            mp.delenv(name, raising=False)
        summary = crawl([str(wiki)], index, embedder=embedder)
    _built["pristine"] = (wiki, index, summary)
    return _built["pristine"]


def copy_index(src: Path, dest: Path) -> Path:
    """A private copy of a crawled index (without its lock file), to write to or damage."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """sample_wiki crawled with the real model, then `wikicheck check`ed; built once per process (a copy of
    pristine_sample's index, which the service tests may write to)."""
    if "index" in _built:
        return _built["index"]
    from wikicheck.check import run_checks
    from wikicheck.config import load_config
    from wikicheck.store import Store

    _, pristine, _ = pristine_sample(tmp_path_factory, embedder)
    index = copy_index(pristine, tmp_path_factory.mktemp("service") / "index")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(index.parent)
        for name in ("WIKICHECK_MODEL", "WIKICHECK_CONFIG", "WIKICHECK_INDEX"):
            mp.delenv(name, raising=False)
        with Store.open(index) as store:
            findings = run_checks(store, load_config(sources_from=index)).findings
    assert any(f.path == STALE_COPY and f.kind == "superseded" for f in findings)
    _built["index"] = index
    return index


def section(index: Path, path: str, heading: str) -> dict[str, Any]:
    from wikicheck.store import Store

    with Store.open(index) as store:
        rows = store.sections("path = ? and heading = ? and removed_at is null", [path, heading])
    assert len(rows) == 1, (path, heading, rows)
    return rows[0]


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1, a free port, in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def http(method: str, url: str, body: Any = None, *, token: str | None = TOKEN, raw: bytes | Iterable[bytes] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, headers, parsed JSON body) of one request; HTTP errors are answers, not exceptions."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)  # type: ignore[arg-type]
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read())


def sample_guard(tmp_path_factory, real_embedder):
    """A Guard on the sample wiki's index with the real model, recording no exposure (for module fixtures)."""
    from wikicheck.guard import Guard, GuardConfig

    return Guard(sample_index(tmp_path_factory, real_embedder), embedder=real_embedder,
                 config=GuardConfig(record_events=False))
