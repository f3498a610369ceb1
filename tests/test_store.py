"""The store: opening, migrations, pages and sections, versions, embeddings. The tests of what a
store holds (fixture `src`) run on both backends: an SQLite file, and a real PostgreSQL + pgvector."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from wikicheck.errors import StoreNotFound, WikicheckError
from wikicheck.model import Document, Provenance
from wikicheck.parse import iter_sections
from wikicheck.store import DB_NAME, Store, db_path_for
from wikicheck.store.migrations import migrations

TABLES = {"meta", "sources", "documents", "sections", "section_versions", "embeddings", "crawls", "warnings"}


def schema(db: Database) -> dict[str, str]:
    return {r[0]: r[1] for r in db.execute("select name, sql from sqlite_master where sql is not null order by name")}


# --------------------------------------------------------------------------- opening and migrations


def test_migrations_apply_twice_is_a_no_op():
    db = Database(memory=True)
    migrations.apply(db)
    first, applied = schema(db), [m.name for m in migrations.applied(db)]
    migrations.apply(db)
    assert schema(db) == first
    assert [m.name for m in migrations.applied(db)] == applied
    assert applied[0] == "m001_core" and migrations.pending(db) == []
    assert TABLES <= set(db.table_names())


def test_migrations_stop_before_and_resume():
    db = Database(memory=True)
    migrations.apply(db, stop_before="m001_core")
    assert set(db.table_names()) == {"_sqlite_migrations"}
    migrations.apply(db)
    assert TABLES <= set(db.table_names())
    assert db["sections"].columns_dict["key"] is int and db["sections"].pks == ["id"]


def test_store_open_twice_keeps_data(store_path):
    with Store.open(store_path, create=True) as st:
        st.set_meta("model_id", "m")
        st.db.conn.commit()
        before = schema(st.db)
    with Store.open(store_path) as st:
        assert st.get_meta("model_id") == "m"
        assert schema(st.db) == before
        assert st.db.execute("select count(*) from _sqlite_migrations").fetchone()[0] == len(migrations.applied(st.db))


@pytest.mark.parametrize("index, expected", [
    ("idx", Path("idx") / DB_NAME),
    ("some/where.db", Path("some/where.db")),
    ("dir.with.dots", Path("dir.with.dots") / DB_NAME),
])
def test_db_path_for(index, expected):
    assert db_path_for(index) == expected


def test_open_missing_store(tmp_path):
    with pytest.raises(StoreNotFound, match=r'no wikicheck store at .*wikicheck.db; run "wikicheck crawl SOURCE --index'):
        Store.open(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_open_creates_a_db_file_path(tmp_path):
    with Store.open(tmp_path / "deep" / "runbooks.db", create=True) as st:
        assert st.path == tmp_path / "deep" / "runbooks.db"
    assert (tmp_path / "deep" / "runbooks.db").is_file()


def _other_app_db(p: Path) -> None:
    conn = sqlite3.connect(p)
    conn.execute("create table invoices (id integer primary key, amount real)")
    conn.execute("insert into invoices values (1, 9.5)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("make", [
    lambda p: p.write_text("this is a text file, not a database\n" * 20),
    lambda p: p.write_bytes(bytes(range(256)) * 8),
    # regression: another application's SQLite database was silently turned into a store
    _other_app_db,
], ids=["text", "binary", "other-sqlite-db"])
def test_open_a_file_that_is_not_a_store(tmp_path, make):
    p = tmp_path / "idx" / DB_NAME
    p.parent.mkdir()
    make(p)
    before = p.read_bytes()
    with pytest.raises(WikicheckError, match=r"wikicheck.db: not a wikicheck store") as exc:
        Store.open(tmp_path / "idx", create=True)
    assert "\n" not in str(exc.value)
    assert p.read_bytes() == before


def test_an_interrupted_first_open_is_finished_next_time(tmp_path):
    p = tmp_path / DB_NAME.replace("wikicheck", "fresh")
    db = Database(p)
    migrations.ensure_migrations_table(db)  # killed right after this, before m001
    db.conn.close()
    with Store.open(p) as st:
        assert TABLES <= set(st.db.table_names())


def test_memory_store_fixture(store):
    assert TABLES <= set(store.db.table_names())
    assert store.path is None


# --------------------------------------------------------------------------- pages and sections


def page(text: str, path: str = "p.md", source: str = "w") -> tuple[Document, list]:
    doc = Document(source=source, path=path, kind="markdown", text=text, fingerprint=str(hash(text)),
                   provenance=Provenance("2024-01-01T00:00:00Z", "ann", "c1", "git"), meta={"owner": "@x"})
    return doc, iter_sections(doc)


@pytest.fixture
def src(any_store):
    any_store.ensure_source("w", "/wiki", "folder")
    return any_store


def test_save_document_reports_changes(src):
    doc, secs = page("# A\n\na\n\n# B\n\nb\n\n# C\n\nc\n")
    c = src.save_document(doc, secs, "t1")
    assert (c.new, c.changed, c.unchanged, c.removed) == (3, 0, 0, 0)
    doc, secs = page("# A\n\na\n\n# B\n\nb changed\n\n# D\n\nd\n")
    c = src.save_document(doc, secs, "t2")
    assert (c.new, c.changed, c.unchanged, c.removed) == (1, 1, 1, 1)
    assert sorted(s["heading"] for s in src.sections()) == ["A", "B", "D"]
    assert [s["heading"] for s in src.sections("removed_at = ?", ["t2"])] == ["C"]
    # C comes back: it counts as changed and is live again, with the same key
    key = src.section(secs[0].id)["key"]
    doc, secs = page("# A\n\na\n\n# C\n\nc\n")
    c = src.save_document(doc, secs, "t3")
    assert (c.new, c.changed, c.unchanged, c.removed) == (0, 1, 1, 2)
    assert src.section(secs[0].id)["key"] == key
    d = src.documents()[0]
    assert (d["first_seen"], d["last_seen"], d["owner"], d["commit"]) == ("t1", "t3", "@x", "c1")


def test_mark_removed(src):
    for path in ("a.md", "b.md"):
        doc, secs = page("# A\n\na\n", path)
        src.save_document(doc, secs, "t1")
        src.apply_versions(doc.id, "w", path, secs, "t1", "c1", "ann", "crawl")
    assert src.mark_removed("w", {"a.md"}, "t2") == (1, 1)
    assert src.mark_removed("w", {"a.md"}, "t3") == (0, 0)  # already removed
    gone = src.documents("removed_at is not null")
    assert [(d["path"], d["removed_at"]) for d in gone] == [("b.md", "t2")]
    assert src.db.execute("select count(*) from section_versions where path = 'b.md' and valid_to = 't2'").fetchone()[0] == 1
    assert src.db.execute("select count(*) from section_versions where path = 'a.md' and valid_to is null").fetchone()[0] == 1


def test_apply_versions_opens_and_closes(src):
    doc, v1 = page("# A\n\none\n\n# B\n\nb\n")
    assert src.apply_versions(doc.id, "w", "p.md", v1, "2022", "c1", "ann", "git") == 2
    assert src.apply_versions(doc.id, "w", "p.md", v1, "2023", "c2", "bob", "git") == 0  # same text
    _, v2 = page("# A\n\ntwo\n\n# B\n\nb\n")
    assert src.apply_versions(doc.id, "w", "p.md", v2, "2024", "c3", "bob", "git",
                              checkpoint=("history:w:x:y", 7)) == 1
    assert src.get_meta("history:w:x:y") == "7"
    a = [(v["text"], v["valid_from"], v["valid_to"], v["commit"], v["ended_by_commit"]) for v in src.versions(v1[0].id)]
    assert a == [("one", "2022", "2024", "c1", "c3"), ("two", "2024", None, "c3", None)]
    assert src.apply_versions(doc.id, "w", "p.md", None, "2025", "c4", "bob", "git") == 0  # page deleted
    assert src.open_versions(doc.id) == {}
    assert [v["valid_to"] for v in src.versions(v1[1].id)] == ["2025"]


def test_ensure_source_refuses_a_second_root(src):
    with pytest.raises(WikicheckError, match='source name "w" is already used in this index for /wiki'):
        src.ensure_source("w", "/other", "folder")
    assert src.ensure_source("w", "/wiki", "git")["name"] == "w"
    assert src.source("w")["kind"] == "git"


# --------------------------------------------------------------------------- embeddings


def test_embeddings_round_trip_and_pending(src):
    doc, secs = page("# A\n\nsame\n\n# B\n\nother\n")
    doc2, secs2 = page("# A\n\nsame\n", path="q.md")  # same heading path and text as p.md's A
    src.save_document(doc, secs, "t1")
    src.save_document(doc2, secs2, "t1")
    pending = src.pending_embeddings("m")
    assert sorted(t for _, t in pending) == ["A\n\nsame", "B\n\nother"]  # one per content hash
    vecs = np.array([[1.5, -2.0, 0.25], [0.0, 1.0, 3.0]], dtype="float32")
    src.put_embeddings("m", [h for h, _ in pending], vecs)
    assert src.pending_embeddings("m") == []
    assert len(src.pending_embeddings("other-model")) == 2
    raw = src.db.execute("select vector from embeddings where content_hash = ?", [pending[0][0]]).fetchone()[0]
    if src.dialect == "sqlite":
        assert raw == np.asarray(vecs[0], dtype="<f4").tobytes()  # little-endian float32 BLOB
    else:
        assert np.array_equal(np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw), vecs[0])  # pgvector
    keys, got = src.live_vectors("m")
    assert len(keys) == 3 and got.dtype == np.float32 and got.shape == (3, 3)
    assert np.array_equal(src.vectors_for_hashes("m", [pending[1][0]])[pending[1][0]], vecs[1])
    # a removed section leaves the live vectors, and the index state changes
    state = src.index_state("m")
    src.mark_removed("w", {"p.md"}, "t2")
    assert len(src.live_vectors("m")[0]) == 2
    assert src.index_state("m") != state


def test_index_state_follows_content(src):
    doc, secs = page("# A\n\na\n")
    src.save_document(doc, secs, "t1")
    s1 = src.index_state("m")
    assert src.index_state("m") == s1
    doc, secs = page("# A\n\na changed\n")
    src.save_document(doc, secs, "t2")
    assert src.index_state("m") != s1


def test_counts_and_crawl_runs(src):
    doc, secs = page("# A\n\na\n")
    src.save_document(doc, secs, "t")
    cid = src.start_crawl(["/wiki"])
    src.add_warning(cid, "w", "x.md", "x.md: skipped")
    src.finish_crawl(cid, "ok", {"documents": 1, "warnings": 1})
    assert src.last_crawl()["status"] == "ok"
    assert src.counts() == {"documents": 1, "documents_removed": 0, "documents_history_only": 0, "sections": 1,
                            "sections_removed": 0, "sections_history_only": 0, "section_versions": 0,
                            "embeddings": 0, "crawls": 1}


# --------------------------------------------------------------------------- atomic writes


def test_save_document_is_all_or_nothing(src, monkeypatch):
    # regression: sqlite-utils committed each insert on its own, so a crawl killed inside a page left
    # the page (with its fingerprint) and half its sections, and the next crawl skipped the page
    import wikicheck.store as store_module

    doc, secs = page("# A\n\na\n\n# B\n\nb\n\n# C\n\nc\n")
    real, calls = store_module._section_row, []

    def dies_on_third(s):
        calls.append(s)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(s)

    monkeypatch.setattr(store_module, "_section_row", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        src.save_document(doc, secs, "t1")
    assert src.db.execute("select count(*) from documents").fetchone()[0] == 0
    assert src.db.execute("select count(*) from sections").fetchone()[0] == 0
    monkeypatch.setattr(store_module, "_section_row", real)
    assert src.save_document(doc, secs, "t1").new == 3


def test_apply_versions_and_its_checkpoint_are_all_or_nothing(src, monkeypatch):
    doc, secs = page("# A\n\na\n\n# B\n\nb\n")
    table = src.db["section_versions"]
    real = type(table).insert_all

    def dies_after_the_first(self, rows, *a, **k):  # the first version written, then the crawl killed
        rows = list(rows)
        real(self, rows[:1], *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(type(table), "insert_all", dies_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        src.apply_versions(doc.id, "w", "p.md", secs, "2022", "c1", "ann", "git", checkpoint=("history:k", 1))
    assert src.db.execute("select count(*) from section_versions").fetchone()[0] == 0
    assert src.get_meta("history:k") is None


def test_exposure_does_not_wait_out_a_writer(tmp_path):
    """While another process holds the write lock (a crawl writing), recording the guard's exposure
    gives up after its short wait instead of the store's 30 s busy timeout, and the connection's
    timeout is back to 30 s afterwards for everything else."""
    from wikicheck.crawl import crawl
    from wikicheck.embed import get_embedder

    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "a.md").write_text("# A\n\n## Restart\n\nRestart the pooler.\n", encoding="utf-8")
    crawl([str(tmp_path / "wiki")], tmp_path / "idx", embedder=get_embedder("test-hash-64"))
    with Store.open(tmp_path / "idx") as st:
        sid = st.db.execute("select id from sections where heading = 'Restart'").fetchone()[0]
        event = [("2026-12-02T00:00:00Z", sid, "ok", None)]
        other = sqlite3.connect(str(db_path_for(tmp_path / "idx")))
        other.execute("BEGIN IMMEDIATE")  # the crawl's write lock
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                st.record_guard_events(event, wait=0.05)
            assert st.db.execute("pragma busy_timeout").fetchone()[0] == 30_000
        finally:
            other.rollback()
            other.close()
        st.record_guard_events(event)
        assert st.db.execute("select count(*) from guard_events").fetchone()[0] == 1
