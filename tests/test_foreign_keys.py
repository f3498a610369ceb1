"""The store's references are SQLite foreign keys (#12): every section id, page id and source name
that a version, a finding or a guard event holds has its row, including the pages and sections only
the git history knows, and an index from before the keys is upgraded in place, repaired, not pruned."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import D2022, D2023, D2024, commit, init_repo
from sqlite_utils import Database

from wikicheck.check import run_checks
from wikicheck.config import Config
from wikicheck.crawl import crawl
from wikicheck.embed import get_embedder
from wikicheck.guard import Guard, GuardConfig
from wikicheck.store import Store
from wikicheck.store.migrations import migrations

ROLLBACK = ("## Rollback\n\nRoll back with deployctl rollback payments-api --to previous, then watch the error "
            "rate on the payments dashboard for ten minutes before you close the incident.\n")
DEPLOY = "# Deploy\n\n## Steps\n\nRun deployctl release payments-api from the release branch.\n\n"
OLD = "# Old runbook\n\nThe old runbook for the ledger export, which runs nightly at two and writes to the archive.\n"
TEMP = "## Freeze\n\nNo deploys during the freeze window this week, ask the release manager first.\n"
D2024B = "2024-03-05T09:00:00+00:00"

# (table, column, other table, other column): what Datasette shows as links
KEYS = {
    ("sections", "document_id", "documents", "id"), ("sections", "source", "sources", "name"),
    ("section_versions", "section_id", "sections", "id"), ("section_versions", "document_id", "documents", "id"),
    ("section_versions", "source", "sources", "name"),
    ("findings", "run_id", "check_runs", "id"), ("findings", "section_id", "sections", "id"),
    ("findings", "newer_section_id", "sections", "id"), ("findings", "document_id", "documents", "id"),
    ("findings", "source", "sources", "name"),
    ("guard_events", "section_id", "sections", "id"), ("guard_events", "replaces", "sections", "id"),
}


@pytest.fixture(scope="module")
def wiki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(repo, index): a repo whose history holds sections and pages no crawl sees at HEAD: removed from a page, a
    page deleted, a page renamed (before the first crawl), and a section added and removed again
    between two crawls. Crawled twice, checked (recorded) and searched through the guard (events).
    The tests only read it."""
    tmp_path = tmp_path_factory.mktemp("fk")
    repo = init_repo(tmp_path / "wiki")
    commit(repo, {"deploy.md": DEPLOY + ROLLBACK, "copy.md": "# Copy\n\n" + ROLLBACK, "old.md": OLD,
                  "del.md": "# Deleted\n\nA page that was deleted before anyone crawled the wiki.\n"}, D2022)
    commit(repo, {"deploy.md": DEPLOY, "old.md": None, "new.md": OLD, "del.md": None}, D2023)
    idx = tmp_path / "idx"
    emb = get_embedder("test-hash-64")
    crawl([str(repo)], idx, embedder=emb)
    commit(repo, {"deploy.md": DEPLOY + TEMP}, D2024)
    commit(repo, {"deploy.md": DEPLOY}, D2024B)
    crawl([str(repo)], idx, embedder=emb)
    with Store.open(idx) as st:
        run_checks(st, Config(), record="run")
    g = Guard(idx, embedder=emb, config=GuardConfig(record_events=True))
    try:
        assert g.search("roll back payments deployctl", 5, "annotate")
    finally:
        g.store.close()
    return repo, idx


def declared(db: sqlite3.Connection) -> set[tuple[str, str, str, str]]:
    tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
    return {(t, r[3], r[2], r[4]) for t in tables for r in db.execute(f"PRAGMA foreign_key_list({t})")}


def test_every_reference_has_its_row_after_crawl_check_and_search(wiki):
    _, idx = wiki
    db = sqlite3.connect(idx / "wikicheck.db")
    assert KEYS <= declared(db)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    # sections are keyed by their id (Datasette opens a linked row by it); `key` is given to every row
    assert [r[1] for r in db.execute("PRAGMA table_info(sections)") if r[5]] == ["id"]
    assert db.execute("select count(*), count(distinct key), count(key) from sections").fetchone()[0] == \
        db.execute("select count(key) from sections").fetchone()[0]
    assert db.execute("select count(*) from guard_events").fetchone()[0] > 0  # the events were written
    assert db.execute("select count(*) from findings").fetchone()[0] > 0
    # the history holds the section removed from deploy.md, old.md, del.md and Freeze: each has its row,
    # removed, known from the history only, and no crawl saw it
    past = db.execute("select path, heading from sections where known_from = 'history' "
                      "and removed_at is not null and first_seen is null order by path, heading").fetchall()
    assert past == [("del.md", "Deleted"), ("deploy.md", "Freeze"), ("deploy.md", "Rollback"),
                    ("old.md", "Old runbook")]
    assert db.execute("select path from documents where known_from = 'history' order by path").fetchall() == [
        ("del.md",), ("old.md",)]
    assert db.execute("select count(*) from sections where known_from = 'history' and removed_at is null"
                      ).fetchone()[0] == 0
    # and it is the row the versions refer to
    assert db.execute("select count(distinct v.section_id) from section_versions v join sections s on s.id = v.section_id "
                      "where s.known_from = 'history'").fetchone()[0] == 4
    with Store.open(idx) as st:
        c = st.counts()
        assert (c["sections_history_only"], c["documents_history_only"], c["sections_removed"]) == (4, 2, 0)


def test_history_rows_change_nothing_the_guard_or_check_does(wiki, tmp_path):
    """The same findings and search results as on the same store without the history's rows (the
    store the crawl wrote before the keys): those rows are never live, embedded, searched or flagged."""
    _, idx = wiki
    bare = tmp_path / "bare"
    shutil.copytree(idx, bare)
    db = sqlite3.connect(bare / "wikicheck.db")
    db.execute("delete from sections where known_from = 'history'")  # foreign_keys is off here
    db.execute("delete from documents where known_from = 'history'")
    db.commit()
    db.close()
    emb = get_embedder("test-hash-64")
    out = []
    for where in (idx, bare):
        with Store.open(where) as st:
            res = run_checks(st, Config(), record="no")
            out.append(sorted((f.rule, f.section_id, f.message, str(f.newer)) for f in res.findings))
        g = Guard(where, embedder=emb, config=GuardConfig(record_events=False))
        try:
            hits = g.search("roll back payments deployctl", 10, "annotate") + g.search("ledger export", 10, "block")
            out.append([(r.section["id"], r.verdict, r.replaces) for r in hits])
            out.append(sorted(g.sections))  # the keys the guard serves
        finally:
            g.store.close()
    n = len(out) // 2
    assert out[:n] == out[n:]
    assert out[0], "the check found nothing: the comparison would prove little"


def test_a_key_is_enforced_on_every_connection(tmp_path, store):
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.db.execute("insert into guard_events (at, section_id, verdict) values ('t', 'no-such-section', 'ok')")
    with Store.open(tmp_path / "idx", create=True) as st:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            st.db.execute("insert into findings (run_id, section_id) values (null, 'no-such-section')")


# --------------------------------------------------------------------------- upgrading an old index


def _old_format_copy(idx: Path, old: Path) -> dict[str, int]:
    """The index as the crawl wrote it before m007: schema up to m006, and no rows for what only the
    history knows. Plus a finding and a guard event naming a section the old store never had."""
    old.mkdir()
    db = Database(old / "wikicheck.db")
    migrations.apply(db, stop_before="m007_foreign_keys")
    src = sqlite3.connect(idx / "wikicheck.db")
    tables = [r[0] for r in src.execute("select name from sqlite_master where type = 'table' and name not like '%sqlite%'")]
    counts = {}
    for t in tables:
        if not db[t].exists():  # a table of a later migration (claim_cache)
            continue
        cols = [c for c in db[t].columns_dict]
        where = " where known_from = 'crawl'" if t in ("sections", "documents") else ""
        rows = src.execute(f"select {', '.join(f'[{c}]' for c in cols)} from {t}{where}").fetchall()
        db.conn.executemany(f"insert into {t} ({', '.join(f'[{c}]' for c in cols)}) values ({', '.join('?' * len(cols))})",
                            rows)
        counts[t] = len(rows)
    run = db.execute("select max(id) from check_runs").fetchone()[0]
    db.execute("insert into findings (run_id, rule, source, document_id, section_id, path, heading, heading_path, message) "
               "values (?, 'WC999', 'wiki', 'doc-gone', 'sec-gone', 'gone.md', 'Gone', '[\"Gone\", \"Gone\"]', 'x')", [run])
    db.execute("insert into guard_events (at, section_id, verdict) values ('2024-01-01T00:00:00Z', 'sec-served', 'ok')")
    counts["findings"] += 1
    counts["guard_events"] += 1
    db.conn.commit()
    db.conn.close()
    src.close()
    for f in idx.iterdir():
        if f.name != "wikicheck.db" and not f.name.startswith("wikicheck.db-"):
            shutil.copy(f, old / f.name)
    return counts


def test_an_index_from_before_the_keys_is_upgraded_in_place(wiki, tmp_path):
    repo, idx = wiki
    old = tmp_path / "old"
    counts = _old_format_copy(idx, old)
    db = sqlite3.connect(old / "wikicheck.db")
    before = {t: db.execute(f"select * from {t} order by rowid").fetchall() for t in counts}
    dangling = db.execute("select count(distinct section_id) from section_versions "
                          "where section_id not in (select id from sections)").fetchone()[0]
    assert dangling == 4 and declared(db) & {("findings", "section_id", "sections", "id")} == set()
    db.close()

    with Store.open(old) as st:  # applies m007
        assert [m.name for m in migrations.pending(st.db)] == []
        db = st.db.conn
        assert KEYS <= declared(db)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        # every row kept as it was; documents and sections gained a column (and rows: the repairs)
        for t, rows in before.items():
            now = db.execute(f"select * from {t} order by rowid").fetchall()
            if t in ("sections", "documents"):
                assert [r[:-1] for r in now[:len(rows)]] == rows and {r[-1] for r in now[:len(rows)]} == {"crawl"}
                assert len(now) > len(rows)
            else:
                assert now == rows, t
        # the repairs: the history's rows, and the ones the finding and the guard event name
        new = {r[0]: r[1:] for r in db.execute(
            "select id, path, heading, known_from, removed_at is not null from sections where known_from = 'history'")}
        assert len(new) == 6
        assert new["sec-gone"] == ("gone.md", "Gone", "history", 1)
        assert new["sec-served"] == (None, None, "history", 1)
        assert {v[:2] for k, v in new.items() if not k.startswith("sec-")} == {
            ("del.md", "Deleted"), ("deploy.md", "Freeze"), ("deploy.md", "Rollback"), ("old.md", "Old runbook")}
        assert db.execute("select path, known_from from documents where id = 'doc-gone'").fetchone() == ("gone.md", "history")
        # the view still reads
        assert db.execute("select count(*) from open_findings").fetchone()[0] > 0
    # the same schema as a store created with the keys, indexes included
    fresh = Database(memory=True)
    migrations.apply(fresh)
    up = Database(old / "wikicheck.db")
    schema = lambda d: {r[0]: r[1] for r in d.execute(  # noqa: E731
        "select name, sql from sqlite_master where sql is not null and name != '_sqlite_migrations'")}
    assert schema(up) == schema(fresh)
    up.conn.close()
    # and the upgraded index crawls and checks as before
    emb = get_embedder("test-hash-64")
    crawl([str(repo)], old, embedder=emb)
    with Store.open(old) as st:
        run_checks(st, Config(), record="run")
        assert st.db.execute("PRAGMA foreign_key_check").fetchall() == []
