"""WC205 deprecated: status deprecated/archived/..., superseded_by, or a deprecation banner."""

from __future__ import annotations

import pytest

from rules.helpers import crawl_check, make_wiki, md, of, show
from wikicheck.rules import RULES

NEW_PAGE = md("updated: 2026-10-08", "# OpenSearch reindex\n\n## Run the reindex\n\nRun it.\n")
BODY = "# Elasticsearch reindex\n\n{banner}\n\n## Reindex\n\nRun the reindex from the bastion.\n\n## Rollback\n\n{section_top}Swap the alias back.\n"


def page(front: str = "updated: 2026-11-01", banner: str = "", section_top: str = "") -> str:
    return md(front, BODY.format(banner=banner, section_top=section_top))


# page text, expected (message fragment, newer path) or None. The replacement page is search/opensearch-reindex.md.
CASES = [
    ("current", page("updated: 2026-11-01; status: current"), None),  # docstring "Passes"
    ("status+superseded_by", page("status: deprecated; superseded_by: search/opensearch-reindex.md"),
     ("status: deprecated; superseded_by: search/opensearch-reindex.md", "search/opensearch-reindex.md")),  # "Fails"
    ("archived", page("status: archived"), ("status: archived", None)),
    ("status-case", page("status: Obsolete"), ("status: obsolete", None)),
    ("superseded_by-relative", page("superseded_by: opensearch-reindex.md"), ("superseded_by: opensearch-reindex.md", "search/opensearch-reindex.md")),
    ("superseded_by-missing", page("superseded_by: search/nope.md"), ("use search/nope.md instead", None)),
    ("banner", page(banner="> **DEPRECATED**: This page is outdated. Use [OpenSearch reindex](opensearch-reindex.md) instead."),
     ('banner "> **DEPRECATED**: This page is outdated.', "search/opensearch-reindex.md")),
    ("banner-this-page", page(banner="This runbook is no longer maintained."), ("banner", None)),
    ("banner-superseded-by", page(banner="Superseded by [the OpenSearch runbook](opensearch-reindex.md)."), ("banner", "search/opensearch-reindex.md")),
    ("banner-section-top", page(section_top="> Deprecated: use the OpenSearch alias swap.\n\n"), ("banner", None)),
    ("banner-in-code", page(banner="```\nDEPRECATED: the _type parameter is ignored (cluster log)\n```"), None),
    ("prose-no-longer-valid", page(section_top="If the alias is no longer valid, recreate it first.\n\n"), None),
    ("prose-replaced-by", page(section_top="The old cron job was replaced by a CronJob in 2024.\n\n"), None),
    ("prose-deprecated-word", page(section_top="Deprecated index settings are ignored by the cluster.\n\n"), None),
]


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_deprecated(tmp_path, name, text, expected):
    wiki = make_wiki(tmp_path / "wiki", {"search/elasticsearch-reindex.md": text, "search/opensearch-reindex.md": NEW_PAGE})
    res = crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": False}})
    got = of(res, "WC205")
    if expected is None:
        assert got == [], show(got)
        return
    [f] = got
    fragment, newer = expected
    assert f.path == "search/elasticsearch-reindex.md" and fragment in f.message, f.message
    assert (f.newer or {}).get("path") == newer
    assert (f.kind, f.level) == ("deprecated", RULES["WC205"].DEFAULTS["level"])
    if newer:
        assert f.message.endswith(f"; use {newer} instead")


def test_banner_line_and_evidence(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {
        "search/es.md": md("updated: 2023-11-02; status: deprecated",
                           "# Elasticsearch reindex\n\n> **DEPRECATED**: use [OpenSearch](opensearch-reindex.md).\n"),
        "search/opensearch-reindex.md": NEW_PAGE,
    })
    [f] = of(crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": False}}), "WC205")
    assert f.line == 8  # the banner's line (front matter included)
    assert f.evidence == {"status": "deprecated", "superseded_by": "opensearch-reindex.md",
                          "banner": "> **DEPRECATED**: use [OpenSearch](opensearch-reindex.md)."}
    assert f.newer["path"] == "search/opensearch-reindex.md"


def test_html_status_meta(tmp_path):
    html = ('<html><head><title>Old</title><meta name="last-modified" content="2026-09-30">'
            '<meta name="status" content="deprecated"></head><body><main><h1>Old</h1><p>Text.</p></main></body></html>')
    wiki = make_wiki(tmp_path / "wiki", {"old.html": html})
    assert [f.message for f in of(crawl_check(wiki, tmp_path / "idx"), "WC205")] == ["page is marked deprecated (status: deprecated)"]


def test_statuses_option(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2026-11-01; status: sunset")})
    assert of(crawl_check(wiki, tmp_path / "idx"), "WC205") == []
    res = crawl_check(wiki, tmp_path / "idx2", {"rules": {"deprecated": {"statuses": ["sunset"]}}})
    assert [f.message for f in of(res, "WC205")] == ["page is marked deprecated (status: sunset)"]


def test_a_sub_heading_about_a_deprecated_flag_is_not_a_banner():
    from wikicheck.rules.wc205_deprecated import _SUBHEADING, BANNER

    line = "### Deprecated --self-heal-backoff-cooldown-seconds flag"
    assert _SUBHEADING.match(line)
    assert not BANNER.search("Deprecated --self-heal-backoff-cooldown-seconds flag")
    assert BANNER.search("> **DEPRECATED**: use the new runbook") and BANNER.search("# Deprecated - old runbook")


# banner, how the message quotes it (#12: the quote was cut at 80 characters, mid-link)
QUOTES = [
    ("> **DEPRECATED**: This page is outdated. Use [OpenSearch reindex](opensearch-reindex.md) instead.",
     '> **DEPRECATED**: This page is outdated. Use OpenSearch reindex instead.'),
    (("> **DEPRECATED**: the search team moved this procedure; follow [the OpenSearch reindex runbook]"
      "(opensearch-reindex.md) from now on, and ask in #search."),
     "> **DEPRECATED**: the search team moved this procedure; follow the OpenSearch\u2026"),
    ('Superseded by <a href="opensearch-reindex.md">the OpenSearch runbook</a>.', "Superseded by the OpenSearch runbook."),
    ("> Deprecated: to roll back run `curl -XPOST localhost:9200/_aliases -d @swap-back-to-elasticsearch.json` now",
     "> Deprecated: to roll back run\u2026"),
]


@pytest.mark.parametrize("banner,quoted", QUOTES)
def test_banner_quote_is_cut_at_a_word_outside_links_and_code(tmp_path, banner, quoted):
    wiki = make_wiki(tmp_path / "wiki", {"search/elasticsearch-reindex.md": page(banner=banner),
                                         "search/opensearch-reindex.md": NEW_PAGE})
    [f] = of(crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": False}}), "WC205")
    assert f'banner "{quoted}"' in f.message, f.message
    assert f.evidence["banner"] == banner  # the evidence keeps the whole line
    if "opensearch-reindex.md" in banner:  # the link still names the page to use
        assert f.newer["path"] == "search/opensearch-reindex.md" and f.message.endswith("; use search/opensearch-reindex.md instead")
