"""Formats besides markdown and HTML (#12): reStructuredText through docutils, plain text, and a crawl
that finds no page it can read says what it skipped (exit 3) instead of indexing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import write_files
from rules.helpers import NOW

from wikicheck.check import run_checks
from wikicheck.config import load_config
from wikicheck.crawl import crawl
from wikicheck.errors import WikicheckError
from wikicheck.model import Document
from wikicheck.parse import heading_anchors, iter_sections
from wikicheck.sources.base import build_document, kind_of
from wikicheck.store import Store

FAKE = ("--model", "test-hash-64")
SAMPLE = Path(__file__).parent.parent / "sample_wiki"

RUNBOOK = """\
=================
Restart PgBouncer
=================

:owner: @acme/checkout-team
:updated: 2021-03-01

.. a comment that is no part of the text

Copy of the platform runbook, kept here for the checkout on-call.

Overview
========

PgBouncer pools client connections from ``checkout-api`` to the ``orders-db`` cluster.
See `the dashboard <https://grafana.acme.internal/d/pgbouncer>`_ and :doc:`platform/pgbouncer`.

Restart
=======

Check the pool state first, then restart::

    psql -h db-01.acme.internal -p 6543 -U pgbouncer pgbouncer -c 'SHOW POOLS;'

.. code-block:: bash

   sudo systemctl restart pgbouncer
   sudo systemctl status pgbouncer --no-pager

Verify
------

1. ``cl_waiting`` is back to 0.
2. Apps log no ``max_client_conn`` errors.

Deep detail
~~~~~~~~~~~

Nested three levels under the title.

Escalation
==========

+---------+------------------+
| Team    | Channel          |
+=========+==================+
| DB      | #db-oncall       |
+---------+------------------+
"""


def _doc(path: str, text: str, warnings: list[str] | None = None) -> Document:
    return build_document("wiki", path, text, "fp", mtime=None, size=len(text),
                          warn=(warnings if warnings is not None else []).append)


def _sections(path: str, text: str, max_level: int = 4):
    return iter_sections(_doc(path, text), max_level)


# --------------------------------------------------------------------------- reStructuredText


def test_rst_sections_nest_as_docutils_decides_with_code_fenced():
    secs = _sections("runbook.rst", RUNBOOK)
    assert [(s.heading_path, s.level, s.line_start) for s in secs] == [
        (["Restart PgBouncer"], 1, 2),
        (["Restart PgBouncer", "Overview"], 2, 12),
        (["Restart PgBouncer", "Restart"], 2, 18),
        (["Restart PgBouncer", "Restart", "Verify"], 3, 30),
        (["Restart PgBouncer", "Restart", "Verify", "Deep detail"], 4, 36),
        (["Restart PgBouncer", "Escalation"], 2, 41),
    ]
    by = {s.heading: s for s in secs}
    # the docinfo and the comment are no part of the text; the intro is the title's section
    assert by["Restart PgBouncer"].text == "Copy of the platform runbook, kept here for the checkout on-call."
    assert by["Overview"].text.startswith("PgBouncer pools client connections from `checkout-api` to the `orders-db` cluster.")
    assert "See the dashboard and platform/pgbouncer." in by["Overview"].text
    # a :: literal block and a code-block, both fenced the way markdown's code is, in page order
    assert by["Restart"].text == (
        "Check the pool state first, then restart:\n\n"
        "```\npsql -h db-01.acme.internal -p 6543 -U pgbouncer pgbouncer -c 'SHOW POOLS;'\n```\n\n"
        "```\nsudo systemctl restart pgbouncer\nsudo systemctl status pgbouncer --no-pager\n```")
    assert by["Verify"].text == "1. `cl_waiting` is back to 0.\n\n2. Apps log no `max_client_conn` errors."
    assert by["Escalation"].text == "Team | Channel\n\nDB | #db-oncall"
    assert ".. code-block:: bash" in by["Restart"].raw and "Verify" not in by["Restart"].raw  # raw: its own lines


def test_rst_headings_deeper_than_max_level_stay_in_their_parent():
    secs = _sections("runbook.rst", RUNBOOK, max_level=3)
    verify = next(s for s in secs if s.heading == "Verify")
    assert "Deep detail" not in [s.heading for s in secs]
    assert verify.text.endswith("Deep detail\n\nNested three levels under the title.")


def test_rst_docinfo_is_the_page_metadata_and_date():
    warnings: list[str] = []
    doc = _doc("runbook.rst", RUNBOOK, warnings)
    assert doc.kind == "rst" and doc.title == "Restart PgBouncer" and warnings == []
    assert doc.meta["owner"] == "@acme/checkout-team"
    assert doc.provenance.changed_at.startswith("2021-03-01") and doc.provenance.timestamp_source == "front_matter"
    # a bibliographic :date: field counts too
    dated = _doc("b.rst", "Title\n=====\n\n:date: 2020-05-04\n:author: Ann\n\nText.\n")
    assert dated.provenance.changed_at.startswith("2020-05-04") and dated.provenance.author == "Ann"


def test_rst_anchors_are_docutils_ids():
    assert {"overview", "restart", "verify", "escalation"} <= heading_anchors(RUNBOOK, "rst")


@pytest.mark.parametrize("name, kind", [("a.rst", "rst"), ("A.REST", "rst"), ("notes.txt", "text"),
                                        ("a.md", "markdown"), ("a.htm", "html"), ("a.pdf", None)])
def test_kind_of(name, kind):
    assert kind_of(name) == kind


HOSTILE = """\
Hostile
=======

.. include:: {secret}

.. raw:: html

   <script>alert(1)</script>

.. csv-table:: from a file
   :file: {secret}

+------+-----+
| broken table
+---+

""" + "".join("  " * i + "- level\n\n" for i in range(60)) + "\n" + "".join(
    ">" * 0 + "    " * i + "quote\n\n" for i in range(60)) + """
After
=====

Still here.
"""


def test_hostile_rst_is_one_warning_and_never_reads_a_file(tmp_path, capfd):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN\n")
    text = HOSTILE.format(secret=secret)
    warnings: list[str] = []
    doc = _doc("hostile.rst", text, warnings)
    secs = iter_sections(doc)
    everything = " ".join(s.text + s.heading for s in secs)
    assert "TOP-SECRET-TOKEN" not in everything and "alert(1)" not in everything
    assert [s.heading for s in secs] == ["Hostile", "After"] and secs[-1].text == "Still here."
    assert len(warnings) == 1 and warnings[0].startswith("hostile.rst: reStructuredText problems")
    assert '"include" directive disabled' in warnings[0] and "\n" not in warnings[0]
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # docutils never prints


@pytest.mark.parametrize("text", [
    "Title\n=====\n\n" + "   " * 10 + ("- " * 3000) + "x\n",  # nested as deep as docutils goes
    "\x00\x01 `unclosed ``literal\n\n.. |sub| replace:: |sub|\n\n|sub|\n",
    "===\nTitle\n====\n\nText\n\n----\n\n=====\n",
    "Only text, no title.\n",
])
def test_malformed_rst_never_raises(text, capfd):
    secs = _sections("bad.rst", text)
    assert all(isinstance(s.text, str) for s in secs)
    assert capfd.readouterr().err == ""


def test_rst_that_docutils_cannot_read_is_plain_text(monkeypatch):
    import docutils.core

    from wikicheck.formats import rst

    def boom(*a, **k):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(rst, "publish_doctree", boom)
    rst.parse.cache_clear()
    warnings: list[str] = []
    doc = _doc("x.rst", "Restart\n=======\n\nsudo systemctl restart pgbouncer\n", warnings)
    assert warnings == ["x.rst: not readable as reStructuredText (maximum recursion depth exceeded); read as plain text"]
    assert [(s.heading, s.text) for s in iter_sections(doc)] == [("Restart", "sudo systemctl restart pgbouncer")]
    rst.parse.cache_clear()
    assert docutils.core.publish_doctree is not boom


# --------------------------------------------------------------------------- plain text


def test_text_page_is_one_section_under_its_first_line():
    text = "\n\nRotate the vault token\nEvery 30 days.\n\n    vault token renew -increment=720h\n\nThen tell #sre.\n"
    doc = _doc("notes.txt", text)
    assert doc.kind == "text" and doc.title == "Rotate the vault token"
    [sec] = iter_sections(doc)
    assert (sec.heading, sec.line_start) == ("Rotate the vault token", 3)
    assert sec.text == "Every 30 days.\n\n```\nvault token renew -increment=720h\n```\n\nThen tell #sre."


def test_text_page_splits_on_underlined_headings():
    text = "Vault\n=====\n\nIntro.\n\nRenew\n-----\n\nrenew it\n\nRevoke\n------\n\nrevoke it\n"
    secs = _sections("vault.txt", text)
    assert [(s.heading_path, s.text) for s in secs] == [
        (["Vault"], "Intro."), (["Vault", "Renew"], "renew it"), (["Vault", "Revoke"], "revoke it")]


# --------------------------------------------------------------------------- crawls


def test_folder_crawl_indexes_rst_and_text_pages(tmp_path, fake_embedder):
    wiki = tmp_path / "wiki"
    write_files(wiki, {"runbook.rst": RUNBOOK, "notes/vault.txt": "Vault\n=====\n\nrenew it\n",
                       "other.md": "# Other\n\ntext\n", "manual.pdf": b"%PDF-1.4"})
    s = crawl([str(wiki)], tmp_path / "idx", embedder=fake_embedder, kind="folder")
    assert sorted(s.documents_changed) == ["notes/vault.txt", "other.md", "runbook.rst"] and s.warnings == []
    with Store.open(tmp_path / "idx") as st:
        docs = {d["path"]: d for d in st.db["documents"].rows}
        assert (docs["runbook.rst"]["kind"], docs["notes/vault.txt"]["kind"]) == ("rst", "text")
        rows = list(st.db.query("select heading, changed_at, timestamp_source from sections "
                                "where path = 'runbook.rst' order by line_start"))
    assert [r["heading"] for r in rows] == ["Restart PgBouncer", "Overview", "Restart", "Verify", "Deep detail", "Escalation"]
    assert {(r["changed_at"][:10], r["timestamp_source"]) for r in rows} == {("2021-03-01", "front_matter")}
    assert json.loads(docs["runbook.rst"]["meta"])["owner"] == "@acme/checkout-team"


def test_git_source_crawls_rst_with_its_history(git_repo, tmp_path, fake_embedder):
    repo = git_repo(("2022-01-10T10:00:00", {"ops/runbook.rst": "Runbook\n=======\n\nold step\n", "a.md": "# A\n\nx\n"}),
                    ("2023-02-11T10:00:00", {"ops/runbook.rst": RUNBOOK}))
    s = crawl([str(repo)], tmp_path / "idx", embedder=fake_embedder)
    assert s.sources[0]["kind"] == "git" and "ops/runbook.rst" in s.documents_changed
    with Store.open(tmp_path / "idx") as st:
        heads = [r["heading"] for r in st.db.query("select heading from sections where path = 'ops/runbook.rst' "
                                                    "and removed_at is null order by line_start")]
        old = list(st.db.query("select count(*) n from section_versions v join sections s on s.id = v.section_id "
                               "where s.path = 'ops/runbook.rst'"))
    assert heads[:3] == ["Restart PgBouncer", "Overview", "Restart"]
    assert old[0]["n"] >= len(heads)


@pytest.fixture(scope="module")
def rst_wiki(tmp_path_factory, real_embedder):
    """The sample wiki's canonical pgbouncer page and an old reST copy of it, crawled with the real model."""
    root = tmp_path_factory.mktemp("rstwiki")
    wiki = root / "wiki"
    (wiki / "platform").mkdir(parents=True)
    shutil.copy(SAMPLE / "platform" / "pgbouncer.md", wiki / "platform" / "pgbouncer.md")
    write_files(wiki, {"teams/checkout/pgbouncer-restart.rst": RUNBOOK})
    crawl([str(wiki)], root / "idx", embedder=real_embedder, kind="folder")
    with Store.open(root / "idx") as st:
        return run_checks(st, load_config(None), now=NOW, record=False)


def test_check_flags_the_old_rst_page_as_stale(rst_wiki):
    stale = [f for f in rst_wiki.findings if f.rule == "WC101"]
    assert [f.path for f in stale] == ["teams/checkout/pgbouncer-restart.rst"]
    assert "2021-03-01" in stale[0].message


def test_drift_finds_the_rst_copy_of_the_markdown_page(rst_wiki):
    drift = {(f.rule, f.heading) for f in rst_wiki.findings
             if f.path.endswith(".rst") and f.rule in ("WC201", "WC202", "WC203", "WC204")}
    assert any(h == "Restart" for _, h in drift), drift


# --------------------------------------------------------------------------- nothing to crawl


def test_folder_with_no_pages_is_exit_3_with_what_was_skipped(cli, tmp_path, index_dir):
    docs = tmp_path / "docs"
    write_files(docs, {**{f"m{i}.pdf": b"%PDF" for i in range(7)}, **{f"d{i}.docx": b"PK" for i in range(5)}})
    r = cli("crawl", docs, "--index", index_dir, *FAKE)
    assert r.exit_code == 3, r.stdout + r.stderr
    assert r.stderr.strip() == (
        f"error: no pages found in {docs.resolve()}: 12 files skipped (.pdf 7, .docx 5); "
        "wikicheck reads .md, .markdown, .html, .htm, .rst, .rest, .txt")


def test_empty_folder_is_refused_before_the_model_is_loaded(tmp_path, monkeypatch):
    from wikicheck.embed import SentenceTransformerEmbedder

    def no_model(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(SentenceTransformerEmbedder, "_load", no_model)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WikicheckError, match=r"^no pages found in .*empty; wikicheck reads \.md"):
        crawl([str(tmp_path / "empty")], tmp_path / "idx", kind="folder")


def test_a_source_whose_pages_were_all_deleted_is_crawled(tmp_path, fake_embedder):
    wiki = tmp_path / "wiki"
    write_files(wiki, {"a.rst": "A\n=\n\ntext\n", "b.txt": "B\n\ntext\n"})
    crawl([str(wiki)], tmp_path / "idx", embedder=fake_embedder, kind="folder")
    for p in wiki.iterdir():
        p.unlink()
    s = crawl([str(wiki)], tmp_path / "idx", embedder=fake_embedder, kind="folder")
    assert s.documents_removed == ["a.rst", "b.txt"] and s.documents == 0
    assert [w["message"] for w in s.warnings] == [
        (f"no pages found in {wiki.resolve()}; wikicheck reads .md, .markdown, .html, .htm, .rst, .rest, .txt; "
         "the pages it had are marked removed")]


@pytest.mark.parametrize("path", ["requirements.txt", "docs/requirements-dev.txt", "CMakeLists.txt", "robots.txt",
                                  "LICENSE.txt", "third_party/NOTICE.txt"])
def test_a_tools_text_file_is_not_a_page(path):
    """A .txt page is a runbook written as plain text; a pip requirements file or a licence is not."""
    from wikicheck.sources.base import kind_of

    assert kind_of(path) is None
    assert kind_of(path.rsplit("/", 1)[0] + "/restart-the-broker.txt" if "/" in path else "restart-the-broker.txt") == "text"
