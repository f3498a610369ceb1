"""Folder sources: dates from front matter, HTML metadata or mtime; page metadata; versions; bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import write_files

from wikicheck.config import Config
from wikicheck.crawl import crawl
from wikicheck.errors import SourceNotFound
from wikicheck.sources import open_source
from wikicheck.sources.base import decode_page
from wikicheck.sources.folder import FolderSource
from wikicheck.store import Store

MTIME = 1622548800  # 2021-06-01T12:00:00Z
MTIME_ISO = "2021-06-01T12:00:00Z"


def make_wiki(root: Path, files: dict[str, str | bytes], mtime: float = MTIME) -> Path:
    write_files(root, files)
    for rel in files:
        os.utime(root / rel, (mtime, mtime), follow_symlinks=False)
    return root


def run(wiki: Path, index: Path, embedder, config: Config | None = None):
    return crawl([str(wiki)], index, config, embedder=embedder)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("name, content, source, changed_at", [
    ("fm.md", "---\nupdated: 2024-03-02\n---\n# A\n\na\n", "front_matter", "2024-03-02T00:00:00Z"),
    ("fm_last_updated.md", "---\nlast_updated: 2023-01-05T10:00:00+02:00\n---\n# A\n\na\n",
     "front_matter", "2023-01-05T08:00:00Z"),
    ("fm_quoted.md", "---\ndate: '2022-09-12'\n---\n# A\n\na\n", "front_matter", "2022-09-12T00:00:00Z"),
    # a front matter date that is not a date does not count
    ("fm_bad_date.md", "---\nupdated: someday\n---\n# A\n\na\n", "mtime", MTIME_ISO),
    ("meta.html", '<html><head><meta name="last-modified" content="2023-04-05T06:07:08Z"></head>'
                  "<body><main><h1>A</h1><p>a</p></main></body></html>", "html_meta", "2023-04-05T06:07:08Z"),
    ("time.htm", '<html><body><main><h1>A</h1><p>Updated <time datetime="2022-02-02">then</time></p></main></body></html>',
     "html_meta", "2022-02-02T00:00:00Z"),
    ("plain.md", "# A\n\na\n", "mtime", MTIME_ISO),
    ("plain.html", "<html><body><h1>A</h1><p>a</p></body></html>", "mtime", MTIME_ISO),
])
def test_timestamp_source(tmp_path, index_dir, fake_embedder, name, content, source, changed_at):
    wiki = make_wiki(tmp_path / "wiki", {name: content})
    run(wiki, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        doc = st.documents()[0]
        assert (doc["path"], doc["timestamp_source"], doc["changed_at"]) == (name, source, changed_at)
        secs = st.sections()
        assert secs and all((s["timestamp_source"], s["changed_at"]) == (source, changed_at) for s in secs)


def test_page_metadata_is_stored_on_documents(tmp_path, index_dir, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {
        "old.md": ("---\ntitle: Old deploy\nowner: '@team-sre'\nstatus: deprecated\nsuperseded_by: new.md\n"
                   "last_reviewed: 2023-01-15\nreview_by: 2024-01-15\nauthor: Ann\ntags: [a, b]\n---\n# Deploy\n\nold way\n"),
        "expiring.md": "---\nowner: [alice, bob]\nexpires: 2025-06-30\n---\n# X\n\nx\n",
        "page.html": ('<html><head><title>HTML page</title><meta name="owner" content="@payments">'
                      '<meta name="status" content="draft"></head><body><h1>H</h1><p>h</p></body></html>'),
        "bare.md": "# Bare\n\nnothing\n",
    })
    run(wiki, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        docs = {d["path"]: d for d in st.documents()}
    cols = ("title", "owner", "status", "superseded_by", "last_reviewed", "review_by")
    assert {p: tuple(d[c] for c in cols) for p, d in docs.items()} == {
        "old.md": ("Old deploy", "@team-sre", "deprecated", "new.md", "2023-01-15T00:00:00Z", "2024-01-15T00:00:00Z"),
        "expiring.md": (None, "alice, bob", None, None, None, "2025-06-30T00:00:00Z"),
        "page.html": ("HTML page", "@payments", "draft", None, None, None),
        "bare.md": (None, None, None, None, None, None),
    }
    meta = json.loads(docs["old.md"]["meta"])
    assert meta["tags"] == ["a", "b"] and meta["author"] == "Ann"
    assert docs["old.md"]["author"] == "Ann"
    assert docs["old.md"]["kind"] == "markdown" and docs["page.html"]["kind"] == "html"


# --------------------------------------------------------------------------- versions crawl to crawl


def test_versions_accrue_between_crawls(tmp_path, index_dir, fake_embedder):
    page = "# Deploy\n\n## Steps\n\nrun make\n\n## Rollback\n\nrevert\n"
    wiki = make_wiki(tmp_path / "wiki", {"deploy.md": page}, mtime=MTIME)
    first = run(wiki, index_dir, fake_embedder)
    assert (first.sections_new, first.versions_added) == (3, 3)

    make_wiki(wiki, {"deploy.md": page.replace("run make", "run make deploy")}, mtime=MTIME + 86400)
    second = run(wiki, index_dir, fake_embedder)
    assert (second.sections_new, second.sections_changed, second.sections_unchanged) == (0, 1, 2)
    assert (second.versions_added, second.sections_embedded) == (1, 1)

    with Store.open(index_dir) as st:
        steps = next(s for s in st.sections() if s["heading"] == "Steps")
        rollback = next(s for s in st.sections() if s["heading"] == "Rollback")
        versions = [(v["text"], v["valid_from"], v["valid_to"], v["origin"]) for v in st.versions(steps["id"])]
        assert versions == [
            ("run make", MTIME_ISO, "2021-06-02T12:00:00Z", "crawl"),
            ("run make deploy", "2021-06-02T12:00:00Z", None, "crawl"),
        ]
        assert [(v["text"], v["valid_to"]) for v in st.versions(rollback["id"])] == [("revert", None)]
        assert steps["changed_at"] == "2021-06-02T12:00:00Z"


def test_removed_section_and_page_keep_their_history(tmp_path, index_dir, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {"a.md": "# A\n\n## Old\n\nold text\n\n## Keep\n\nkeep\n", "b.md": "# B\n\nb\n"})
    run(wiki, index_dir, fake_embedder)
    make_wiki(wiki, {"a.md": "# A\n\n## Keep\n\nkeep\n"}, mtime=MTIME + 3600)
    (wiki / "b.md").unlink()
    summary = run(wiki, index_dir, fake_embedder)
    assert summary.documents_removed == ["b.md"]
    assert summary.sections_removed == 2  # Old, and B
    with Store.open(index_dir) as st:
        old = st.sections("heading = ?", ["Old"])[0]
        b = st.sections("heading = ?", ["B"])[0]
        assert old["removed_at"] is not None and b["removed_at"] is not None
        assert [v["valid_to"] for v in st.versions(old["id"])] == ["2021-06-01T13:00:00Z"]
        assert [v["text"] for v in st.versions(b["id"])] == ["b"]
        assert st.versions(b["id"])[0]["valid_to"] is not None
        assert st.documents("path = ?", ["b.md"])[0]["removed_at"] is not None
        assert [d["path"] for d in st.documents()] == ["a.md"]

    # the page comes back: same section id, live again, a new version opens
    make_wiki(wiki, {"b.md": "# B\n\nb again\n"}, mtime=MTIME + 7200)
    back = run(wiki, index_dir, fake_embedder)
    assert back.sections_changed == 1
    with Store.open(index_dir) as st:
        b = st.sections("heading = ?", ["B"])[0]
        assert b["removed_at"] is None
        assert [(v["text"], v["valid_to"] is None) for v in st.versions(b["id"])] == [("b", False), ("b again", True)]


def test_unchanged_recrawl_does_no_work(tmp_path, index_dir, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {"a.md": "# A\n\na\n", "sub/b.md": "# B\n\nb\n\n## C\n\nc\n"})
    run(wiki, index_dir, fake_embedder)
    again = run(wiki, index_dir, fake_embedder)
    assert (again.documents, again.documents_changed) == (2, [])
    assert (again.sections_new, again.sections_changed, again.sections_unchanged, again.sections_removed) == (0, 0, 3, 0)
    assert (again.sections_embedded, again.versions_added, again.index_rebuilt) == (0, 0, False)


def test_walk_skips_hidden_and_tool_folders_and_other_files(tmp_path, index_dir, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {
        "a.md": "# A\n", "deep/er/b.markdown": "# B\n", "c.HTM": "<h1>C</h1>",
        ".hidden/x.md": "# X\n", "node_modules/pkg/readme.md": "# R\n", ".git/notes.md": "# G\n",
        "notes.txt": "# T\n", "image.png": b"\x89PNG",
    })
    summary = run(wiki, index_dir, fake_embedder)
    assert sorted(summary.documents_changed) == ["a.md", "c.HTM", "deep/er/b.markdown", "notes.txt"]  # .txt is a page (#12)
    assert summary.warnings == []


def test_folder_source_errors(tmp_path):
    (tmp_path / "file.md").write_text("# A\n")
    with pytest.raises(SourceNotFound, match="not a directory"):
        FolderSource(tmp_path / "file.md", "x")
    with pytest.raises(SourceNotFound, match="missing.*no such file"):
        open_source(str(tmp_path / "missing"))
    assert open_source(str(tmp_path)).kind == "folder"


# --------------------------------------------------------------------------- bad input

GOOD = {"good.md": "# Good\n\nfine\n", "sub/also.md": "# Also\n\nfine too\n"}


def _binary(p: Path) -> None:
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))


def _latin1(p: Path) -> None:
    p.write_bytes("# Café\n\nCrème brûlée\n".encode("latin-1"))


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _blank(p: Path) -> None:
    p.write_text("\n   \n\n")


def _big(p: Path) -> None:
    p.write_text("# Big\n\n" + "x" * 5000 + "\n")  # over the 4 KB limit the test sets


def _broken_yaml(p: Path) -> None:
    p.write_text("---\ntitle: [unclosed\nowner: x\n---\n# Page\n\nbody\n")


def _escape_in_yaml(p: Path) -> None:
    # found by benchmarks/fuzz_crawl.py (issue 11): a terminal escape in a title crashed the crawl (exit 4)
    p.write_text("---\ntitle: \x1b]0;owned\x07 Page\n---\n# Page\n\nbody\n")


def _loop(p: Path) -> None:
    p.symlink_to("..", target_is_directory=True)


def _broken_link(p: Path) -> None:
    p.symlink_to("nowhere.md")


@pytest.mark.parametrize("name, make, message, crawled", [
    ("sub/bin.md", _binary, "binary file", False),
    ("sub/latin.md", _latin1, "not valid UTF-8", False),
    ("empty.md", _empty, "empty", False),
    ("blank.md", _blank, "empty", False),
    ("big.md", _big, "over the", False),
    ("broken.md", _broken_yaml, "broken front matter", True),
    ("escape.md", _escape_in_yaml, "broken front matter at line 2: character U+001B is not allowed in YAML", True),
    ("sub/loop", _loop, "symlink loop", False),
    ("dangling.md", _broken_link, "broken symlink", False),
])
def test_bad_input_gives_one_warning_and_the_crawl_goes_on(tmp_path, index_dir, fake_embedder, name, make, message, crawled):
    wiki = make_wiki(tmp_path / "wiki", GOOD)
    make(wiki / name)
    summary = run(wiki, index_dir, fake_embedder, Config({"crawl": {"max-file-bytes": 4096}}))
    assert len(summary.warnings) == 1, summary.warnings
    w = summary.warnings[0]
    assert w["path"] == name and w["message"].startswith(f"{name}: ") and message in w["message"]
    assert set(GOOD) <= set(summary.documents_changed)
    assert (name in summary.documents_changed) is crawled
    with Store.open(index_dir) as st:
        stored = [(r["path"], r["message"]) for r in st.db["warnings"].rows]
        assert stored == [(name, w["message"])]
        assert st.last_crawl()["status"] == "ok" and st.last_crawl()["warnings"] == 1
        assert {s["heading"] for s in st.sections()} >= {"Good", "Also"}
        if crawled:
            assert st.sections("path = ?", [name])[0]["text"] == "body"


def test_file_over_5_mb_is_skipped_with_the_default_limit(tmp_path, index_dir, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", GOOD)
    big = wiki / "huge.md"
    with open(big, "wb") as f:  # a real 5.5 MB file of page text
        f.write(b"# Huge\n\n" + (b"lorem ipsum dolor sit amet " * 40 + b"\n") * 5300)
    assert big.stat().st_size > 5 * 1024 * 1024
    summary = run(wiki, index_dir, fake_embedder)
    assert [w["path"] for w in summary.warnings] == ["huge.md"]
    assert "5.7 MB is over the 5 MB limit" in summary.warnings[0]["message"]
    assert "huge.md" not in summary.documents_changed and summary.documents == 2


def test_a_page_that_turns_bad_is_removed_and_reported(tmp_path, index_dir, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {**GOOD, "turns.md": "# T\n\nt\n"})
    run(wiki, index_dir, fake_embedder)
    _binary(wiki / "turns.md")
    summary = run(wiki, index_dir, fake_embedder)
    assert [w["path"] for w in summary.warnings] == ["turns.md"]
    assert summary.documents_removed == ["turns.md"]


@pytest.mark.parametrize("data, text", [
    (b"\xef\xbb\xbf# BOM\n", "# BOM\n"),
    (b"# A\r\n\r\nb\r\n", "# A\n\nb\n"),
    (b"# A\rold mac\r", "# A\nold mac\n"),
])
def test_decode_page_normalises(data, text):
    assert decode_page("p.md", data) == text


def test_unchanged_section_keeps_its_date_when_the_page_date_moves(tmp_path, index_dir, fake_embedder):
    page = "---\nupdated: {d}\n---\n# Runbook\n\n## Restart\n\n{restart}\n\n## Escalation\n\nPage the on-call DBA.\n"
    wiki = make_wiki(tmp_path / "wiki", {"r.md": page.format(d="2023-01-10", restart="Run `systemctl restart x`.")})
    run(wiki, index_dir, fake_embedder)
    (wiki / "r.md").write_text(page.format(d="2026-05-01", restart="Run `kubectl rollout restart deploy/x`."))
    run(wiki, index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        dates = {s["heading"]: (s["changed_at"], s["timestamp_source"]) for s in st.sections()}
    assert dates["Restart"] == ("2026-05-01T00:00:00Z", "front_matter")
    assert dates["Escalation"] == ("2023-01-10T00:00:00Z", "front_matter")


# --------------------------------------------------------------------------- hostile files (issue 11)


def test_hostile_files_are_warnings_and_the_valid_pages_are_crawled(tmp_path, index_dir, fake_embedder):
    """A FIFO named like a page (used to block the crawl forever, holding the index lock), a link to
    /dev/zero (st_size 0, endless), links out of the crawled folder (to a file and to a folder), and a
    file name that is not UTF-8: each is one warning naming the file; the valid pages are all crawled,
    and nothing from outside the folder is indexed."""
    outside = tmp_path / "outside"
    write_files(outside, {"secret.md": "# Secret\n\nroot:x:0:0:root:/root:/bin/bash\n",
                          "etc/passwd.md": "# Passwd\n\nroot:x:0:0\n"})
    wiki = make_wiki(tmp_path / "wiki", {"a.md": "# A\n\nThe first page.\n", "sub/b.md": "# B\n\nThe second page.\n"})
    os.mkfifo(wiki / "fifo.md")
    os.symlink("/dev/zero", wiki / "zero.md")
    os.symlink(outside / "secret.md", wiki / "passwd.md")
    os.symlink(outside / "etc", wiki / "etc")
    os.symlink(wiki / "a.md", wiki / "sub" / "inside-link.md")  # a link that stays inside is followed
    bad_name = os.fsencode(str(wiki)) + b"/bad-\xff\xfe.md"
    with open(bad_name, "wb") as f:
        f.write(b"# Bad name\n\ntext\n")

    s = run(wiki, index_dir, fake_embedder)

    warned = {w["path"]: w["message"] for w in s.warnings}
    assert "not a regular file" in warned["fifo.md"]
    assert "outside the crawled folder" in warned["zero.md"]  # a device is outside the folder anyway
    assert "outside the crawled folder" in warned["passwd.md"] and "outside the crawled folder" in warned["etc"]
    (bad,) = [p for p in warned if p.startswith("bad-")]
    # the name's own bytes, as `ls -b` or Python's bytes show them; not Python's surrogate escapes (\udcff)
    assert bad == "bad-\\xff\\xfe.md" and warned[bad].startswith(f"{bad}: skipped, the file name is not valid UTF-8")
    with Store.open(index_dir) as st:
        paths = sorted(d["path"] for d in st.documents())
        texts = " ".join(r["text"] for r in st.sections())
    assert paths == ["a.md", "sub/b.md", "sub/inside-link.md"]
    assert "root:x" not in texts
