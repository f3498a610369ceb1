"""WC201 superseded: a copy of a runbook whose aligned sections state other commands, hosts or values
than the newer page. Direction comes from the date of each section's last substantive change."""

from __future__ import annotations

import pytest

from rules.helpers import (
    CANON,
    COPY,
    COPY_2022,
    ESCALATION,
    NO_AGE_RULES,
    NOTE,
    OVERVIEW,
    RESTART_NEW,
    RESTART_OLD,
    copy_repo,
    crawl_check,
    make_wiki,
    md,
    of,
    runbook,
    show,
    where,
)
from wikicheck.rules import RULES

RESTART_REWORDED = RESTART_NEW.replace("Restart the deployment, then check the pools:",
                                       "Roll the deployment and look at the pools afterwards:")


def folder_pair(tmp_path, canon_front, canon_body, copy_front, copy_body, cfg=NO_AGE_RULES):
    wiki = make_wiki(tmp_path / "wiki", {CANON: md(canon_front, canon_body), COPY: md(copy_front, copy_body)})
    return crawl_check(wiki, tmp_path / "idx", cfg)


NEW_PAGE = runbook("Restart PgBouncer", OVERVIEW, RESTART_NEW, ESCALATION)
OLD_PAGE = runbook("Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION)


@pytest.mark.parametrize("copy_title", ["Restart PgBouncer", "Checkout: Restart PgBouncer", "Restart PgBouncer (copy)"])
def test_team_copy_superseded_by_newer_page(tmp_path, copy_title):
    res = folder_pair(tmp_path, "updated: 2026-06-18", NEW_PAGE, "updated: 2022-09-08",
                      runbook(copy_title, OVERVIEW, RESTART_OLD, ESCALATION))
    [f] = of(res, "WC201")
    assert of(res, path=CANON) == [], show(res.findings)  # the canonical is never flagged
    assert (f.path, f.heading, f.kind, f.level) == (COPY, "Restart", "superseded", RULES["WC201"].DEFAULTS["level"])
    assert (f.newer["path"], f.newer["heading"]) == (CANON, "Restart")
    assert f.message.startswith(f"superseded by {CANON} §Restart (changed 2026-06-18; this copy 2022-09-08): ")
    claims = f.evidence["claims"]
    assert {(c["old"], c["new"]) for c in claims["conflicts"]} >= {
        ("psql -h db-01.acme.internal", "psql -h pgbouncer.db.svc.cluster.local"), ("psql -p 6543", "psql -p 6432")}
    assert {"type": "command", "value": "sudo systemctl restart pgbouncer"} in claims["old_only"]
    assert {"type": "command", "value": "kubectl -n db rollout restart deploy/pgbouncer"} in claims["new_only"]
    assert f.evidence["old"]["changed_at"] == "2022-09-08T00:00:00Z"
    assert (f.evidence["new"]["changed_at"], f.evidence["new"]["path"]) == ("2026-06-18T00:00:00Z", CANON)
    # the unchanged sections are duplicates at most, never above info
    assert where(of(res, min_level="warning")) == {("WC201", COPY, "Restart")}


def test_a_qualifier_after_the_newer_title_is_still_the_same_runbook(tmp_path):
    """The platform page was retitled "Restart PgBouncer (Kubernetes)" after the team copied it: a
    qualifier in brackets after the name does not make it another runbook."""
    res = folder_pair(tmp_path, "updated: 2026-06-18", runbook("Restart PgBouncer (Kubernetes)", OVERVIEW, RESTART_NEW, ESCALATION),
                      "updated: 2022-09-08", runbook("Checkout: Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION))
    assert where(of(res, min_level="warning")) == {("WC201", COPY, "Restart")}, show(res.findings)
    assert of(res, "WC201")[0].newer["path"] == CANON


def test_direction_is_by_date_not_by_folder(tmp_path):
    # the team page got the new commands first; the platform page is the stale one
    res = folder_pair(tmp_path, "updated: 2022-09-08", OLD_PAGE, "updated: 2026-06-18", NEW_PAGE)
    assert where(of(res, min_level="warning")) == {("WC201", CANON, "Restart")}, show(res.findings)
    assert of(res, "WC201")[0].newer["path"] == COPY


@pytest.mark.parametrize("copy_body,why", [
    (runbook("Restart PgBouncer", OVERVIEW, RESTART_REWORDED, ESCALATION), "same claims, other wording"),
    (NEW_PAGE, "identical page"),
    (runbook("Rotate Vault tokens", OVERVIEW, RESTART_OLD, ESCALATION), "not the same runbook (title)"),
])
def test_no_superseded_finding(tmp_path, copy_body, why):
    res = folder_pair(tmp_path, "updated: 2026-06-18", NEW_PAGE, "updated: 2022-09-08", copy_body)
    assert of(res, "WC201") == [], why + "\n" + show(res.findings)
    assert of(res, min_level="warning") == [], why + "\n" + show(res.findings)


def test_rule_can_be_disabled(tmp_path):
    res = folder_pair(tmp_path, "updated: 2026-06-18", NEW_PAGE, "updated: 2022-09-08", OLD_PAGE,
                      {**NO_AGE_RULES, "rules": {**NO_AGE_RULES["rules"], "superseded": False}})
    assert of(res, "WC201") == [] and of(res, "WC204"), show(res.findings)


# A cosmetic edit of the copy (a note, 2025) after the canonical changed (2024) must not make the copy
# look like the newer page.
COPY_NOTE_IN_RESTART = COPY_2022.replace("```sh\nssh", NOTE + "```sh\nssh")
COPY_NOTE_IN_OVERVIEW = COPY_2022.replace("## Overview\n\n", "## Overview\n\n" + NOTE)


@pytest.mark.parametrize("copy_edit", [COPY_NOTE_IN_RESTART, COPY_NOTE_IN_OVERVIEW], ids=["note-in-restart", "note-in-overview"])
def test_cosmetic_edit_of_the_copy_does_not_invert(git_repo, tmp_path, copy_edit):
    repo, _ = copy_repo(git_repo, copy_edit=copy_edit)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    restart = [f for f in of(res, path=COPY, min_level="warning") if f.heading == "Restart"]
    assert [(f.rule in ("WC201", "WC203"), f.kind, f.newer["path"], f.newer["heading"]) for f in restart] == [
        (True, "superseded", CANON, "Restart")], show(res.findings)
    assert of(res, path=CANON, min_level="warning") == [], show(res.findings)


def test_cosmetic_edit_of_the_copy_never_flags_the_canonical(git_repo, tmp_path):
    repo, _ = copy_repo(git_repo, copy_edit=COPY_NOTE_IN_OVERVIEW)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert of(res, path=CANON) == [], show(res.findings)
