"""A sub-folder of a git repository (`wikicheck crawl repo/docs`) is a git source dated by its commits (#12).

Before #12 it was detected as a plain folder: no history, and every date was the file's mtime, which on
a fresh clone is today, so nothing was ever stale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from helpers import D2022, D2023, commit, git, init_repo, iso_z, write_files

from wikicheck.check import run_checks
from wikicheck.crawl import crawl
from wikicheck.sources import detect_kind
from wikicheck.store import Store

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
FRESH = "2026-10-29T09:00:00+00:00"  # 30 days before NOW
CLONED = (NOW - dt.timedelta(days=1)).timestamp()  # the mtime every file gets from a fresh clone
FAKE = ("--model", "test-hash-64")
GIT_DATES = "git commits (the newest among a section's lines); uncommitted edits: file modification time"
FOLDER_DATES = "front matter or HTML metadata, else file modification time"

V1 = "# Deploy\n\nIntro to deploying.\n\n## Steps\n\nRun `make deploy`.\n\n## Rollback\n\nRun `make rollback`.\n"
V2 = V1.replace("Run `make deploy`.", "Run `make deploy ENV=prod`.")
ONCALL = "# On call\n\nPage the secondary after 10 minutes.\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A docs-as-code repository: docs/ beside code, a git-ignored site/ and an untracked scratch/ folder;
    every file's mtime is the day before NOW, as after a fresh clone."""
    r = init_repo(tmp_path / "repo")
    commit(r, {"docs/deploy.md": V1, "docs/oncall.md": "# On call\n\nPage the primary.\n",
               "src/README.md": "# Service\n\nNot a runbook page.\n", ".gitignore": "site/\n"}, D2022)
    commit(r, {"docs/deploy.md": V2}, D2023)
    commit(r, {"docs/oncall.md": ONCALL}, FRESH)
    write_files(r, {"site/deploy.md": V2, "scratch/notes.md": "# Notes\n\nscratch\n"})
    for dirpath, dirnames, files in os.walk(r):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in files:
            os.utime(Path(dirpath) / f, (CLONED, CLONED))
    return r


def sections(index: Path) -> dict[tuple[str, str], dict]:
    with Store.open(index) as st:
        return {(s["path"], s["heading"]): s for s in st.sections()}


def stale(index: Path) -> dict[str, str]:
    """WC101 (a page not changed within 365 days) by page: its message."""
    with Store.open(index) as st:
        return {f.path: f.message for f in run_checks(st, now=NOW, record=False).findings if f.rule == "WC101"}


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("folder,kind", [
    ("repo", "git"),
    ("repo/docs", "git"),  # tracked sub-folder: git, with docs/ as prefix
    ("repo/site", "folder"),  # git-ignored build output: git knows nothing of its pages
    ("repo/scratch", "folder"),  # untracked, not ignored: nothing committed to date it by
    ("plain", "folder"),  # outside any repository
])
def test_detect_kind(tmp_path, repo, folder, kind):
    (tmp_path / "plain").mkdir()
    assert detect_kind(str(tmp_path / folder)) == kind


def test_a_repository_without_commits(tmp_path):
    r = init_repo(tmp_path / "empty")
    write_files(r, {"docs/a.md": "# A\n\na\n"})
    assert (detect_kind(str(r)), detect_kind(str(r / "docs"))) == ("git", "folder")
    git(r, "add", "docs/a.md")  # staged: git tracks it, and its first commit will date it
    assert detect_kind(str(r / "docs")) == "git"


# --------------------------------------------------------------------------- crawl and check


def test_a_subfolder_is_crawled_as_git_with_its_commit_dates(repo, index_dir, fake_embedder):
    s = crawl([str(repo / "docs")], index_dir, embedder=fake_embedder)
    assert s.sources == [{"name": "docs", "kind": "git", "root": str((repo / "docs").resolve())}]
    got = {k: (x["timestamp_source"], x["changed_at"]) for k, x in sections(index_dir).items()}
    # paths stay relative to the crawled folder, as for a folder crawl; src/ is not part of it
    assert got == {
        ("deploy.md", "Deploy"): ("git", iso_z(D2022)),
        ("deploy.md", "Steps"): ("git", iso_z(D2023)),
        ("deploy.md", "Rollback"): ("git", iso_z(D2022)),
        ("oncall.md", "On call"): ("git", iso_z(FRESH)),
    }
    with Store.open(index_dir) as st:
        steps = sections(index_dir)[("deploy.md", "Steps")]
        assert [(v["text"], v["valid_from"], v["valid_to"], v["origin"]) for v in st.versions(steps["id"])] == [
            ("Run `make deploy`.", iso_z(D2022), iso_z(D2023), "git"),
            ("Run `make deploy ENV=prod`.", iso_z(D2023), None, "git"),
        ]
    assert s.history_events == 4  # deploy.md twice, oncall.md twice: the whole history of docs/


def test_check_finds_the_stale_page_a_folder_crawl_misses(repo, tmp_path, fake_embedder):
    crawl([str(repo / "docs")], tmp_path / "git-idx", embedder=fake_embedder)
    crawl([str(repo / "docs")], tmp_path / "folder-idx", embedder=fake_embedder, kind="folder")
    assert stale(tmp_path / "git-idx") == {"deploy.md": "last changed 2023-05-20, 1288 days ago (limit 365)"}
    assert stale(tmp_path / "folder-idx") == {}  # every page dated by the clone: nothing is ever stale


def test_uncommitted_edits_in_a_subfolder(repo, index_dir, fake_embedder):
    write_files(repo, {"docs/deploy.md": V2.replace("make rollback", "make undo"), "docs/new.md": "# New\n\nnew\n"})
    for p in ("docs/deploy.md", "docs/new.md"):
        os.utime(repo / p, (CLONED, CLONED))
    crawl([str(repo / "docs")], index_dir, embedder=fake_embedder)
    got = {k: (x["timestamp_source"], x["changed_at"][:10]) for k, x in sections(index_dir).items()}
    assert got[("deploy.md", "Steps")] == ("git", iso_z(D2023)[:10])
    assert got[("deploy.md", "Rollback")] == got[("new.md", "New")] == ("mtime", "2026-11-27")


@pytest.mark.parametrize("folder,kind,why", [
    ("site", None, "git-ignored"),
    ("docs", "folder", "forced"),
])
def test_crawled_as_a_folder(repo, index_dir, fake_embedder, folder, kind, why):
    s = crawl([str(repo / folder)], index_dir, embedder=fake_embedder, kind=kind)
    assert s.sources[0]["kind"] == "folder", why
    assert {x["timestamp_source"] for x in sections(index_dir).values()} == {"mtime"}
    assert s.history_events == 0


# --------------------------------------------------------------------------- the CLI: status, kind switches


def test_status_says_where_dates_come_from(cli, repo, tmp_path):
    assert cli("crawl", repo / "docs", "--index", tmp_path / "g", *FAKE).exit_code == 0
    assert cli("crawl", repo / "docs", "--index", tmp_path / "f", "--kind", "folder", *FAKE).exit_code == 0
    (g,) = json.loads(cli("status", "--index", tmp_path / "g", "--json").stdout)["sources"]
    (f,) = json.loads(cli("status", "--index", tmp_path / "f", "--json").stdout)["sources"]
    docs = str((repo / "docs").resolve())
    assert (g["name"], g["kind"], g["root"], g["dates"], g["hint"]) == ("docs", "git", docs, GIT_DATES, None)
    assert (f["kind"], f["dates"]) == ("folder", FOLDER_DATES)
    assert f["hint"] == f"git tracks {docs}; to date its pages by their commits instead, crawl it into a new --index (kind detected)"
    assert cli("status", "--index", tmp_path / "g").stdout.splitlines()[-1] == f"dates of   docs: {GIT_DATES}"
    assert cli("status", "--index", tmp_path / "f").stdout.splitlines()[-2:] == [
        f"dates of   docs: {FOLDER_DATES}", f"hint       docs: {f['hint']}"]


@pytest.mark.parametrize("command", ["cli", "library"])
def test_a_source_keeps_its_kind_in_one_index(cli, repo, index_dir, tmp_path, command):
    """A folder source crawled before #12 (or with --kind folder) stays a folder source when git
    tracks it: detection that has learnt more must not mix file dates and commit dates in one history."""
    assert cli("crawl", repo / "docs", "--index", index_dir, *FAKE, "--kind", "folder").exit_code == 0
    if command == "cli":
        r = cli("crawl", repo / "docs", "--index", index_dir, *FAKE)
        assert r.exit_code == 0, r.output
    else:  # what `wikicheck nightly` calls
        from wikicheck.crawl import crawl
        from wikicheck.embed import get_embedder

        assert crawl([str(repo / "docs")], index_dir, embedder=get_embedder("test-hash-64")).sources[0]["kind"] == "folder"
    with Store.open(index_dir) as st:
        assert st.source("docs")["kind"] == "folder"
        assert {v["timestamp_source"] for v in st.sections()} <= {"front_matter", "mtime"}


@pytest.mark.parametrize("first,then,was", [
    ((), ("--kind", "folder"), "git"),
    (("--kind", "folder"), ("--kind", "git"), "folder"),
])
def test_a_source_does_not_switch_kind_in_one_index(cli, repo, index_dir, first, then, was):
    assert cli("crawl", repo / "docs", "--index", index_dir, *FAKE, *first).exit_code == 0
    with Store.open(index_dir) as st:
        before = list(st.db.query("select * from section_versions order by id"))
    r = cli("crawl", repo / "docs", "--index", index_dir, *FAKE, *then)
    assert r.exit_code == 3, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'error: source "docs" is a {was} source in this index, and ')
    assert lines[0].endswith(f"give --kind {was} to keep it a {was} source")
    with Store.open(index_dir) as st:  # untouched: no mix of file dates and commit dates
        assert st.source("docs")["kind"] == was
        assert list(st.db.query("select * from section_versions order by id")) == before
    assert cli("crawl", repo / "docs", "--index", index_dir, *FAKE, "--kind", was).exit_code == 0


def test_end_to_end_with_the_real_model(cli, repo, tmp_path):
    """`wikicheck crawl repo/docs` with no --kind, then `wikicheck check`: the 2022 page is stale."""
    r = cli("crawl", repo / "docs", "--index", tmp_path / "idx", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["sources"][0]["kind"] == "git"
    r = cli("check", "--index", tmp_path / "idx", "--format", "json")
    assert r.exit_code == 0, r.output  # WC101 is info by default
    got = [(f["path"], f["message"][:23]) for f in json.loads(r.stdout)["findings"] if f["rule"] == "WC101"]
    assert got == [("deploy.md", "last changed 2023-05-20")]
