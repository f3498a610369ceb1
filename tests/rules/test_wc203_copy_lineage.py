"""WC203 copy-lineage: a section equal to a *past* version of another section that has since changed
(superseded) or been removed (obsolete). The history decides which text is older."""

from __future__ import annotations

import pytest

from rules.helpers import (
    CANON,
    CANON_2022,
    COPY,
    NO_AGE_RULES,
    copy_repo,
    crawl_check,
    of,
    show,
    where,
)
from wikicheck.rules import RULES


def test_copy_of_a_past_version_is_superseded(git_repo, tmp_path):
    repo, (c_canon, c_copy, c_change) = copy_repo(git_repo)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = [f for f in of(res, "WC203") if f.heading == "Restart"]
    assert (f.path, f.kind, f.level) == (COPY, "superseded", RULES["WC203"].DEFAULTS["level"])
    assert (f.newer["path"], f.newer["heading"]) == (CANON, "Restart")
    assert f.message.startswith(f"identical to {CANON} §Restart as of 2022-09-12 (commit {c_canon[:10]}); "
                                f"that section changed on 2024-03-02 (commit {c_change[:10]}): ")
    sv = f.evidence["source_version"]
    assert (sv["path"], sv["commit"], sv["ended_by_commit"]) == (CANON, c_canon, c_change)
    assert (sv["valid_from"], sv["valid_to"]) == ("2022-09-12T10:00:00Z", "2024-03-02T16:45:00Z")
    assert f.evidence["match"] == "exact"
    assert ("psql -h db-01.acme.internal", "psql -h pgbouncer.db.svc.cluster.local") in {
        (c["old"], c["new"]) for c in f.evidence["claims"]["conflicts"]}
    assert c_copy not in f.message  # the copy's own commit is not the evidence


def test_copy_of_a_removed_section_is_obsolete(git_repo, tmp_path):
    repo, (c_canon, _, c_change) = copy_repo(git_repo)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = [f for f in of(res, "WC203") if f.heading == "Legacy failover"]
    assert (f.path, f.kind) == (COPY, "obsolete")
    assert f.message == (f"identical to {CANON} §Legacy failover as of 2022-09-12 (commit {c_canon[:10]}); "
                         f"that section was removed from its page on 2024-03-02 (commit {c_change[:10]})")
    assert f.evidence["removed_at"] == "2024-03-02T16:45:00Z"


def test_whole_source_page_removed(git_repo, tmp_path):
    repo, (_, _, c_delete) = copy_repo(git_repo, canon_change=None)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    got = {(f.heading, f.kind) for f in of(res, "WC203")}
    assert got == {(h, "obsolete") for h in ("Overview", "Restart", "Legacy failover", "Escalation")}, show(res.findings)
    assert all(f"that page was removed on 2024-03-02 (commit {c_delete[:10]})" in f.message for f in of(res, "WC203"))


@pytest.mark.parametrize("canon_change,expected", [
    # docstring "Passes": the copy equals the *current* version of its source: a duplicate (WC204) at most
    (CANON_2022, None),
    # the source changed in wording only: informational ("copy of an older wording")
    (CANON_2022.replace("Log in to the database host and restart the service:",
                        "On the database host, restart the service like this:"), "in wording only"),
], ids=["unchanged-source", "wording-only"])
def test_no_error_without_a_substantive_change(git_repo, tmp_path, canon_change, expected):
    repo, _ = copy_repo(git_repo, canon_change=canon_change)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert of(res, "WC203") == [] or expected, show(res.findings)
    assert of(res, min_level="warning") == [], show(res.findings)
    restart = [f for f in res.findings if f.path == COPY and f.heading == "Restart"]
    if expected:
        assert [(f.level, f.newer["path"]) for f in restart] == [("info", CANON)], show(res.findings)
        assert expected in restart[0].message
    else:
        assert [f.rule for f in restart] in ([], ["WC204"]), show(res.findings)


def test_lineage_with_the_real_model(git_repo, tmp_path, real_embedder):
    """The superseded case end to end with all-MiniLM-L6-v2: the copy flagged, the canonical not."""
    repo, (c_canon, _, _) = copy_repo(git_repo)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES, embedder=real_embedder)
    assert where(of(res, min_level="warning")) == {("WC203", COPY, "Restart"), ("WC203", COPY, "Legacy failover")}, \
        show(res.findings)
    [f] = [f for f in of(res, "WC203") if f.heading == "Restart"]
    assert (f.kind, f.newer["path"], f.evidence["source_version"]["commit"]) == ("superseded", CANON, c_canon)
    assert of(res, path=CANON) == [], show(res.findings)
