"""The crawl pipeline through the library API: summaries, runs, model changes, resuming, the real model."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from helpers import D2022, D2024, assert_index_consistent, snapshot, write_files

from wikicheck.crawl import crawl
from wikicheck.embed import DEFAULT_MODEL, HashEmbedder
from wikicheck.errors import ModelMismatch, SourceNotFound, WikicheckError
from wikicheck.index import Manifest, VectorIndex
from wikicheck.store import Store

crawl_module = importlib.import_module("wikicheck.crawl")  # the package re-exports crawl()


def assert_versions_match_sections(index_dir) -> None:
    """Every live section has exactly one open version, with the section's text; removed ones have none."""
    with Store.open(index_dir) as st:
        rows = st.db.execute(
            """select s.id, s.content_hash, s.removed_at,
                      (select count(*) from section_versions v where v.section_id = s.id and v.valid_to is null),
                      (select v.content_hash from section_versions v where v.section_id = s.id and v.valid_to is null)
               from sections s""").fetchall()
    for sid, h, removed, n_open, open_hash in rows:
        if removed is None:
            assert (n_open, open_hash) == (1, h), f"section {sid}"
        else:
            assert n_open == 0, f"removed section {sid}"


@pytest.fixture
def wiki(tmp_path):
    root = tmp_path / "wiki"
    write_files(root, {
        "deploy.md": "# Deploy\n\nIntro.\n\n## Steps\n\nrun make\n\n## Rollback\n\nrevert\n",
        "oncall/escalation.md": "---\nowner: '@sre'\n---\n# Escalation\n\npage the secondary\n",
        "legacy.html": "<html><body><main><h1>Legacy</h1><p>old</p><h2>Notes</h2><p>n</p></main></body></html>",
    })
    return root


def test_crawl_summary_and_run_record(wiki, index_dir, fake_embedder):
    s = crawl([str(wiki)], index_dir, embedder=fake_embedder)
    assert (s.documents, sorted(s.documents_changed)) == (3, ["deploy.md", "legacy.html", "oncall/escalation.md"])
    assert (s.sections_new, s.sections_changed, s.sections_unchanged, s.sections_removed) == (6, 0, 0, 0)
    assert (s.sections_embedded, s.versions_added, s.index_count, s.index_rebuilt) == (6, 6, 6, True)
    assert s.sources == [{"name": "wiki", "kind": "folder", "root": str(wiki.resolve())}]
    assert s.model == "test-hash-64" and s.seconds > 0
    assert set(s.timings) == {"history", "scan", "pages", "embedding", "index"}
    with Store.open(index_dir) as st:
        run = st.last_crawl()
        assert (run["id"], run["status"], run["documents"], run["sections_new"], run["sections_embedded"]) == (
            s.crawl_id, "ok", 3, 6, 6)
        assert json.loads(run["sources"]) == [str(wiki.resolve())]
        assert st.get_meta("model_id") == "test-hash-64" and st.get_meta("dim") == "64"
        assert st.source("wiki")["kind"] == "folder"
    assert_index_consistent(index_dir, "test-hash-64")
    assert_versions_match_sections(index_dir)


def test_missing_source_fails_before_touching_the_index(tmp_path, index_dir, fake_embedder):
    with pytest.raises(SourceNotFound, match="nowhere: no such file or directory"):
        crawl([str(tmp_path / "nowhere")], index_dir, embedder=fake_embedder)
    assert not index_dir.exists()


def test_two_sources_in_one_index(tmp_path, wiki, index_dir, fake_embedder):
    other = tmp_path / "handbook"
    write_files(other, {"deploy.md": "# Deploy\n\nIntro.\n\n## Steps\n\nrun make\n"})
    s = crawl([str(wiki), str(other)], index_dir, embedder=fake_embedder)
    assert [x["name"] for x in s.sources] == ["wiki", "handbook"]
    with Store.open(index_dir) as st:
        steps = st.sections("heading = ?", ["Steps"])
        assert sorted(x["source"] for x in steps) == ["handbook", "wiki"]
        assert len({x["id"] for x in steps}) == 2
        assert len(st.pending_embeddings("test-hash-64")) == 0
    # identical sections share one vector, but both are in the index
    assert_index_consistent(index_dir, "test-hash-64")


def test_same_source_name_for_another_folder_is_refused(tmp_path, wiki, index_dir, fake_embedder):
    crawl([str(wiki)], index_dir, embedder=fake_embedder)
    twin = tmp_path / "elsewhere" / "wiki"
    write_files(twin, {"a.md": "# A\n"})
    with pytest.raises(WikicheckError, match=r'source name "wiki" is already used .* with --name'):
        crawl([str(twin)], index_dir, embedder=fake_embedder)
    s = crawl([str(twin)], index_dir, embedder=fake_embedder, names=["wiki2"])
    assert s.sources[0]["name"] == "wiki2"


# --------------------------------------------------------------------------- runs that stop half way


def test_a_run_left_running_is_marked_killed(wiki, index_dir, fake_embedder):
    crawl([str(wiki)], index_dir, embedder=fake_embedder)
    with Store.open(index_dir) as st:
        stale = st.start_crawl(["x"])  # as a SIGKILLed crawl leaves it
    crawl([str(wiki)], index_dir, embedder=fake_embedder)
    with Store.open(index_dir) as st:
        assert [r["status"] for r in st.db["crawls"].rows_where(order_by="id")] == ["ok", "killed", "ok"]
        assert st.db["crawls"].get(stale)["status"] == "killed"


def test_a_crash_is_recorded_as_failed(wiki, index_dir, fake_embedder, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(crawl_module, "build_vector_index", boom)
    with pytest.raises(RuntimeError):
        crawl([str(wiki)], index_dir, embedder=fake_embedder)
    with Store.open(index_dir) as st:
        assert st.last_crawl()["status"] == "failed"


@pytest.mark.parametrize("interrupt_on_call", [1, 2, 3])
def test_a_stop_between_page_and_versions_loses_no_version(wiki, index_dir, fake_embedder, monkeypatch,
                                                           interrupt_on_call):
    # regression: the page (and its fingerprint) was committed before its versions, so a crawl stopped
    # in between skipped the page next time and its sections never got a version
    real = Store.apply_versions
    calls = []

    def stop(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == interrupt_on_call:
            raise KeyboardInterrupt  # like a SIGKILL at this point, but in-process
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "apply_versions", stop)
    with pytest.raises(KeyboardInterrupt):
        crawl([str(wiki)], index_dir, embedder=fake_embedder)
    monkeypatch.setattr(Store, "apply_versions", real)
    crawl([str(wiki)], index_dir, embedder=fake_embedder)
    assert_versions_match_sections(index_dir)

    clean = index_dir.parent / "clean"
    crawl([str(wiki)], clean, embedder=fake_embedder)
    a, b = snapshot(index_dir), snapshot(clean)
    assert a.live == b.live
    assert sorted(x[:4] for x in a.versions) == sorted(x[:4] for x in b.versions)


# --------------------------------------------------------------------------- models


def test_model_mismatch_then_reembed(wiki, index_dir):
    e64, e32 = HashEmbedder(64), HashEmbedder(32)
    crawl([str(wiki)], index_dir, embedder=e64)
    with pytest.raises(ModelMismatch) as exc:
        crawl([str(wiki)], index_dir, embedder=e32)
    msg = str(exc.value)
    assert '"test-hash-64"' in msg and '"test-hash-32"' in msg and "--reembed" in msg and str(index_dir) in msg
    with Store.open(index_dir) as st:  # nothing was written by the refused run
        assert st.model_id() == "test-hash-64"
        assert st.db["crawls"].count == 1

    s = crawl([str(wiki)], index_dir, embedder=e32, reembed=True)
    assert (s.sections_embedded, s.index_rebuilt, s.index_count) == (6, True, 6)
    m = Manifest.read(index_dir)
    assert (m.model_id, m.dim, m.count) == ("test-hash-32", 32, 6)
    with Store.open(index_dir) as st:
        assert (st.model_id(), st.get_meta("dim")) == ("test-hash-32", "32")
        vi = VectorIndex.load(st, index_dir, "test-hash-32", rebuild=False)
        assert (vi.index.d, vi.index.ntotal) == (32, 6)
        keys, vecs = st.live_vectors("test-hash-32")
        assert vecs.shape == (6, 32)
    assert_index_consistent(index_dir, "test-hash-32")
    # now the old model is the mismatch
    with pytest.raises(ModelMismatch, match='embedded with "test-hash-32", not "test-hash-64"'):
        crawl([str(wiki)], index_dir, embedder=e64)


def test_default_model_end_to_end(git_repo, index_dir, real_embedder, monkeypatch, cli):
    """The real all-MiniLM-L6-v2: crawl a git repo with the default settings, then search by meaning."""
    repo = git_repo(
        (D2022, {
            "db/restore.md": ("# Restore the Postgres database\n\nStop the API, then run `pg_restore` from the "
                              "nightly dump in the backups bucket and check the row counts.\n"),
            "tls.md": ("# Rotate TLS certificates\n\nRenew the certificate with certbot before it expires "
                       "and reload nginx so HTTPS keeps working.\n"),
        }),
        (D2024, {
            "kafka.md": ("# Scale Kafka consumers\n\nWhen consumer lag grows, raise the replica count of the "
                         "consumer deployment.\n\n## Escalation\n\nPage the on-call engineer through PagerDuty "
                         "if the primary does not acknowledge within 15 minutes.\n"),
        }),
    )
    asked = []

    def get_embedder(name=None, batch_size=32):  # the session's model instead of a second load
        asked.append(name)
        assert name == DEFAULT_MODEL
        return real_embedder

    monkeypatch.setattr(crawl_module, "get_embedder", get_embedder)
    result = cli("crawl", repo, "--index", index_dir, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert asked == [DEFAULT_MODEL]
    assert (summary["model"], summary["embedded"], summary["index_count"]) == (DEFAULT_MODEL, 4, 4)
    m = Manifest.read(index_dir)
    assert (m.model_id, m.dim, m.count) == (DEFAULT_MODEL, 384, 4)

    queries = {
        "how do I bring the database back from last night's backup": "Restore the Postgres database",
        "the https cert is about to expire": "Rotate TLS certificates",
        "messages are piling up and the consumers cannot keep up": "Scale Kafka consumers",
        "nobody answers the page, who do I call": "Escalation",
    }
    with Store.open(index_dir) as st:
        vi = VectorIndex.load(st, index_dir, DEFAULT_MODEL, rebuild=False)
        qv = real_embedder.embed(list(queries))
        assert qv.shape == (4, 384) and np.allclose(np.linalg.norm(qv, axis=1), 1, atol=1e-4)
        scores, keys = vi.search(qv, 1)
        got = [st.db.execute("select heading from sections where key = ?", [int(k)]).fetchone()[0] for k in keys[:, 0]]
        assert got == list(queries.values())
        assert (scores[:, 0] > 0.2).all()
        # and the hits carry git provenance
        esc = st.sections("heading = ?", ["Escalation"])[0]
        assert (esc["timestamp_source"], esc["changed_at"]) == ("git", "2024-03-02T16:45:00Z")
    assert_index_consistent(index_dir, DEFAULT_MODEL)
