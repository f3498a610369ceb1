"""WC102 review-expired: review_by/expires in the past, or last_reviewed older than review-interval-days."""

from __future__ import annotations

import pytest

from rules.helpers import crawl_check, make_wiki, md, of, show
from wikicheck.rules import RULES

# path, front matter, review-interval-days, expected message (None: no finding). "Today" is 2026-11-28.
CASES = [
    ("runbook.md", "updated: 2026-10-01; review_by: 2027-01-31", 365, None),  # docstring "Passes"
    ("runbook.md", "updated: 2026-10-01; review_by: 2026-01-31", 365, "review was due 2026-01-31, 301 days ago"),  # "Fails"
    ("runbook.md", "updated: 2026-10-01; expires: 2026-01-31", 365, "review was due 2026-01-31, 301 days ago"),
    ("runbook.md", "updated: 2026-10-01; review_by: 2026-11-29", 365, None),
    ("runbook.md", "updated: 2026-05-11; last_reviewed: 2024-02-01", 365,
     "last reviewed 2024-02-01, 1031 days ago (review every 365 days)"),  # docstring "Fails", second half
    ("runbook.md", "updated: 2026-05-11; last_reviewed: 2026-02-01", 365, None),
    ("runbook.md", "updated: 2026-05-11; last_reviewed: 2026-06-01", 90, "last reviewed 2026-06-01, 180 days ago (review every 90 days)"),
    ("runbook.md", "updated: 2023-01-01", 365, None),  # never reviewed: an age question (WC101), not a review one
    ("postmortems/2023-04-12-outage.md", "updated: 2023-04-20; review_by: 2024-01-01", 365, None),  # exempt kind
    ("adr/0007-use-pgbouncer.md", "updated: 2021-04-19; last_reviewed: 2021-04-19", 365, None),
]


@pytest.mark.parametrize("path,front,interval,expected", CASES)
def test_review_expired(tmp_path, path, front, interval, expected):
    wiki = make_wiki(tmp_path / "wiki", {path: md(front)})
    res = crawl_check(wiki, tmp_path / "idx", {"rules": {"review-expired": {"review-interval-days": interval}}})
    assert [f.message for f in of(res, "WC102")] == ([expected] if expected else []), show(res.findings)


def test_finding_fields_and_evidence(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {
        "data/backup.md": md("updated: 2026-07-22; last_reviewed: 2025-07-30; review_by: 2026-01-31", "# Backup\n\nText.\n"),
        "data/access.md": md("updated: 2026-05-11; last_reviewed: 2024-02-01", "# Access\n\nText.\n"),
    })
    res = crawl_check(wiki, tmp_path / "idx")
    by_path = {f.path: f for f in of(res, "WC102")}
    assert set(by_path) == {"data/backup.md", "data/access.md"}, show(res.findings)
    a, b = by_path["data/access.md"], by_path["data/backup.md"]
    assert {f.level for f in (a, b)} == {RULES["WC102"].DEFAULTS["level"]}
    assert (b.kind, b.scope, b.evidence) == ("review_expired", "document", {"review_by": "2026-01-31T00:00:00Z"})
    assert a.evidence == {"last_reviewed": "2024-02-01T00:00:00Z", "review_interval_days": 365}
    assert a.fingerprint != b.fingerprint


def test_html_meta_review_by(tmp_path):
    html = ('<html><head><title>Ledger</title><meta name="last-modified" content="2026-09-30">'
            '<meta name="review_by" content="2026-02-01"></head><body><main><h1>Ledger</h1><p>Reconcile.</p></main></body></html>')
    wiki = make_wiki(tmp_path / "wiki", {"ledger.html": html})
    assert [f.message for f in of(crawl_check(wiki, tmp_path / "idx"), "WC102")] == ["review was due 2026-02-01, 300 days ago"]


def test_folder_policy_interval(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {
        "oncall/pager.md": md("updated: 2026-09-01; last_reviewed: 2026-06-01"),
        "platform/dns.md": md("updated: 2026-09-01; last_reviewed: 2026-06-01"),
    })
    cfg = {"policies": [{"paths": ["oncall/"], "review-interval-days": 90}]}
    assert [f.path for f in of(crawl_check(wiki, tmp_path / "idx", cfg), "WC102")] == ["oncall/pager.md"]
