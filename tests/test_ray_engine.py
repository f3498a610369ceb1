"""`wikicheck crawl --ray`: the crawl's embedding on a real Ray cluster (a head and a worker node on
loopback, one CPU each, started by this module), against the local path's vectors and findings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from service_helpers import copy_index, pristine_sample

from wikicheck.check import run_checks
from wikicheck.config import load_config
from wikicheck.crawl import crawl
from wikicheck.store import Store

ray = pytest.importorskip("ray", reason="the scale extra (pip install -e '.[scale]') is not installed")

MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def cluster():
    """A real two-node Ray cluster on this machine: the head and one worker node, each a raylet with
    one CPU, as `ray start --head` and `ray start --address` would make them."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80_000_000,
                                                      "include_dashboard": False})
    try:
        c.add_node(num_cpus=1, object_store_memory=80_000_000)
        c.wait_for_nodes()
        yield c.address
    finally:
        c.shutdown()


def _crawl_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "wikicheck", "crawl", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


def _vectors(index: Path) -> dict[str, np.ndarray]:
    with Store.open(index) as store:
        hashes = sorted({s["content_hash"] for s in store.sections()})
        return store.vectors_for_hashes(store.model_id() or "", hashes)


def _fingerprints(index: Path) -> list[str]:
    with Store.open(index) as store:
        return sorted(f.fingerprint for f in run_checks(store, load_config(sources_from=index)).findings)


def test_a_crawl_through_ray_gives_the_local_vectors_and_findings(cluster, tmp_path_factory, real_embedder, tmp_path):
    wiki, local, _ = pristine_sample(tmp_path_factory, real_embedder)
    index = tmp_path / "ray-index"
    p = _crawl_cli(wiki, "--index", index, "--ray", cluster, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""  # Ray's own logging stays out of the crawl's stderr
    summary = json.loads(p.stdout)
    engine = summary["engine"]
    assert engine["crawl"] == "ray"
    r = engine["ray"]
    assert r["nodes"] == 2 and r["actors"] == 2 and r["cpus_per_actor"] == 1.0
    # both nodes' actors embedded a share of the texts the crawl did not embed for the export's check
    assert len(r["texts_per_node"]) == 2 and all(n > 0 for n in r["texts_per_node"])
    assert sum(r["texts_per_node"]) + engine["export"]["verified"]["sections"] == summary["embedded"]
    # the same vectors as the local crawl (ONNX Runtime there, sentence-transformers in the actors) ...
    mine, theirs = _vectors(index), _vectors(local)
    assert set(mine) == set(theirs) and len(mine) > 100
    keys = sorted(mine)
    cos = (np.stack([mine[k] for k in keys]) * np.stack([theirs[k] for k in keys])).sum(1)
    assert float(cos.min()) >= MIN_COSINE
    # ... and so the same findings, fingerprint for fingerprint
    assert _fingerprints(index) == _fingerprints(copy_index(local, tmp_path / "local-copy"))
    # a second crawl with nothing changed embeds nothing, and says so
    again = _crawl_cli(wiki, "--index", index, "--ray", cluster, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["embedded"] == 0


def test_library_crawl_streams_blocks_from_both_nodes_and_each_is_committed(cluster, tmp_path):
    """crawl(ray=ADDRESS) from Python, with the small test model the actors load by name: every block
    the actors return is in the store, and the index holds every section."""
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    for i in range(40):
        (wiki / f"page-{i:02d}.md").write_text(f"# Page {i}\n\n## Restart\n\nRun `systemctl restart svc-{i}` on host-{i}.\n\n"
                                               f"## Check\n\nCurl https://svc-{i}.example/health until it says ok.\n")
    try:
        s = crawl([str(wiki)], tmp_path / "index", load_config(sources_from=tmp_path), ray=cluster,
                  embedder=__import__("wikicheck.embed", fromlist=["get_embedder"]).get_embedder("test-hash-64"))
    finally:
        ray.shutdown()  # this process connected as a driver: let the next test connect afresh
    assert s.engine["crawl"] == "ray" and sum(s.engine["ray"]["texts_per_node"]) == s.sections_embedded == 120
    assert len(s.engine["ray"]["texts_per_node"]) == 2
    with Store.open(tmp_path / "index") as store:
        assert not store.pending_embeddings("test-hash-64")
    assert s.index_count == 120


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("address, says", [
    ("127.0.0.1:CLOSED", "cannot reach the Ray head node at 127.0.0.1:"),
    ("nowhere", "--ray nowhere: give auto, local, or the head node's HOST:PORT"),
])
def test_a_bad_address_is_one_line_and_touches_no_index(tmp_path, address, says):
    address = address.replace("CLOSED", str(_closed_port()))
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "a.md").write_text("# A\n\ntext\n")
    p = _crawl_cli(wiki, "--index", tmp_path / "index", "--ray", address, "--model", "test-hash-64", cwd=tmp_path)
    assert p.returncode == 3
    assert p.stderr.startswith(f"error: {says}") and p.stderr.count("\n") == 1, p.stderr
    assert not (tmp_path / "index").exists()


def test_without_ray_nothing_imports_it(tmp_path):
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "a.md").write_text("# A\n\n## Restart\n\nsystemctl restart a\n")
    code = ("import sys; from wikicheck.cli import main; sys.argv = ['wikicheck', 'crawl', sys.argv[1], '--index', "
            "sys.argv[2], '--model', 'test-hash-64', '-q']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray imported'\nprint('ok')")
    p = subprocess.run([sys.executable, "-c", code, str(wiki), str(tmp_path / "index")], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr


def test_a_check_through_ray_gives_the_local_findings(cluster, tmp_path_factory, real_embedder, tmp_path):
    """check --ray: the neighbour search and claim extraction run as tasks on both nodes; the findings
    are those of the local check, fingerprint for fingerprint (sample wiki, real model, exact search)."""
    _, pristine, _ = pristine_sample(tmp_path_factory, real_embedder)
    index = copy_index(pristine, tmp_path / "index")
    cfg = load_config(sources_from=index)
    with Store.open(index) as store:
        local = sorted(f.fingerprint for f in run_checks(store, cfg, record="no").findings)
        try:
            res = run_checks(store, cfg, record="no", ray=cluster)
        finally:
            ray.shutdown()
    assert sorted(f.fingerprint for f in res.findings) == local and local
    r = res.summary()["ray"]
    assert r["nodes"] == 2 and r["query_parts"] == 2 and r["queries"] > 100 and r["texts"] > 100
    # the CLI says the same, in its JSON summary
    p = subprocess.run([sys.executable, "-m", "wikicheck", "check", "--index", str(index), "-f", "json", "--ray", cluster],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert p.returncode == 1, p.stderr  # the sample wiki has findings
    out = json.loads(p.stdout)
    assert out["summary"]["ray"]["nodes"] == 2
    assert sorted(f["fingerprint"] for f in out["findings"]) == local


def test_the_graph_search_through_ray_returns_the_local_hits(cluster):
    """An HNSW graph past LOCALITY_MIN queries (the locality-ordered path of index.search_batch): the
    cluster's tasks return exactly the hits and scores of the local search."""
    import faiss

    from wikicheck.index import LOCALITY_MIN, search_batch
    from wikicheck.ray_engine import RayCheckWork, connect

    rng = np.random.default_rng(7)
    x = rng.standard_normal((LOCALITY_MIN + 500, 32)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexHNSWFlat(32, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(x)
    params = faiss.SearchParametersHNSW(efSearch=48)
    want_s, want_i = search_batch(index, x, 10, params, graph=True)
    try:
        work = RayCheckWork(connect(cluster))
        got_s, got_i = work.search(index, x, 10, 48, graph=True)
    finally:
        ray.shutdown()
    assert np.array_equal(got_i, want_i)
    assert np.array_equal(got_s, want_s)
    assert work.describe()["query_parts"] == 2


def test_a_model_the_actors_cannot_load_is_one_clear_error(cluster):
    """An error inside an actor comes back as the crawl's own one-line error (WikicheckError, exit 3 on
    the CLI): its cause from the actor, not Ray's wrapping and remote traceback."""
    from wikicheck.errors import WikicheckError
    from wikicheck.ray_engine import RayEmbedder, connect

    try:
        emb = RayEmbedder("/nonexistent/model", connect(cluster), dim=384)
        with pytest.raises(WikicheckError) as e:
            list(emb.embed_stream([(str(i), f"text {i}") for i in range(8)]))
    finally:
        ray.shutdown()
    msg = str(e.value)
    assert msg.startswith('embedding on the Ray cluster failed: cannot load embedding model "/nonexistent/model"')
    assert "\n" not in msg and "the next crawl embeds the rest" in msg
