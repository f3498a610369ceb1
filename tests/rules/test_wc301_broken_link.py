"""WC301 broken-link: internal links and anchors that resolve to no page, file or section."""

from __future__ import annotations

import pytest

from rules.helpers import crawl_check, make_wiki, md, of, show
from wikicheck.rules import RULES

TARGET = md("updated: 2026-10-01", "# Restart PgBouncer\n\n## Restart\n\nText.\n\n## Verify\n\nOne.\n\n## Verify\n\nTwo.\n\n"
            '<a id="legacy-anchor"></a>\n\n## Escalation\n\nPage someone.\n')
FILES = {
    "platform/pgbouncer.md": TARGET,
    "platform/index.md": md("updated: 2026-10-01", "# Platform\n\nIndex.\n"),
    "platform/diagram.png": b"\x89PNG fake",
    "platform/with space.md": md("updated: 2026-10-01", "# Space\n\nText.\n"),
    "platform/ledger.html": '<html><head><title>Ledger</title></head><body><main><h1>Ledger</h1><h2 id="close">Close</h2></main></body></html>',
}

# link markdown in teams/checkout/service.md, expected (resolved path, anchor) of a broken link, or None
CASES = [
    ("[restart](../../platform/pgbouncer.md#restart)", None),  # docstring "Passes"
    ("[rollback](../../platform/pgbouncer.md#rollback-procedure)", "platform/pgbouncer.md has no section #rollback-procedure"),  # "Fails"
    ("[x](../../platform/pgbouncer.md)", None),
    ("[x](../../platform/pgbouncer)", None),  # no extension
    ("[x](../../platform/)", None),  # folder: its index.md
    ("[x](/platform/pgbouncer.md)", None),  # from the source root
    ("[x](../../platform/pgbouncer.md#Restart)", None),  # anchors are case-insensitive
    ("[x](../../platform/pgbouncer.md#verify-1)", None),  # repeated heading, GitHub de-dup suffix
    ("[x](../../platform/pgbouncer.md#verify-2)", "platform/pgbouncer.md has no section #verify-2"),
    ("[x](../../platform/pgbouncer.md#legacy-anchor)", None),  # explicit id
    ("[x](../../platform/with%20space.md)", None),
    ("[x](../../platform/diagram.png)", None),  # a file that is not a page
    ("![img](../../platform/missing.png)", "resolves to platform/missing.png, which does not exist"),
    ("[x](../../platform/ledger.html#close)", None),
    ("[x](../../platform/ledger.html#open)", "platform/ledger.html has no section #open"),
    ("[x](../../sre/db-failover-old.md)", "resolves to sre/db-failover-old.md, which does not exist"),
    ("[x](#common-failures)", None),  # same page
    ("[x](#no-such-section)", "teams/checkout/service.md has no section #no-such-section"),
    ("[x][ref]\n\n[ref]: ../../nope.md", "resolves to nope.md, which does not exist"),  # reference-style
    ("[x](https://example.com/nope.md)", None),  # external: not fetched
    ("[x](mailto:oncall@acme.example)", None),
    ("<https://grafana.acme.internal/d/pgbouncer>", None),
    ("```\n[x](../../not-a-link.md)\n```", None),  # in a code block
    ("`[x](../../not-a-link.md)`", None),  # in inline code
]


@pytest.mark.parametrize("link,expected", CASES)
def test_broken_link(tmp_path, link, expected):
    page = md("updated: 2026-10-02", f"# Checkout service\n\n## Common failures\n\n{link}\n")
    wiki = make_wiki(tmp_path / "wiki", {**FILES, "teams/checkout/service.md": page})
    res = crawl_check(wiki, tmp_path / "idx")
    got = of(res, "WC301")
    assert [expected in f.message for f in got] == ([True] if expected else []), show(got)


def test_check_anchors_option(tmp_path):
    page = md("updated: 2026-10-02", "# Svc\n\n[x](../../platform/pgbouncer.md#nope)\n")
    wiki = make_wiki(tmp_path / "wiki", {**FILES, "teams/checkout/service.md": page})
    assert len(of(crawl_check(wiki, tmp_path / "idx"), "WC301")) == 1
    assert of(crawl_check(wiki, tmp_path / "idx2", {"rules": {"broken-link": {"check-anchors": False}}}), "WC301") == []


def test_line_numbers_and_fields(tmp_path):
    page = md("updated: 2026-10-02; owner: \"@acme/checkout\"",
              "# Svc\n\n## Links\n\nA paragraph that\nwraps over lines and [dead](gone.md)\nends here.\n\n"
              "Hard break:  \n[dead2](gone2.md)\n\n- item\n- item [dead3](gone3.md)\n")
    wiki = make_wiki(tmp_path / "wiki", {"svc.md": page})
    got = of(crawl_check(wiki, tmp_path / "idx"), "WC301")
    assert [(f.line, f.evidence["href"]) for f in got] == [(11, "gone.md"), (15, "gone2.md"), (18, "gone3.md")]
    f = got[0]
    assert (f.kind, f.scope, f.heading, f.owner, f.level) == ("broken_link", "document", "Links", "@acme/checkout",
                                                              RULES["WC301"].DEFAULTS["level"])
    assert f.evidence == {"href": "gone.md", "resolved": "gone.md"}


def test_html_page_links(tmp_path):
    html = ('<html><head><title>Flags</title><meta name="last-modified" content="2026-10-14"></head><body>'
            '<nav><a href="../nav-target-missing.md">nav</a></nav><main><h1>Flags</h1>\n'
            '<p><a href="ok.md">ok</a> and <a href="gone.html">gone</a></p></main></body></html>')
    wiki = make_wiki(tmp_path / "wiki", {"store/flags.html": html, "store/ok.md": md("updated: 2026-10-01", "# Ok\n")})
    got = of(crawl_check(wiki, tmp_path / "idx"), "WC301")
    assert [f.evidence["resolved"] for f in got] == ["store/gone.html"], show(got)  # nav chrome is not checked
