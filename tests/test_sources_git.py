"""Git sources: per-section provenance from blame, history from git log, incremental crawls, dirty trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import ANN, BOB, D2022, D2023, D2024, assert_index_consistent, commit, git, init_repo, iso_z, write_files

from wikicheck.crawl import crawl
from wikicheck.errors import SourceNotFound
from wikicheck.sources import open_source
from wikicheck.sources.git import GitSource, is_git_root
from wikicheck.store import Store

V1 = """# Deploy

Intro to deploying.

## Steps

Run `make deploy`.

## Rollback

Run `make rollback`.
"""
V2 = V1.replace("Run `make deploy`.", "Run `make deploy ENV=prod`.")
V3 = V2.replace("Run `make deploy ENV=prod`.", "Run `./deploy.sh prod`.").replace("make rollback", "./rollback.sh")
NO_ROLLBACK = V3.split("## Rollback")[0].rstrip() + "\n"

ANN_ID, BOB_ID = f"{ANN[0]} <{ANN[1]}>", f"{BOB[0]} <{BOB[1]}>"


@pytest.fixture
def repo(tmp_path) -> Path:
    return init_repo(tmp_path / "wiki")


def by_heading(st: Store, path: str = "deploy.md") -> dict[str, dict]:
    return {s["heading"]: s for s in st.sections("path = ?", [path])}


def versions(st: Store, section_id: str) -> list[tuple]:
    return [(v["text"], v["valid_from"], v["valid_to"], v["commit"], v["author"], v["ended_by_commit"], v["origin"])
            for v in st.versions(section_id)]


def run(repo: Path, index: Path, embedder, **kw):
    return crawl([str(repo)], index, embedder=embedder, **kw)


# --------------------------------------------------------------------------- provenance


def test_each_section_gets_the_date_of_its_newest_line(repo, index_dir, fake_embedder):
    c1 = commit(repo, {"deploy.md": V1, "other.md": "# Other\n\nNothing.\n"}, D2022, author=ANN)
    c2 = commit(repo, {"deploy.md": V2}, D2024, author=BOB)
    s = run(repo, index_dir, fake_embedder)
    assert s.sources[0]["kind"] == "git" and s.warnings == []
    with Store.open(index_dir) as st:
        secs = by_heading(st)
        got = {h: (x["changed_at"], x["author"], x["commit"], x["timestamp_source"]) for h, x in secs.items()}
        assert got == {
            "Deploy": (iso_z(D2022), ANN_ID, c1, "git"),
            "Steps": (iso_z(D2024), BOB_ID, c2, "git"),
            "Rollback": (iso_z(D2022), ANN_ID, c1, "git"),
        }
        doc = st.documents("path = ?", ["deploy.md"])[0]
        assert (doc["changed_at"], doc["commit"], doc["timestamp_source"], doc["fingerprint"][:4]) == (
            iso_z(D2024), c2, "git", "git:")
        assert st.sections("path = ?", ["other.md"])[0]["changed_at"] == iso_z(D2022)


def test_dates_are_committer_dates_in_utc(repo, index_dir, fake_embedder):
    # authored in 2020, landed (committed) 2024-03-02 18:00 at +02:00
    c = commit(repo, {"a.md": "# A\n\na\n"}, "2020-01-01T00:00:00+00:00", committer_date="2024-03-02T18:00:00+02:00")
    run(repo, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        a = st.sections()[0]
        assert (a["changed_at"], a["commit"]) == ("2024-03-02T16:00:00Z", c)
        assert [v["valid_from"] for v in st.versions(a["id"])] == ["2024-03-02T16:00:00Z"]


def test_front_matter_date_does_not_beat_git(repo, index_dir, fake_embedder):
    commit(repo, {"a.md": "---\nupdated: 2019-01-01\nowner: '@x'\n---\n# A\n\na\n"}, D2023)
    run(repo, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        doc = st.documents()[0]
        assert (doc["timestamp_source"], doc["changed_at"], doc["owner"]) == ("git", iso_z(D2023), "@x")


# --------------------------------------------------------------------------- history


def test_every_past_version_is_recorded(repo, index_dir, fake_embedder):
    c1 = commit(repo, {"deploy.md": V1}, D2022, author=ANN)
    c2 = commit(repo, {"deploy.md": V2}, D2023, author=BOB)
    c3 = commit(repo, {"deploy.md": V3}, D2024, author=ANN)
    s = run(repo, index_dir, fake_embedder)
    assert s.history_events == 3
    with Store.open(index_dir) as st:
        secs = by_heading(st)
        assert versions(st, secs["Steps"]["id"]) == [
            ("Run `make deploy`.", iso_z(D2022), iso_z(D2023), c1, ANN_ID, c2, "git"),
            ("Run `make deploy ENV=prod`.", iso_z(D2023), iso_z(D2024), c2, BOB_ID, c3, "git"),
            ("Run `./deploy.sh prod`.", iso_z(D2024), None, c3, ANN_ID, None, "git"),
        ]
        assert versions(st, secs["Rollback"]["id"]) == [
            ("Run `make rollback`.", iso_z(D2022), iso_z(D2024), c1, ANN_ID, c3, "git"),
            ("Run `./rollback.sh`.", iso_z(D2024), None, c3, ANN_ID, None, "git"),
        ]
        assert versions(st, secs["Deploy"]["id"]) == [("Intro to deploying.", iso_z(D2022), None, c1, ANN_ID, None, "git")]
        assert st.db["section_versions"].count == 6


def test_a_section_removed_from_its_page_keeps_its_history(repo, index_dir, fake_embedder):
    c1 = commit(repo, {"deploy.md": V1}, D2022)
    c2 = commit(repo, {"deploy.md": NO_ROLLBACK}, D2024)
    run(repo, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        # never seen by a crawl, but its history is there, closed by the commit that removed it; its
        # row (which the versions refer to) is known from the history only, and not live (#12)
        [rb] = st.sections("heading = ?", ["Rollback"])
        assert (rb["known_from"], rb["removed_at"] is not None, rb["first_seen"], rb["changed_at"]) == (
            "history", True, None, iso_z(D2022))
        rows = list(st.db.query("select * from section_versions where heading_path like '%Rollback%'"))
        assert [(r["valid_from"], r["valid_to"], r["commit"], r["ended_by_commit"]) for r in rows] == [
            (iso_z(D2022), iso_z(D2024), c1, c2)]


def test_a_section_removed_between_crawls(repo, index_dir, fake_embedder):
    commit(repo, {"deploy.md": V1}, D2022)
    run(repo, index_dir, fake_embedder)
    c2 = commit(repo, {"deploy.md": NO_ROLLBACK}, D2024)
    s = run(repo, index_dir, fake_embedder)
    assert (s.sections_removed, s.history_events) == (1, 1)
    with Store.open(index_dir) as st:
        rb = st.sections("heading = ? and removed_at is null", ["Rollback"])
        assert rb == []
        rb = st.sections("removed_at is not null")
        assert [x["heading"] for x in rb] == ["Rollback"]
        assert [(v[2], v[5]) for v in versions(st, rb[0]["id"])] == [(iso_z(D2024), c2)]


def test_a_deleted_file_is_marked_removed_with_history_kept(repo, index_dir, fake_embedder):
    commit(repo, {"deploy.md": V1, "old.md": "# Old\n\nold way\n\n## More\n\nmore\n"}, D2022)
    run(repo, index_dir, fake_embedder)
    c2 = commit(repo, {"old.md": None}, D2024)
    s = run(repo, index_dir, fake_embedder)
    assert (s.documents_removed, s.sections_removed, s.history_events) == (["old.md"], 2, 1)
    with Store.open(index_dir) as st:
        doc = st.documents("path = ?", ["old.md"])[0]
        assert doc["removed_at"] is not None
        old = st.sections("path = ? and removed_at is not null", ["old.md"])
        assert sorted(x["heading"] for x in old) == ["More", "Old"]
        for x in old:
            assert [(v[1], v[2], v[5]) for v in versions(st, x["id"])] == [(iso_z(D2022), iso_z(D2024), c2)]
        assert [d["path"] for d in st.documents()] == ["deploy.md"]
    n = assert_index_consistent(index_dir, "test-hash-64")
    assert n == 3


def test_history_of_a_file_deleted_before_the_first_crawl(repo, index_dir, fake_embedder):
    commit(repo, {"gone.md": "# Gone\n\nonce\n", "a.md": "# A\n"}, D2022)
    commit(repo, {"gone.md": None}, D2023)
    run(repo, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        # no crawl saw the page: its row (which the versions refer to) is known from the history only (#12)
        [gone] = st.documents("path = ?", ["gone.md"])
        assert (gone["known_from"], gone["removed_at"] is not None, gone["first_seen"]) == ("history", True, None)
        rows = list(st.db.query("select text, valid_from, valid_to from section_versions where path = 'gone.md'"))
        assert rows == [{"text": "once", "valid_from": iso_z(D2022), "valid_to": iso_z(D2023)}]


# --------------------------------------------------------------------------- incremental


def test_second_crawl_imports_only_the_new_commit(repo, index_dir, fake_embedder):
    pages = {f"p{i}.md": f"# Page {i}\n\ntext {i}\n\n## Part\n\npart {i}\n" for i in range(8)}
    commit(repo, pages, D2022)
    commit(repo, {"p1.md": pages["p1.md"] + "\nmore\n"}, D2023)
    first = run(repo, index_dir, fake_embedder)
    assert (first.history_events, first.sections_new, first.versions_added) == (9, 16, 16 + 1)

    head = commit(repo, {"p3.md": pages["p3.md"].replace("part 3", "part three")}, D2024)
    second = run(repo, index_dir, fake_embedder)
    assert second.history_events == 1
    assert (second.versions_added, second.sections_changed, second.sections_new, second.sections_embedded) == (1, 1, 0, 1)
    assert second.sections_unchanged == 15 and second.documents_changed == ["p3.md"]
    with Store.open(index_dir) as st:
        assert st.source("wiki")["last_commit"] == head
        assert st.db.execute("select count(*) from meta where key like 'history:%'").fetchone()[0] == 1

    third = run(repo, index_dir, fake_embedder)
    assert (third.history_events, third.versions_added, third.sections_embedded) == (0, 0, 0)
    assert (third.sections_new, third.sections_changed, third.sections_unchanged) == (0, 0, 16)
    assert (third.documents_changed, third.index_rebuilt) == ([], False)


def test_rewritten_history_goes_on_from_the_merge_base(repo, index_dir, fake_embedder):
    # regression: after a force push the whole history was replayed over the stored versions, which
    # duplicated them and closed the newest one before it started
    c1 = commit(repo, {"a.md": "# A\n\none\n"}, D2022)
    c2 = commit(repo, {"a.md": "# A\n\ntwo\n"}, D2023)
    run(repo, index_dir, fake_embedder)
    git(repo, "reset", "-q", "--hard", "HEAD~1")  # the last crawled commit is no longer in HEAD's history
    c3 = commit(repo, {"a.md": "# A\n\nthree\n"}, D2024)
    s = run(repo, index_dir, fake_embedder)
    assert (s.history_events, s.sections_changed) == (1, 1)
    with Store.open(index_dir) as st:
        assert st.source("wiki")["last_commit"] == c3
        a = st.sections()[0]
        assert (a["text"], a["commit"]) == ("three", c3)
        assert [(v[0], v[1], v[2], v[3]) for v in versions(st, a["id"])] == [
            ("one", iso_z(D2022), iso_z(D2023), c1),
            ("two", iso_z(D2023), iso_z(D2024), c2),
            ("three", iso_z(D2024), None, c3),
        ]


# --------------------------------------------------------------------------- working tree


def test_untracked_and_uncommitted_pages_get_mtime(repo, index_dir, fake_embedder):
    commit(repo, {"deploy.md": V1}, D2022)
    write_files(repo, {"deploy.md": V2, "notes/new.md": "# New\n\nnot committed\n"})
    t = 1735689600  # 2025-01-01T00:00:00Z
    for p in ("deploy.md", "notes/new.md"):
        os.utime(repo / p, (t, t))
    run(repo, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        secs = by_heading(st)
        got = {h: (x["timestamp_source"], x["changed_at"]) for h, x in secs.items()}
        assert got == {"Deploy": ("git", iso_z(D2022)), "Steps": ("mtime", "2025-01-01T00:00:00Z"),
                       "Rollback": ("git", iso_z(D2022))}
        assert secs["Steps"]["commit"] is None
        new = st.sections("path = ?", ["notes/new.md"])[0]
        assert (new["timestamp_source"], new["changed_at"], new["commit"]) == ("mtime", "2025-01-01T00:00:00Z", None)
        docs = {d["path"]: d for d in st.documents()}
        assert docs["deploy.md"]["fingerprint"].startswith("wt:")
        assert docs["notes/new.md"]["timestamp_source"] == "mtime"
        # the uncommitted text is a version of its own, after the committed one
        assert [(v[0], v[1], v[2], v[6]) for v in versions(st, secs["Steps"]["id"])] == [
            ("Run `make deploy`.", iso_z(D2022), "2025-01-01T00:00:00Z", "git"),
            ("Run `make deploy ENV=prod`.", "2025-01-01T00:00:00Z", None, "crawl"),
        ]


def test_repo_without_commits(repo, index_dir, fake_embedder):
    write_files(repo, {"a.md": "# A\n\na\n"})
    os.utime(repo / "a.md", (1622548800, 1622548800))
    s = run(repo, index_dir, fake_embedder)
    assert (s.sources[0]["kind"], s.documents, s.history_events) == ("git", 1, 0)
    with Store.open(index_dir) as st:
        assert st.sections()[0]["timestamp_source"] == "mtime"
        assert st.source("wiki")["last_commit"] is None


def test_bad_committed_files_warn_once(repo, index_dir, fake_embedder):
    commit(repo, {"a.md": "# A\n\na\n", "bin.md": b"\x00\x01\x02binary", "latin.md": "# Caf\xe9\n".encode("latin-1")},
           D2022)
    os.symlink("a.md", repo / "link.md")
    commit(repo, {}, D2023)
    s = run(repo, index_dir, fake_embedder)
    got = sorted((w["path"], w["message"]) for w in s.warnings)
    assert [p for p, _ in got] == ["bin.md", "latin.md"]
    assert got[0][1].startswith("bin.md: skipped, binary file") and got[1][1].startswith("latin.md: skipped, not valid UTF-8")
    assert s.documents_changed == ["a.md"]  # the symlinked page is not crawled twice


def test_a_subfolder_of_a_repo(repo, index_dir, fake_embedder):
    c = commit(repo, {"docs/a.md": "# A\n\na\n", "src/readme.md": "# Not docs\n"}, D2022)
    sub = repo / "docs"
    assert is_git_root(repo) and not is_git_root(sub)
    src = open_source(str(sub))  # a tracked sub-folder is detected as git (#12), as --kind git crawls it
    assert isinstance(src, GitSource) and src.prefix == "docs/"
    assert open_source(str(sub), kind="folder").kind == "folder"  # unless told otherwise
    crawl([str(sub)], index_dir, embedder=fake_embedder)
    with Store.open(index_dir) as st:
        assert [(x["path"], x["commit"]) for x in st.sections()] == [("a.md", c)]
        assert [v["path"] for v in st.db["section_versions"].rows] == ["a.md"]


def test_not_a_git_repo(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceNotFound, match="not a git repository"):
        GitSource(tmp_path / "plain", "x")


def test_a_renamed_page_is_recorded_as_renamed_not_removed(repo, index_dir, fake_embedder):
    text = "# Restart\n\n## Steps\n\nRun `systemctl restart pgbouncer` on db-01 and check the pool with SHOW POOLS.\n"
    commit(repo, {"docs/restart.md": text, "docs/other.md": "# Other\n\nother page\n"}, D2022)
    first = run(repo, index_dir, fake_embedder)
    assert first.documents_renamed == []
    (repo / "runbooks").mkdir()
    git(repo, "mv", "docs/restart.md", "runbooks/restart.md")
    git(repo, "commit", "-q", "-m", "move", date=D2023)
    second = run(repo, index_dir, fake_embedder)
    assert second.documents_renamed == [{"from": "docs/restart.md", "to": "runbooks/restart.md"}]
    assert second.documents_removed == []
    with Store.open(index_dir) as st:
        (r,) = st.renames("wiki")
        assert (r["old_path"], r["new_path"], r["origin"], r["at"]) == (
            "docs/restart.md", "runbooks/restart.md", "git", iso_z(D2023))
        assert r["similarity"] == 100
