"""The PostgreSQL + pgvector store (#15) against a real PostgreSQL 16 with pgvector (fixture pg_server):
the same findings and guarded results as SQLite, its errors, its writer lock, snapshots, the HNSW
graph, and replicas sharing one database. The tests of what a store holds run on both backends in
test_store.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from service_helpers import copy_index, pristine_sample

from wikicheck.crawl import crawl
from wikicheck.errors import StoreLocked, StoreNotFound, WikicheckError
from wikicheck.store import Store
from wikicheck.store.pg import PgLock, redact, translate


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    root = tmp_path / "wiki"
    write(root, "db.md", """
        # Database failover

        ## Promote the replica

        Run `pg_ctl promote -D /var/lib/pgsql/16/data` on db-replica-02.

        ## Point the pooler

        Set `host = db-replica-02` in pgbouncer.ini and reload pgbouncer.
        """)
    write(root, "cdn.md", """
        # CDN cache purge

        ## Purge

        Call `fastly purge --all --service-id SVC123` and wait two minutes.
        """)
    return root


# --------------------------------------------------------------------------- the same answers as SQLite


def _normalised(out: str) -> str:
    return re.sub(r'"(run_id|seconds|started_at|finished_at)": [^,\n]+', r'"\1": 0', out)


def test_sample_wiki_gives_the_same_findings_and_guarded_results_as_sqlite(tmp_path_factory, real_embedder, pg_url,
                                                                           cli, monkeypatch):
    wiki, pristine, _ = pristine_sample(tmp_path_factory, real_embedder)
    sqlite_index = copy_index(pristine, tmp_path_factory.mktemp("sq") / "index")
    monkeypatch.chdir(wiki.parent)  # the wiki's own config is the one found, as for the pristine crawl
    summary = crawl([str(wiki)], pg_url, embedder=real_embedder)
    assert summary.index == redact(pg_url) and summary.sections_embedded > 100
    pg = cli("check", "--store", pg_url, "--format", "json")
    sq = cli("check", "--index", sqlite_index, "--format", "json")
    assert pg.exit_code == sq.exit_code == 1, pg.stderr
    pg_json, sq_json = json.loads(pg.stdout), json.loads(sq.stdout)
    assert len(pg_json["findings"]) >= 20
    assert pg_json["findings"] == sq_json["findings"]  # every field, in the same order
    assert _normalised(json.dumps(pg_json["summary"], sort_keys=True, indent=1)) == \
        _normalised(json.dumps(sq_json["summary"], sort_keys=True, indent=1))
    for query in ("restart pgbouncer after a config change", "reindex elasticsearch", "refund batch job"):
        for policy in ("block", "annotate"):
            a = cli("search", query, "--store", pg_url, "--json", "-p", policy, "--no-events")
            b = cli("search", query, "--index", sqlite_index, "--json", "-p", policy, "--no-events")
            assert a.exit_code == b.exit_code == 0, a.stderr
            assert _normalised(a.stdout) == _normalised(b.stdout)
    status = cli("status", "--store", pg_url, "--json")
    info = json.loads(status.stdout)
    assert info["index"] == redact(pg_url) and info["index_up_to_date"] is True
    assert info["manifest"]["kind"] == "pgvector(exact)" and info["manifest"]["count"] == info["counts"]["sections"]


# --------------------------------------------------------------------------- opening and errors


def test_open_refuses_what_is_not_a_wikicheck_store(pg_url):
    with pytest.raises(StoreNotFound, match=r"no wikicheck store in postgresql://.*run \"wikicheck crawl SOURCE --store"):
        Store.open(pg_url)
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table orders (id int)")
    with pytest.raises(WikicheckError, match="not a wikicheck store .*tables orders"):
        Store.open(pg_url, create=True)


def test_an_unreachable_server_is_one_line_with_the_url_and_no_password(monkeypatch):
    monkeypatch.setenv("WIKICHECK_PG_TIMEOUT", "2")
    with pytest.raises(StoreNotFound) as e:
        Store.open("postgresql://wc:s3cret@127.0.0.1:1/wiki")
    msg = str(e.value)
    assert "\n" not in msg and "s3cret" not in msg and "postgresql://wc:***@127.0.0.1:1/wiki" in msg
    assert "cannot connect to PostgreSQL" in msg


def test_migrations_apply_once_even_when_two_processes_open_a_new_database(pg_url):
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Store.open(pg_url, create=True).close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store.open(pg_url) as st:
        assert [r[0] for r in st.db.execute("select name from _wikicheck_migrations")] == ["p001_schema_as_sqlite_m008"]


def test_cli_store_options(cli, pg_url, tmp_path):
    r = cli("status", "--store", str(tmp_path / "idx"))
    assert r.exit_code == 2 and "--store" in r.stderr and "should be a postgresql:// URL" in r.stderr
    r = cli("status", "--store", pg_url, "--index", str(tmp_path))
    assert r.exit_code == 2 and "give one of them" in r.stderr
    r = cli("status", env={"WIKICHECK_STORE": "sqlite:///x.db"})
    assert r.exit_code == 3 and "WIKICHECK_STORE should be a postgresql:// URL" in r.stderr
    r = cli("status", env={"WIKICHECK_STORE": pg_url})  # the store the variable names: empty, so exit 3
    assert r.exit_code == 3 and "no wikicheck store in postgresql://" in r.stderr
    (tmp_path / "wikicheck.toml").write_text('[store]\nurl = "indexes/default"\n')
    r = cli("status")
    assert r.exit_code == 3 and 'option "url" of [store] should be a postgresql:// URL' in r.stderr
    (tmp_path / "wikicheck.toml").write_text(f'[store]\nurl = "{pg_url}"\n')
    r = cli("status")
    assert r.exit_code == 3 and "no wikicheck store in postgresql://" in r.stderr


def test_translate_leaves_literals_alone():
    assert translate("select [a] from t where x = ? and y like 'a?%' and z = \"q?\"") == \
        "select \"a\" from t where x = %s and y like 'a?%%' and z = \"q?\""
    assert translate("select * from unnest(?::vector[]) as q(v)") == "select * from unnest(%s::vector[]) as q(v)"


# --------------------------------------------------------------------------- concurrency


def test_a_second_crawl_is_refused_while_one_writes(wiki, pg_url, fake_embedder):
    crawl([str(wiki)], pg_url, embedder=fake_embedder)
    with PgLock(pg_url, "crawl"):
        with pytest.raises(StoreLocked, match=r"locked by another run \(wikicheck crawl, pid \d+ on "):
            crawl([str(wiki)], pg_url, embedder=fake_embedder)
        with Store.open(pg_url) as st:
            assert st.writer_lock_holder() is not None
    crawl([str(wiki)], pg_url, embedder=fake_embedder)  # free again


def test_a_killed_crawl_releases_the_lock_and_readers_see_it_did_not_finish(wiki, pg_url, fake_embedder, cli):
    from wikicheck.readers import crawl_state

    crawl([str(wiki)], pg_url, embedder=fake_embedder)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from wikicheck.store import Store
        from wikicheck.store.pg import PgLock
        lock = PgLock({pg_url!r}, "crawl").__enter__()
        st = Store.open({pg_url!r})
        st.start_crawl(["/wiki"])  # a crawl row that says running, as a crawl killed mid-page leaves
        print("locked", flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with Store.open(pg_url) as st:
            assert crawl_state(st).running
        r = cli("search", "purge the cdn", "--store", pg_url, "--no-events")
        assert r.exit_code == 3 and "a crawl is writing" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the server ends the dead client's session (and its lock) as soon as it sees the socket close
        with Store.open(pg_url) as st:
            state = crawl_state(st)
        if not state.running or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state.status == "killed"
    r = cli("search", "purge the cdn", "--store", pg_url, "--no-events")
    assert r.exit_code == 3 and "did not finish (killed)" in r.stderr
    crawl([str(wiki)], pg_url, embedder=fake_embedder)  # the next crawl takes the lock and completes it
    r = cli("search", "purge the cdn", "--store", pg_url, "--no-events", "--json")
    assert r.exit_code == 0, r.stderr


def test_a_reader_snapshot_does_not_see_a_crawl_commit(wiki, pg_url, fake_embedder):
    crawl([str(wiki)], pg_url, embedder=fake_embedder)
    with Store.open(pg_url) as st:
        reader = st.open_reader()
        reader.begin_snapshot()
        before = len(reader.live_keys())
        write(wiki, "dns.md", "# DNS\n\n## Flush\n\nRun `resolvectl flush-caches` on every node.\n")
        crawl([str(wiki)], pg_url, embedder=fake_embedder)
        assert len(reader.live_keys()) == before  # the snapshot
        reader.end_snapshot()
        assert len(reader.live_keys()) == before + 2  # the page and its section, after the snapshot
        reader.close()


def test_two_replicas_share_one_database_and_see_a_crawl_when_it_commits(wiki, pg_url, fake_embedder):
    from wikicheck.check import run_checks
    from wikicheck.guard import Guard

    crawl([str(wiki)], pg_url, embedder=fake_embedder)
    with Store.open(pg_url) as st:
        run_checks(st)
    a, b = Guard(pg_url, embedder=fake_embedder), Guard(pg_url, embedder=fake_embedder)
    try:
        query = "resolvectl flush-caches on every node"
        assert all(r.section["path"] != "dns.md" for r in b.search(query, k=3))
        write(wiki, "dns.md", "# DNS\n\n## Flush\n\nRun `resolvectl flush-caches` on every node.\n")
        crawl([str(wiki)], pg_url, embedder=fake_embedder)
        assert a.refresh() and b.refresh()
        for g in (a, b):
            assert g.search(query, k=3)[0].section["path"] == "dns.md"
        assert not b.refresh()  # nothing new since
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------------------- the HNSW graph


def test_past_the_threshold_the_guard_searches_an_hnsw_graph_that_finds_the_exact_neighbours(pg_url, monkeypatch):
    import wikicheck.index_pg as index_pg
    from wikicheck.index_pg import PgVectorIndex, build_pg_index
    from wikicheck.model import Document, Provenance
    from wikicheck.parse import iter_sections

    rng = np.random.default_rng(7)
    with Store.open(pg_url, create=True) as st:
        st.ensure_source("w", "/wiki", "folder")
        for i in range(40):
            body = "\n\n".join(f"## S{j}\n\nsection {i}.{j}" for j in range(10))
            doc = Document(source="w", path=f"p{i}.md", kind="markdown", text=f"# P{i}\n\n{body}\n", fingerprint=str(i),
                           provenance=Provenance("2024-01-01T00:00:00Z", "ann", "c1", "git"), meta={})
            st.save_document(doc, iter_sections(doc), "t1")
        pending = st.pending_embeddings("m")
        vecs = rng.standard_normal((len(pending), 32)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        st.set_meta("model_id", "m")
        st.set_meta("dim", "32")
        st.put_embeddings("m", [h for h, _ in pending], vecs)
        # another model's vectors (a store that switched models keeps them): a table large enough that the
        # planner would rather walk a graph of model m's vectors than scan it
        filler = rng.standard_normal((30_000, 32)).astype("float32")
        st.put_embeddings("other", [f"x{i}" for i in range(len(filler))], filler)
        exact = PgVectorIndex(st, "m")
        assert not exact.graph
        monkeypatch.setattr(index_pg, "HNSW_THRESHOLD", 100)
        manifest, created = build_pg_index(st, "m")
        assert created and manifest.kind.startswith("pgvector(hnsw")
        graph = PgVectorIndex(st, "m")
        assert graph.graph
        queries = rng.standard_normal((30, 32)).astype("float32")
        s_exact, k_exact = exact.search(queries, 10)
        s_graph, k_graph = graph.search(queries, 10)
        recall = np.mean([len(set(k_exact[i]) & set(k_graph[i])) / 10 for i in range(len(queries))])
        assert recall >= 0.95, recall
        assert np.allclose(s_exact[:, 0], s_graph[:, 0], atol=1e-5)
        # left-out keys (the guard's sections without text) never come back, and k still do
        left_out = sorted({int(key) for key in k_exact[:, :3].ravel()})
        for index in (exact, graph):
            index.exclude(left_out)
            _, got = index.search(queries, 10)
            assert not set(got.ravel().tolist()) & set(left_out) and (got >= 0).all()
            index.exclude([])
        from pgvector import Vector

        plan = "\n".join(r[0] for r in st.db.execute(  # the statement the guard sends for a batch of queries
            "explain " + st.graph_sql("m", 32), [[Vector(q) for q in queries[:3]], 36]))
        assert "idx_embeddings_hnsw_" in plan, plan  # the graph answers, not a scan
        # below the threshold again (sections removed): back to exact search, the graph dropped
        monkeypatch.setattr(index_pg, "HNSW_THRESHOLD", 10_000)
        _, created = build_pg_index(st, "m")
        assert not created and not st.vector_graph("m")


def test_a_replica_renews_an_old_snapshot_but_keeps_it_while_a_crawl_writes(wiki, pg_url, fake_embedder, monkeypatch):
    """An open snapshot holds back vacuum: on an unchanged store the guard takes a new one after
    PG_SNAPSHOT_MAX_AGE; while a crawl writes it keeps the completed crawl's, and searches in it."""
    import wikicheck.guard as guard_module
    from wikicheck.guard import Guard

    crawl([str(wiki)], pg_url, embedder=fake_embedder)
    g = Guard(pg_url, embedder=fake_embedder)
    try:
        first = g.reader
        assert g.index.store is first  # the database's search runs in the rows' snapshot
        assert not g.refresh() and g.reader is first  # young: kept
        monkeypatch.setattr(guard_module, "PG_SNAPSHOT_MAX_AGE", 0.0)
        g._renew_at = 0.0
        assert not g.refresh() and g.reader is not first  # old, nothing changed: a new snapshot
        second = g.reader
        with PgLock(pg_url, "crawl"), Store.open(pg_url) as st:
            st.start_crawl(["/wiki"])  # a crawl writing
            write(wiki, "dns.md", "# DNS\n\n## Flush\n\nRun `resolvectl flush-caches` on every node.\n")
            st.ensure_source("extra", "/elsewhere", "folder")
            g._renew_at = 0.0
            assert not g.refresh() and g.reader is second  # the completed crawl's snapshot stays
            assert g.search("purge the cdn cache", k=2)
    finally:
        g.close()


def test_nightly_on_a_postgresql_store(wiki, pg_url, cli, tmp_path):
    """`wikicheck nightly --store URL`: crawl, check and reports under the store's advisory lock; a
    second night has nothing new; a night while another run writes is refused."""
    env = {"WIKICHECK_MODEL": "test-hash-64"}
    r = cli("nightly", wiki, "--store", pg_url, "--output", tmp_path / "reports", env=env)
    assert r.exit_code in (0, 1), r.stderr
    assert (tmp_path / "reports" / "index.html").is_file() and not (tmp_path / "postgresql:").exists()
    r = cli("nightly", wiki, "--store", pg_url, "--output", tmp_path / "reports", env=env)
    assert r.exit_code == 0 and " 0 new" in r.stdout + r.stderr, r.stdout + r.stderr
    r = cli("status", "--store", pg_url)
    assert r.exit_code == 0 and re.search(r"^pgvector +\d+ vectors, 64 dims, .*up to date \(exact search in the database\)$",
                                          r.stdout, re.M), r.stdout
    with PgLock(pg_url, "crawl"):
        r = cli("nightly", wiki, "--store", pg_url, "--output", tmp_path / "reports", env=env)
    assert r.exit_code == 3 and "is locked by another run (wikicheck crawl, pid" in r.stderr
