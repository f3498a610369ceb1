"""A wiki page that moves to a new URL keeps its history (issue 9), against a real server on loopback
(tests/http_fixtures.py): the old URL redirects to the new one, or still serves the page with a
canonical link to the new one, or is gone while the sitemap lists the new one. Each is one rename,
reported as renamed and not removed, with the old page's versions kept next to the new page's."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from http_fixtures import WikiServer, WikiSite, sample_pages

from wikicheck.crawl import crawl
from wikicheck.store import Store

FAST = {"rate": 0, "timeout": 5}
REFUNDS = "payments/refunds.md"
PGB = "platform/pgbouncer.md"


@pytest.fixture
def small():
    pages = sample_pages()
    keep = {"index.md", PGB, "teams/checkout/pgbouncer-restart.md", "platform/dns.md", "oncall/dns-cheatsheet.md",
            REFUNDS, "payments/refund-processing.md", "sre/db-failover.md"}
    with WikiServer(WikiSite({k: v for k, v in pages.items() if k in keep})) as srv:
        yield srv


def run(srv: WikiServer, path: str, index, embedder):
    return crawl([srv.url(path)], index, embedder=embedder, source_options={"http": FAST})


def versions(st: Store, path: str) -> list[dict]:
    return list(st.db.query("select * from section_versions where path = ? order by heading_path, id", [path]))


def assert_renamed(st: Store, summary, old: str, new: str) -> None:
    """One rename row old -> new at the crawl's time; the old page removed with its versions closed,
    the new page live with versions of the same sections, the same text."""
    (src,) = [s["name"] for s in summary.sources]
    (row,) = st.renames(src)
    assert (row["old_path"], row["new_path"], row["origin"], row["commit"]) == (old, new, "http", None)
    gone = st.documents("path = ?", [old])
    assert len(gone) == 1 and gone[0]["removed_at"] == row["at"] and row["at"]
    assert [d["path"] for d in st.documents("path = ? and removed_at is null", [new])] == [new]
    before, after = versions(st, old), versions(st, new)
    assert before and after
    assert all(v["valid_to"] is not None and v["closed_at"] == row["at"] for v in before)  # closed by the move
    assert all(v["valid_to"] is None and v["seen_at"] == row["at"] for v in after)  # opened by the same crawl
    # the same sections, the same text: history.py links one to the other through the rename
    assert [json.loads(v["heading_path"])[1:] for v in before] == [json.loads(v["heading_path"])[1:] for v in after]
    assert [v["body_hash"] for v in before] == [v["body_hash"] for v in after]
    assert summary.documents_renamed == [{"from": old, "to": new}]
    assert old not in summary.documents_removed and summary.documents_removed == []
    assert summary.to_json()["documents"]["renamed"] == [{"from": old, "to": new}]
    assert summary.to_json()["documents"]["removed"] == []


@pytest.mark.parametrize("status", [301, 308])
def test_page_that_redirects_to_a_new_url_is_renamed(small, index_dir, fake_embedder, status):
    first = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert first.documents_renamed == []
    small.site.move(REFUNDS, "billing/refunds.md", "redirect", status)
    small.reset()
    s = run(small, "/mkdocs/", index_dir, fake_embedder)
    # both old URLs (dir/ and dir/index.html) were asked again and redirected
    assert small.counts[("/mkdocs/payments/refunds/", status)] >= 1
    assert s.documents_changed == ["mkdocs/billing/refunds/"] and s.pages_failed == 0
    with Store.open(index_dir) as st:
        assert_renamed(st, s, "mkdocs/payments/refunds/", "mkdocs/billing/refunds/")

    # the old URL is not asked again, and the rename is not reported twice
    small.reset()
    again = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert (again.documents_renamed, again.documents_removed, again.documents_changed) == ([], [], [])
    assert small.hits("/mkdocs/payments/refunds/") == 0
    with Store.open(index_dir) as st:
        assert len(st.renames()) == 1


def test_page_whose_canonical_url_changed_is_renamed(small, index_dir, fake_embedder):
    """Confluence: the page keeps answering at its old URL, but its canonical link names the new one."""
    start = "/confluence/display/OPS/Home"
    run(small, start, index_dir, fake_embedder)
    small.site.move(PGB, "platform/pgbouncer-kubernetes.md", "alias")
    small.reset()
    s = run(small, start, index_dir, fake_embedder)
    assert small.counts[("/confluence/display/OPS/platform-pgbouncer", 200)] == 1  # still served there
    old, new = "confluence/display/OPS/platform-pgbouncer", "confluence/display/OPS/platform-pgbouncer-kubernetes"
    with Store.open(index_dir) as st:
        assert_renamed(st, s, old, new)
        assert st.documents("path = ?", [new])[0]["url"] == small.url("/" + new)
    again = run(small, start, index_dir, fake_embedder)  # the old URL answers again, as the new page now
    assert (again.documents_renamed, again.documents_removed, again.documents_changed) == ([], [], [])
    with Store.open(index_dir) as st:
        assert len(st.renames()) == 1 and len(st.documents("path = ?", [new])) == 1


def test_page_gone_from_its_url_and_listed_at_a_new_one_is_renamed(small, index_dir, fake_embedder):
    """MkDocs without redirects: the old URL answers 404, the sitemap (and the nav) list the new one,
    and the page is the same page but for its canonical link."""
    run(small, "/mkdocs/", index_dir, fake_embedder)
    small.site.move(REFUNDS, "billing/refunds.md", "gone")
    small.reset()
    s = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert small.counts[("/mkdocs/payments/refunds/", 404)] >= 1
    assert not [w for w in s.warnings if "refunds" in w["path"]]
    with Store.open(index_dir) as st:
        assert_renamed(st, s, "mkdocs/payments/refunds/", "mkdocs/billing/refunds/")


def test_a_different_page_at_a_new_url_is_not_a_rename(small, index_dir, fake_embedder):
    """The old page is gone and a new page appeared, but the text differs: a removal and a new page
    (section history may still follow the text, in wikicheck.history), not a rename."""
    run(small, "/mkdocs/", index_dir, fake_embedder)
    small.site.edit(REFUNDS, "A normal day has 3,000-6,000 refunds.", "A normal day has 9,000 refunds.",
                    dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc))
    small.site.move(REFUNDS, "billing/refunds.md", "gone")
    small.reset()
    s = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert (s.documents_renamed, s.documents_removed) == ([], ["mkdocs/payments/refunds/"])
    assert "mkdocs/billing/refunds/" in s.documents_changed
    with Store.open(index_dir) as st:
        assert st.renames() == []


def test_removed_page_and_unchanged_site_record_no_rename(small, index_dir, fake_embedder):
    run(small, "/mkdocs/", index_dir, fake_embedder)
    small.reset()
    same = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert (same.documents_renamed, same.documents_removed) == ([], [])
    small.site.remove(REFUNDS)
    s = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert (s.documents_renamed, s.documents_removed) == ([], ["mkdocs/payments/refunds/"])
    assert s.to_json()["documents"]["renamed"] == []
    with Store.open(index_dir) as st:
        assert st.renames() == []


def test_redirect_to_a_page_the_site_had_already_is_a_removal(small, index_dir, fake_embedder):
    """A merge, or a deleted page sent to the home page: the old page is removed, not renamed."""
    run(small, "/mkdocs/", index_dir, fake_embedder)
    site = small.site
    with site.lock:
        site.pages.pop(REFUNDS)
        site.moved[REFUNDS] = ("index.md", "redirect", 301)
    s = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert small.counts[("/mkdocs/payments/refunds/", 301)] >= 1
    assert (s.documents_renamed, s.documents_removed) == ([], ["mkdocs/payments/refunds/"])
    with Store.open(index_dir) as st:
        assert st.renames() == []


def test_several_pages_redirected_to_one_new_page_are_not_renames(small, index_dir, fake_embedder):
    """Two pages whose URLs now lead to one new page (a login wall, a merge): removals."""
    run(small, "/mkdocs/", index_dir, fake_embedder)
    site = small.site
    site.move(REFUNDS, "payments/all-refunds.md", "redirect")
    with site.lock:
        site.pages.pop("payments/refund-processing.md")
        site.moved["payments/refund-processing.md"] = ("payments/all-refunds.md", "redirect", 302)
    s = run(small, "/mkdocs/", index_dir, fake_embedder)
    assert small.counts[("/mkdocs/payments/refund-processing/", 302)] >= 1
    assert s.documents_renamed == []
    assert s.documents_removed == ["mkdocs/payments/refund-processing/", "mkdocs/payments/refunds/"]
    assert "mkdocs/payments/all-refunds/" in s.documents_changed
    with Store.open(index_dir) as st:
        assert st.renames() == []


def test_a_renamed_wiki_page_is_never_flagged_against_its_old_url(small, index_dir, fake_embedder):
    """The check follows the rename: the page at its new URL is the current home of its own text, so
    no finding above info points from it to its old URL, and none calls it a copy of a removed page."""
    from wikicheck.check import run_checks
    from wikicheck.config import Config

    run(small, "/mkdocs/", index_dir, fake_embedder)
    # moved and touched up in the same go (a link fixed on the way): the page date moves on, so the old
    # and new texts are no longer "the same page on the same day"; only the history links the two
    page = small.site.pages[PGB]
    word = page.body.split()[-1]
    small.site.edit(PGB, word, word + " (see also the pooling guide)", dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc))
    small.site.move(PGB, "infra/pgbouncer.md", "redirect", 301)
    small.reset()
    run(small, "/mkdocs/", index_dir, fake_embedder)
    with Store.open(index_dir) as st:
        res = run_checks(st, Config(), now=dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc), record=False)
    moved = [f for f in res.findings if f.path == "mkdocs/infra/pgbouncer/" and f.level != "info"]
    assert moved == [], [(f.rule, f.heading, f.message) for f in moved]
    pointing_back = [f for f in res.findings if f.level != "info"
                     and "mkdocs/platform/pgbouncer/" in json.dumps(f.evidence.get("source_version") or {})]
    assert pointing_back == [], [(f.rule, f.path, f.message) for f in pointing_back]
