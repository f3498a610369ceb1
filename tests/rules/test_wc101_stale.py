"""WC101 stale: page not changed (or reviewed) within max-age-days."""

from __future__ import annotations

import pytest
from helpers import D2022

from rules.helpers import NOW, crawl_check, make_wiki, md, of, show
from wikicheck.rules import RULES

# path, front matter, max-age-days, expected message (None: no finding). "Today" is 2026-11-28.
CASES = [
    ("runbook.md", "updated: 2026-09-01", 365, None),  # docstring "Passes"
    ("runbook.md", "updated: 2023-11-30", 365, "last changed 2023-11-30, 1094 days ago (limit 365)"),  # "Fails"
    ("runbook.md", "updated: 2025-11-28", 365, None),  # exactly at the limit
    ("runbook.md", "updated: 2025-11-27", 365, "last changed 2025-11-27, 366 days ago (limit 365)"),
    ("runbook.md", "updated: 2026-09-01", 30, "last changed 2026-09-01, 88 days ago (limit 30)"),
    ("runbook.md", "last_updated: 2023-11-30", 365, "last changed 2023-11-30, 1094 days ago (limit 365)"),
    ("runbook.md", "updated: 2023-11-30; last_reviewed: 2026-06-01", 365, None),  # a review counts as a change
    ("runbook.md", "updated: 2022-01-10; last_reviewed: 2024-01-10", 365, "last reviewed 2024-01-10, 1053 days ago (limit 365)"),
    ("runbook.md", "", 365, None),  # no date in the page: the file's mtime (now)
    ("adr/0003-use-kafka.md", "updated: 2021-04-19", 365, None),  # exempt by folder
    ("decisions/kafka.md", "updated: 2021-04-19", 365, None),
    ("postmortems/2023-04-12-checkout-outage.md", "updated: 2023-04-20", 365, None),
    ("ops/outage-review.md", "updated: 2023-04-20; kind: postmortem", 365, None),  # exempt by front matter
    ("ops/why-kafka.md", "updated: 2021-04-19; type: decision", 365, None),
    ("CHANGELOG.md", "updated: 2020-01-01", 365, None),
    ("release-notes/2021.md", "updated: 2021-01-01", 365, None),
    ("ops/adr-notes-are-not-adrs.md", "updated: 2021-04-19", 365, "last changed 2021-04-19, 2049 days ago (limit 365)"),
]


@pytest.mark.parametrize("path,front,limit,expected", CASES)
def test_stale(tmp_path, path, front, limit, expected):
    wiki = make_wiki(tmp_path / "wiki", {path: md(front)})
    res = crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": {"max-age-days": limit}}})
    got = of(res, "WC101")
    assert [f.message for f in got] == ([expected] if expected else []), show(res.findings)


def test_finding_fields(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {"ops/restart.md": md("updated: 2023-11-30", "# Restart\n\nText.\n\n## Steps\n\nDo it.\n")})
    [f] = of(crawl_check(wiki, tmp_path / "idx"), "WC101")
    assert (f.name, f.kind, f.scope, f.level) == ("stale", "stale", "document", RULES["WC101"].DEFAULTS["level"])
    assert (f.path, f.heading, f.line, f.newer) == ("ops/restart.md", "Restart", 5, None)
    assert f.evidence == {"changed_at": "2023-11-30T00:00:00Z", "last_reviewed": None, "age_days": 1094,
                          "max_age_days": 365, "timestamp_source": "front_matter"}
    assert f.changed_at == "2023-11-30T00:00:00Z"


def test_level_is_configurable(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2023-11-30")})
    [f] = of(crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": {"level": "error"}}}), "WC101")
    assert f.level == "error"


@pytest.mark.parametrize("edit_date,stale", [(None, True), ("2026-10-02T09:00:00+00:00", False)])
def test_git_dates_come_from_the_newest_section(git_repo, tmp_path, edit_date, stale):
    body = "# Deploy\n\nIntro.\n\n## Steps\n\nRun `make deploy`.\n\n## Rollback\n\nRun `make rollback`.\n"
    commits = [(D2022, {"deploy.md": body})]
    if edit_date:  # one section edited recently: the page changed
        commits.append((edit_date, {"deploy.md": body.replace("make deploy", "make deploy ENV=prod")}))
    repo = git_repo(*commits)
    got = of(crawl_check(repo, tmp_path / "idx", now=NOW), "WC101")
    assert bool(got) is stale, show(got)
    if stale:
        assert got[0].evidence["timestamp_source"] == "git"
        assert got[0].message.startswith("last changed 2022-09-12, ")
