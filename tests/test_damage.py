"""Damage is never trusted (issue 11, points 11-13): a damaged faiss index, store, manifest or lock.

Every case goes through the real CLI on an index crawled into a tmp dir (the sample wiki with the
deterministic test embedder; one case with the real model). The store is the source of truth: a
damaged faiss index is rebuilt from it, a damaged or empty store is exit 3 naming the file and the
fix, and nothing ever overwrites a damaged store.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from service_helpers import SAMPLE_WIKI, sample_index

import wikicheck.index as wi
from wikicheck.index import INDEX_NAME, MANIFEST_NAME, Manifest, VectorIndex, build_index
from wikicheck.lock import LOCK_NAME, IndexLock
from wikicheck.store import DB_NAME, Store

FAKE = ("--model", "test-hash-64")
MODEL = "test-hash-64"
QUERIES = ("how do I restart pgbouncer", "refund batch timeout", "rotate the TLS certificate", "replica lag")


@pytest.fixture
def crawled(cli, tmp_path) -> tuple[Path, Path]:
    """The sample wiki crawled with the test embedder into tmp_path/idx: (wiki, index dir)."""
    wiki = tmp_path / "wiki"
    shutil.copytree(SAMPLE_WIKI, wiki)
    idx = tmp_path / "idx"
    r = cli("crawl", wiki, "--index", idx, *FAKE, "--quiet")
    assert r.exit_code == 0, r.stderr
    return wiki, idx


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def hits(cli, idx: Path) -> list[list[tuple[str, float]]]:  # type: ignore[no-untyped-def]
    """(section id, score) of the raw results of every query in QUERIES."""
    out = []
    for q in QUERIES:
        r = cli("search", q, "--index", idx, "--policy", "annotate", "-k", "5", "--json", "--no-events")
        assert r.exit_code == 0, r.stderr
        out.append([(x["section_id"], x["score"]) for x in json.loads(r.stdout)["results"]])
    return out


# --------------------------------------------------------------------------- damage to sections.faiss


def _garbage(path: Path, offset: int, size: int) -> None:
    rng = np.random.default_rng(offset)
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = rng.integers(0, 256, size, dtype="uint8").tobytes()
    path.write_bytes(bytes(data))


def garbage_in_vectors(idx: Path) -> None:
    """4 KiB of garbage in the middle of the vectors (the issue's first case: scores ~1e37)."""
    p = idx / INDEX_NAME
    _garbage(p, p.stat().st_size // 3, 4096)


def garbage_in_id_map(idx: Path) -> None:
    """Garbage in the id map, the file's last 8 x count bytes (hits silently dropped)."""
    p = idx / INDEX_NAME
    count = Manifest.read(idx).count
    _garbage(p, p.stat().st_size - 8 * count + 16, 8 * count // 2)


def truncated(idx: Path) -> None:
    p = idx / INDEX_NAME
    os.truncate(p, p.stat().st_size // 2)


def index_is_a_directory(idx: Path) -> None:
    (idx / INDEX_NAME).unlink()
    (idx / INDEX_NAME).mkdir()


def manifest_is_a_directory(idx: Path) -> None:
    (idx / MANIFEST_NAME).unlink()
    (idx / MANIFEST_NAME).mkdir()


FILE_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "vectors": (garbage_in_vectors, "checksum mismatch"),
    "id-map": (garbage_in_id_map, "checksum mismatch"),
    "truncated": (truncated, "truncated"),
}


@pytest.mark.parametrize("damage", FILE_DAMAGE)
def test_search_on_a_damaged_faiss_file_rebuilds_it_from_the_store(cli, crawled, damage):
    _, idx = crawled
    before = hits(cli, idx)
    FILE_DAMAGE[damage][0](idx)
    r = cli("search", QUERIES[0], "--index", idx, "--no-events")
    assert r.exit_code == 0, r.stderr
    assert "damaged" in r.stderr and FILE_DAMAGE[damage][1] in r.stderr and "rebuilt" in r.stderr
    assert hits(cli, idx) == before  # the same sections, the same scores (never ~1e37)
    with Store.open(idx) as st:
        assert wi.inspect_index(st, idx, MODEL).health.ok  # rebuilt on disk: no lock holder
    assert cli("search", QUERIES[0], "--index", idx, "--no-events").stderr == ""


@pytest.mark.parametrize("damage", FILE_DAMAGE)
def test_status_says_the_index_is_damaged_and_rebuilds_it(cli, crawled, damage):
    _, idx = crawled
    FILE_DAMAGE[damage][0](idx)
    r = cli("status", "--index", idx)
    assert r.exit_code == 0, r.stderr
    faiss_line = next(line for line in r.stdout.splitlines() if line.startswith("faiss"))
    assert "damaged" in faiss_line and FILE_DAMAGE[damage][1] in faiss_line and "rebuilt" in faiss_line
    assert cli("status", "--index", idx).stdout.count("up to date") == 1
    info = json.loads(cli("status", "--index", idx, "--json").stdout)
    assert info["index_health"]["status"] == "ok" and info["index_up_to_date"] is True


@pytest.mark.parametrize("damage", FILE_DAMAGE)
def test_a_crawl_rebuilds_a_damaged_index(cli, crawled, damage):
    wiki, idx = crawled
    FILE_DAMAGE[damage][0](idx)
    r = cli("crawl", wiki, "--index", idx, *FAKE, "--json")  # nothing changed in the wiki
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["index_rebuilt"], out["sections"]["new"], out["sections"]["changed"]) == (True, 0, 0)
    assert "damaged" in r.stderr and FILE_DAMAGE[damage][1] in r.stderr
    with Store.open(idx) as st:
        assert wi.inspect_index(st, idx, MODEL).health.ok


def test_a_reader_never_writes_the_index_while_a_crawl_holds_the_lock(cli, crawled):
    _, idx = crawled
    before = hits(cli, idx)
    garbage_in_vectors(idx)
    damaged = (idx / INDEX_NAME).read_bytes()
    with IndexLock(idx, "crawl"):  # a crawl is running: the reader rebuilds in memory only
        assert hits(cli, idx) == before
        r = cli("status", "--index", idx)
        assert r.exit_code == 0, r.stderr
        assert "damaged (checksum mismatch" in r.stdout and "holds the index lock (crawl, pid" in r.stdout
        assert "rebuilt from the store" not in r.stdout
    assert (idx / INDEX_NAME).read_bytes() == damaged


def test_search_with_the_real_model_on_a_damaged_index(cli, tmp_path, tmp_path_factory, real_embedder):
    idx = tmp_path / "real"
    shutil.copytree(sample_index(tmp_path_factory, real_embedder), idx)
    q = "how do I restart pgbouncer"
    args = ("search", q, "--index", idx, "--policy", "annotate", "--json", "--no-events")
    before = json.loads(cli(*args).stdout)["results"]
    garbage_in_vectors(idx)
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    after = json.loads(r.stdout)["results"]
    assert [(x["section_id"], x["score"]) for x in after] == [(x["section_id"], x["score"]) for x in before]
    assert all(x["score"] <= 1.0 for x in after) and "damaged (checksum mismatch" in r.stderr


# --------------------------------------------------------------------------- checks beyond the checksum


def _rewrite(idx: Path, st: Store, keys: np.ndarray, vecs: np.ndarray) -> None:
    """Write a well-formed index of these ids and vectors with a manifest that vouches for it (checksum
    and store state both right): what a bug in the build, or a copied index, would leave."""
    import faiss

    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vecs.shape[1]))
    index.add_with_ids(np.ascontiguousarray(vecs, dtype="float32"), keys.astype("int64"))
    data = faiss.serialize_index(index).tobytes()
    (idx / INDEX_NAME).write_bytes(data)
    import hashlib

    m = Manifest.read(idx)
    m.sha256, m.bytes, m.count = hashlib.sha256(data).hexdigest(), len(data), len(keys)
    (idx / MANIFEST_NAME).write_text(json.dumps(vars(m)))


@pytest.mark.parametrize("change,reason", [
    (lambda k, v: (k[:-5], v[:-5]), "the store has"),
    (lambda k, v: (k + 100000, v), "not live sections"),
    (lambda k, v: (k, v[::-1].copy()), "sampled vectors differ"),
], ids=["count", "unknown-ids", "wrong-vectors"])
def test_an_index_that_does_not_match_the_store_is_damaged(crawled, change, reason):
    _, idx = crawled
    with Store.open(idx) as st:
        keys, vecs = st.live_vectors(MODEL)
        _rewrite(idx, st, *change(keys, vecs))
        health = wi.inspect_index(st, idx, MODEL).health
        assert (health.status, reason in health.reason) == ("damaged", True), health
        vi = VectorIndex.load(st, idx, MODEL)
        assert vi.index.ntotal == len(keys) and wi.inspect_index(st, idx, MODEL).health.ok


def test_a_manifest_without_a_checksum_is_out_of_date(crawled):
    _, idx = crawled
    data = json.loads((idx / MANIFEST_NAME).read_text())
    del data["sha256"], data["bytes"]
    (idx / MANIFEST_NAME).write_text(json.dumps(data))
    with Store.open(idx) as st:
        assert wi.inspect_index(st, idx, MODEL).health.status == "out of date"
        manifest, rebuilt = build_index(st, idx, MODEL)
    assert rebuilt and manifest.sha256 and Manifest.read(idx).sha256 == manifest.sha256


# --------------------------------------------------------------------------- manifest or lock replaced by a directory


def test_manifest_replaced_by_a_directory(cli, crawled):
    wiki, idx = crawled
    before = hits(cli, idx)
    manifest_is_a_directory(idx)
    assert hits(cli, idx) == before  # rebuilt in memory: the directory is left alone
    r = cli("status", "--index", idx)
    assert r.exit_code == 0, r.stderr
    assert "damaged (manifest.json is a directory" in r.stdout
    r = cli("crawl", wiki, "--index", idx, *FAKE)
    assert r.exit_code == 3
    line = one_error_line(r)
    assert str(idx / MANIFEST_NAME) in line and "is a directory" in line and "move it away" in line
    assert (idx / MANIFEST_NAME).is_dir()
    (idx / MANIFEST_NAME).rmdir()
    assert cli("crawl", wiki, "--index", idx, *FAKE).exit_code == 0


def test_faiss_file_replaced_by_a_directory(cli, crawled):
    wiki, idx = crawled
    before = hits(cli, idx)
    index_is_a_directory(idx)
    assert hits(cli, idx) == before
    r = cli("crawl", wiki, "--index", idx, *FAKE)
    assert r.exit_code == 3
    assert str(idx / INDEX_NAME) in one_error_line(r) and "is a directory" in r.stderr


@pytest.mark.parametrize("command", ["crawl", "nightly"])
def test_lock_replaced_by_a_directory(cli, crawled, tmp_path, command):
    wiki, idx = crawled
    (idx / LOCK_NAME).unlink()
    (idx / LOCK_NAME).mkdir()
    args = ("-o", tmp_path / "reports") if command == "nightly" else ()
    r = cli(command, wiki, "--index", idx, *args, env={"WIKICHECK_MODEL": MODEL})
    assert r.exit_code == 3, r.stderr
    line = one_error_line(r)
    assert str(idx / LOCK_NAME) in line and "is a directory" in line and "move it away" in line
    assert cli("search", QUERIES[0], "--index", idx, "--no-events").exit_code == 0  # readers need no lock
    garbage_in_vectors(idx)  # and a damaged index is still rebuilt (in memory) for them
    r = cli("search", QUERIES[0], "--index", idx, "--no-events")
    assert r.exit_code == 0 and "damaged (checksum mismatch" in r.stderr


# --------------------------------------------------------------------------- damage to wikicheck.db


def garbage_in_store(idx: Path) -> bytes:
    """8 KiB of garbage in the middle of wikicheck.db (after folding the WAL into it); returns the damaged bytes."""
    with Store.open(idx) as st:
        st.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db = idx / DB_NAME
    _garbage(db, db.stat().st_size // 2, 8192)
    return db.read_bytes()


def commands(wiki: Path, idx: Path, tmp_path: Path) -> dict[str, tuple[str | Path, ...]]:
    return {
        "status": ("status", "--index", idx),
        "search": ("search", QUERIES[0], "--index", idx, "--no-events"),
        "check": ("check", "--index", idx),
        "report": ("report", "--index", idx),
        "crawl": ("crawl", wiki, "--index", idx),
        "nightly": ("nightly", wiki, "--index", idx, "-o", tmp_path / "reports"),
        "serve": ("serve", "--index", idx, "--port", "0"),
        "mcp": ("mcp", "--index", idx),
    }


COMMANDS = ("status", "search", "check", "report", "crawl", "nightly", "serve", "mcp")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_store_is_exit_3_for_every_command(cli, crawled, tmp_path, command):
    wiki, idx = crawled
    damaged = garbage_in_store(idx)
    r = cli(*commands(wiki, idx, tmp_path)[command], env={"WIKICHECK_MODEL": MODEL})
    assert r.exit_code == 3, (r.exit_code, r.stderr)
    line = one_error_line(r)
    assert f"{idx / DB_NAME}: damaged" in line and "move it aside" in line
    assert r.stdout == ""
    assert (idx / DB_NAME).read_bytes() == damaged  # never "repaired", never overwritten


def zero_bytes(idx: Path) -> None:
    for p in idx.iterdir():
        if p.name.startswith(DB_NAME):
            p.unlink()
    (idx / DB_NAME).write_bytes(b"")


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("crawl", "nightly")])
def test_a_0_byte_store_is_not_a_clean_wiki(cli, crawled, tmp_path, command):
    wiki, idx = crawled
    zero_bytes(idx)
    r = cli(*commands(wiki, idx, tmp_path)[command])
    assert r.exit_code == 3, (r.exit_code, r.stdout, r.stderr)
    line = one_error_line(r)
    assert f"{idx / DB_NAME} is empty (0 bytes): no crawl has completed; run \"wikicheck crawl" in line
    assert r.stdout == ""
    assert (idx / DB_NAME).stat().st_size == 0  # a reader does not turn it into a store that looks clean


def schema_only(idx: Path) -> None:
    """A store with its schema and nothing else: no crawl ever wrote to it."""
    zero_bytes(idx)
    Store.open(idx, create=True).close()


@pytest.mark.parametrize("command", ["status", "check"])
def test_a_store_no_crawl_ever_wrote_is_not_a_clean_wiki(cli, crawled, tmp_path, command):
    """(search, serve and mcp said "no embeddings yet" and report "no check run" before: exit 3 already)"""
    wiki, idx = crawled
    schema_only(idx)
    r = cli(*commands(wiki, idx, tmp_path)[command])
    assert r.exit_code == 3, (r.exit_code, r.stdout, r.stderr)
    assert one_error_line(r) == (f"error: {idx / DB_NAME}: no crawl has completed; "
                                 f"run \"wikicheck crawl SOURCE --index {idx}\"")
    assert r.stdout == ""


@pytest.mark.parametrize("command", ["status", "check", "search"])
def test_damage_met_after_open_is_exit_3(cli, crawled, tmp_path, monkeypatch, command):
    """Damage that quick_check does not see (simulated by skipping it) and a later query meets."""
    import wikicheck.store

    wiki, idx = crawled
    garbage_in_store(idx)
    monkeypatch.setattr(wikicheck.store, "_quick_check", lambda conn, path: None, raising=False)
    r = cli(*commands(wiki, idx, tmp_path)[command])
    assert r.exit_code == 3, (r.exit_code, r.stderr)
    line = one_error_line(r)
    assert f"{idx / DB_NAME}: damaged (database disk image is malformed)" in line and "move it aside" in line


def test_a_crawl_fills_an_empty_store(cli, crawled):
    wiki, idx = crawled
    zero_bytes(idx)
    assert cli("crawl", wiki, "--index", idx, *FAKE).exit_code == 0
    assert cli("check", "--index", idx).exit_code == 1  # the sample wiki's planted problems


def test_a_store_that_is_a_directory(cli, crawled):
    _, idx = crawled
    for p in idx.iterdir():
        if p.name.startswith(DB_NAME):
            p.unlink()
    (idx / DB_NAME).mkdir()
    r = cli("check", "--index", idx)
    assert r.exit_code == 3
    line = one_error_line(r)
    assert str(idx / DB_NAME) in line and "is a directory" in line
