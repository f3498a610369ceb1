"""The faiss index: derived from the store, written atomically, rebuilt when out of date."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import write_files

from wikicheck.atomic import atomic_write
from wikicheck.crawl import crawl
from wikicheck.errors import IndexOutOfDate
from wikicheck.index import INDEX_NAME, MANIFEST_NAME, Manifest, VectorIndex, build_index
from wikicheck.store import Store

MODEL = "test-hash-64"


@pytest.fixture
def crawled(tmp_path, index_dir, fake_embedder) -> Path:
    wiki = tmp_path / "wiki"
    write_files(wiki, {
        "a.md": "# Deploy\n\nrun the deploy script\n\n## Rollback\n\nrevert the release\n",
        "b.md": "# Backups\n\nrestore postgres from the nightly dump\n",
    })
    crawl([str(wiki)], index_dir, embedder=fake_embedder)
    return wiki


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.endswith(".tmp"))


def test_manifest_fields(crawled, index_dir):
    data = json.loads((index_dir / MANIFEST_NAME).read_text())
    assert set(data) == {"model_id", "dim", "count", "state", "built_at", "kind", "sha256", "bytes", "reason"}
    assert data["bytes"] == (index_dir / INDEX_NAME).stat().st_size and len(data["sha256"]) == 64
    assert (data["model_id"], data["dim"], data["count"], data["kind"]) == (MODEL, 64, 3, "IndexIDMap2(IndexFlatIP)")
    with Store.open(index_dir) as st:
        assert data["state"] == st.index_state(MODEL)
    assert data["built_at"].endswith("Z")
    assert leftovers(index_dir) == []
    files = sorted(p.name for p in index_dir.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert files == sorted([".lock", INDEX_NAME, MANIFEST_NAME, "wikicheck.db"])


def test_up_to_date_index_is_not_rebuilt(crawled, index_dir):
    before = (index_dir / INDEX_NAME).stat().st_mtime_ns, (index_dir / MANIFEST_NAME).read_text()
    with Store.open(index_dir) as st:
        m, rebuilt = build_index(st, index_dir, MODEL)
    assert rebuilt is False and m.count == 3
    assert ((index_dir / INDEX_NAME).stat().st_mtime_ns, (index_dir / MANIFEST_NAME).read_text()) == before


@pytest.mark.parametrize("damage", [
    lambda d: (d / INDEX_NAME).unlink(),
    lambda d: (d / MANIFEST_NAME).unlink(),
    lambda d: (d / MANIFEST_NAME).write_text("{not json"),
    lambda d: (d / MANIFEST_NAME).write_text(json.dumps({**json.loads((d / MANIFEST_NAME).read_text()), "state": "old"})),
    lambda d: (d / MANIFEST_NAME).write_text(json.dumps({**json.loads((d / MANIFEST_NAME).read_text()), "model_id": "x"})),
], ids=["index-missing", "manifest-missing", "manifest-garbage", "manifest-stale", "manifest-other-model"])
def test_missing_or_stale_index_is_rebuilt(crawled, index_dir, fake_embedder, damage):
    damage(index_dir)
    with Store.open(index_dir) as st:
        with pytest.raises(IndexOutOfDate, match="missing or out of date"):
            VectorIndex.load(st, index_dir, MODEL, rebuild=False)
        vi = VectorIndex.load(st, index_dir, MODEL)  # rebuilds
        assert vi.index.ntotal == 3 and vi.manifest.state == st.index_state(MODEL)
    damage(index_dir)
    s = crawl([str(crawled)], index_dir, embedder=fake_embedder)  # a crawl with nothing new rebuilds it too
    assert (s.index_rebuilt, s.index_count, s.sections_embedded) == (True, 3, 0)
    assert Manifest.read(index_dir).state != "old"


def test_removed_sections_drop_out_of_the_index(crawled, index_dir, fake_embedder):
    with Store.open(index_dir) as st:
        rollback_key = st.sections("heading = 'Rollback'")[0]["key"]
        backups_key = st.sections("heading = 'Backups'")[0]["key"]
    (crawled / "a.md").write_text("# Deploy\n\nrun the deploy script\n")
    (crawled / "b.md").unlink()
    s = crawl([str(crawled)], index_dir, embedder=fake_embedder)
    assert (s.sections_removed, s.index_rebuilt, s.index_count) == (2, True, 1)
    with Store.open(index_dir) as st:
        vi = VectorIndex.load(st, index_dir, MODEL, rebuild=False)
        assert vi.index.ntotal == 1
        ids = set(faiss_ids(vi))
        assert rollback_key not in ids and backups_key not in ids
        assert ids == {st.sections()[0]["key"]}


def faiss_ids(vi: VectorIndex) -> list[int]:
    import faiss

    return faiss.vector_to_array(vi.index.id_map).tolist()


def test_search_finds_the_section_by_its_own_text(crawled, index_dir, fake_embedder):
    with Store.open(index_dir) as st:
        vi = VectorIndex.load(st, index_dir, MODEL, rebuild=False)
        target = st.sections("heading = 'Backups'")[0]
        q = fake_embedder.embed(["Backups\n\nrestore postgres from the nightly dump"])
        scores, keys = vi.search(q, 5)
        assert keys.shape == (1, 3)  # k is capped at the index size
        assert keys[0, 0] == target["key"] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(vi.reconstruct(target["key"]), q[0])


def test_empty_index(tmp_path, index_dir, fake_embedder):
    # a source with no page at all is refused (#12); one whose pages were all deleted empties the index
    wiki = tmp_path / "empty"
    wiki.mkdir()
    (wiki / "gone.md").write_text("# Gone\n\nSoon deleted.\n")
    crawl([str(wiki)], index_dir, embedder=fake_embedder)
    (wiki / "gone.md").unlink()
    s = crawl([str(wiki)], index_dir, embedder=fake_embedder)
    assert s.index_count == 0
    m = Manifest.read(index_dir)
    assert (m.count, m.dim) == (0, 64)
    with Store.open(index_dir) as st:
        scores, keys = VectorIndex.load(st, index_dir, MODEL, rebuild=False).search(np.zeros((2, 64), "float32"), 3)
    assert keys.tolist() == [[-1, -1, -1]] * 2


def test_atomic_write_replaces_whole_files(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert leftovers(tmp_path) == []


def test_atomic_write_failure_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_write(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def _clustered(n: int, d: int = 32, groups: int = 40, seed: int = 0) -> np.ndarray:
    """n unit vectors around `groups` directions, interleaved (vector i belongs to group i % groups)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, d))
    x = centres[np.arange(n) % groups] + 0.3 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype="float32")


def test_locality_order_groups_similar_queries():
    from wikicheck.index import locality_order

    x = _clustered(4000)
    order = locality_order(x)
    assert sorted(order.tolist()) == list(range(len(x)))  # a permutation
    group = (order % 40)  # the group of each query, in the new order
    assert int((np.diff(group) != 0).sum()) < 400  # runs: interleaved, the group changes at all 3,999 steps
    assert np.array_equal(order, locality_order(x))  # the same order for the same queries


def test_graph_search_in_locality_order_returns_the_same_hits(monkeypatch):
    import faiss

    import wikicheck.index as index_mod

    x = _clustered(6000)
    graph = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efSearch = 32  # narrow: results that depend on the query alone, not on an exact search
    graph.add(x)
    want_s, want_f = graph.search(x, 8)
    monkeypatch.setattr(index_mod, "LOCALITY_MIN", 1000)
    called: list[int] = []
    real = index_mod.locality_order
    monkeypatch.setattr(index_mod, "locality_order", lambda q: called.append(len(q)) or real(q))
    got_s, got_f = index_mod.search_batch(graph, x, 8, graph=True)
    assert called == [len(x)]  # reordered
    assert np.array_equal(got_f, want_f) and np.array_equal(got_s, want_s)  # and put back in the callers' order
    small_s, small_f = index_mod.search_batch(graph, x[:500], 8, graph=True)  # below LOCALITY_MIN: as is
    assert called == [len(x)] and np.array_equal(small_f, want_f[:500])
