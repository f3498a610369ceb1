"""Shared fixtures: isolated environment, stores, embedders, small wikis and git repos, the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One process per core (pytest -n auto): torch's and ONNX Runtime's own pools of one thread per core
    # in each would put two threads on every core, spinning against each other. Set before torch loads;
    # the CLI processes the tests start inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py

from helpers import commit, init_repo  # noqa: E402

from wikicheck.embed import DEFAULT_MODEL, HashEmbedder, get_embedder  # noqa: E402
from wikicheck.store import Store  # noqa: E402

WIKICHECK_ENV = ("WIKICHECK_MODEL", "WIKICHECK_INDEX", "WIKICHECK_CONFIG", "WIKICHECK_DEBUG", "WIKICHECK_DB", "WIKICHECK_ENGINE",
                 "WIKICHECK_STORE")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No user settings leak in: WIKICHECK_HOME in tmp, no WIKICHECK_* overrides, no git config."""
    monkeypatch.setenv("WIKICHECK_HOME", str(tmp_path_factory.mktemp("home")))
    for name in WIKICHECK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory):
    """One ONNX export of the model per test session (~20 s), copied into each index that a real-model
    crawl builds (onnx_engine.export.cached_export), never the user's cache. Session scope: the module
    fixtures that crawl run before any function fixture."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's root, shared by the workers: the first export serves them all
    # the workers' first real-model crawls start together; cached_export lets one export and the other
    # wait for it and copy it from this shared cache
    mp.setenv("WIKICHECK_CACHE_DIR", str(base / "wikicheck-cache"))
    mp.delenv("WIKICHECK_ENGINE", raising=False)
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _close_stores(monkeypatch: pytest.MonkeyPatch):
    """Close every Store a test opened (su close_all_databases), so no test leaks a connection."""
    opened: list[Store] = []
    init = Store.__init__

    def tracking_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Store, "__init__", tracking_init)
    yield
    for st in opened:
        st.db.conn.close()


@pytest.fixture
def store():
    """An in-memory store with every migration applied."""
    return Store.memory()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL 16 with pgvector for this test process (the pgserver wheel: initdb and start
    in about a second), stopped at the end. Its URL names the maintenance database; pg_url makes a
    fresh database per test."""
    import pgserver

    srv = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    yield srv
    srv.cleanup()


@pytest.fixture
def pg_url(pg_server, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database on the test session's PostgreSQL, dropped after the test."""
    import uuid

    import psycopg

    admin = pg_server.get_uri()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    url = admin.replace("/postgres?", f"/{name}?", 1)
    assert name in url, admin
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A new store on each backend: an SQLite file in tmp, and a database on a real PostgreSQL."""
    if request.param == "sqlite":
        return Store.open(tmp_path / "idx", create=True)
    return Store.open(request.getfixturevalue("pg_url"), create=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new store goes, on each backend: an index directory in tmp, and the URL of a new
    database on a real PostgreSQL (what crawl, check and Store.open take alike)."""
    if request.param == "sqlite":
        return tmp_path / "idx"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Where a file store goes (not created yet)."""
    return tmp_path / "store" / "wikicheck.db"


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return get_embedder("test-hash-64")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def real_embedder():
    """The default model (all-MiniLM-L6-v2 from its PyPI package), loaded once per session."""
    e = get_embedder()
    assert e.model_id == DEFAULT_MODEL
    e.embed(["warm up"])
    return e


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a git repo under tmp_path with one commit per {path: text} dict, dated as given."""

    def make(*commits: tuple[str, dict[str, str | bytes | None]], name: str = "wiki") -> Path:
        repo = init_repo(tmp_path / name)
        for date, files in commits:
            commit(repo, files, date)
        return repo

    return make


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the CLI in-process from tmp_path; returns the click Result (stdout and stderr apart)."""
    from typer.testing import CliRunner

    from wikicheck.cli import app

    monkeypatch.chdir(tmp_path)

    def run(*args: str | Path, env: dict[str, str] | None = None):
        return CliRunner().invoke(app, [str(a) for a in args], env=env)

    return run

