"""WC201 superseded: a copy of a runbook whose aligned sections state other commands, hosts or values
than the newer page. Direction comes from the date of each section's last substantive change."""

from __future__ import annotations

import pytest

from rules.helpers import (
    CANON,
    CANON_DATE,
    CHANGE_DATE,
    COPY,
    COPY_2022,
    COPY_DATE,
    ESCALATION,
    NO_AGE_RULES,
    NOTE,
    NOTE_DATE,
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
from wikicheck.lexical import lexical_similarity, new_sentences
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


# One runbook (one title) whose copy was edited all over since: the short summaries were rewritten, the
# long diagnosis kept most of its words. By sections the two pages share under half their words (the
# mean of 0.15, 0.0, 0.79 and 0.53); by words, close to two thirds: the words decide.
EDITED_OLD = {
"Meaning": "The alert fires when PgBouncer has been unreachable for five minutes on the primary pool.",
"Impact": "Checkout requests queue up and time out for every customer.",
"Diagnosis": ("Check the pods with `kubectl -n db get pods -l app=pgbouncer` and read the logs of each pod for "
  "authentication failures and for connection limit errors. Then compare the pool counters from "
  "`psql -h db-01.acme.internal -p 6543 -c 'SHOW POOLS'` with the dashboard of the database team. When the "
  "counters stay at zero the process is wedged and must be restarted from the deployment; otherwise wait "
  "for the pool to drain and watch the error rate on the dashboard before you escalate."),
"Mitigation": "Restart the service with `sudo systemctl restart pgbouncer` on the database host and watch the pools.",
}
EDITED_NEW = {
"Meaning": "Fires once the connection pooler stops answering health probes sent by monitoring.",
"Impact": "Orders cannot be placed; the storefront shows its maintenance page.",
"Diagnosis": ("List the pooler pods with `kubectl -n db get pods -l app=pgbouncer` and read their logs for "
  "TLS handshake errors and for connection limit errors. Then compare the pool counters from "
  "`psql -h pgbouncer.db.svc.cluster.local -p 6432 -c 'SHOW POOLS'` with the pooler dashboard in Grafana. If the "
  "counters stay at zero the process is wedged and must be restarted from the deployment; otherwise wait "
  "for the pool to drain, and follow the error rate on that dashboard before anyone is paged."),
"Mitigation": "Restart the deployment with `kubectl -n db rollout restart deploy/pgbouncer` and watch the pools.",
}


def _page(title: str, sections: dict[str, str]) -> str:
    return runbook(title, *(f"## {h}\n\n{body}\n" for h, body in sections.items()))


def test_a_copy_edited_all_over_is_paired_by_the_words_it_kept(tmp_path):
    from wikicheck.lexical import lexical_similarity

    sims = [lexical_similarity(EDITED_OLD[h], EDITED_NEW[h]) for h in EDITED_OLD]
    assert sum(sims) / len(sims) < 0.5 and max(sims) < 0.85  # no single section is a near copy
    res = folder_pair(tmp_path, "updated: 2025-05-02", _page("PoolerDown", EDITED_NEW),
                      "updated: 2022-01-10", _page("PoolerDown", EDITED_OLD))
    flagged = where(of(res, min_level="warning"))
    assert ("WC201", COPY, "Diagnosis") in flagged and all(p == COPY for _, p, _ in flagged), show(res.findings)
    [f] = [f for f in of(res, "WC201") if f.heading == "Diagnosis"]
    assert (f.newer["path"], f.newer["heading"]) == (CANON, "Diagnosis")
    # under another title the same texts are two runbooks: nothing pairs them
    res = folder_pair(tmp_path / "other", "updated: 2025-05-02", _page("PoolerDown", EDITED_NEW),
                      "updated: 2022-01-10", _page("PoolerSaturated", EDITED_OLD))
    assert of(res, "WC201") == [], show(res.findings)


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


# A repository without the canonical page's past (a wiki migrated in one commit per page): only the
# pages and their dates are there. The canonical page added a step to its escalation, in prose only: no
# command, host or value changed, so no claim settles anything, and the two texts are still over 60%
# the same words.
ESCALATION_STEP = ESCALATION + ("\nBefore you page anyone, move the checkout traffic to the standby region "
                                "from the traffic console.\n")
ESCALATION_REWORDED = ESCALATION.replace("Page the platform on-call through", "Page the on-call of the platform team via")
CANON_NOW = runbook("Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION_STEP)
COPY_THEN = runbook("Checkout: Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION)


def test_a_step_added_to_the_newer_page_supersedes_the_copy_without_history(git_repo, tmp_path):
    assert lexical_similarity(ESCALATION, ESCALATION_STEP) >= 0.6  # not a rewrite: the step decides
    assert new_sentences(ESCALATION, ESCALATION_STEP) == [
        "Before you page anyone, move the checkout traffic to the standby region from the traffic console."]
    repo = git_repo((COPY_DATE, {COPY: COPY_THEN}), (CHANGE_DATE, {CANON: CANON_NOW}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = of(res, min_level="warning")
    assert (f.rule, f.path, f.heading, f.kind) == ("WC201", COPY, "Escalation", "superseded"), show(res.findings)
    assert (f.newer["path"], f.newer["heading"]) == (CANON, "Escalation")


def test_a_reworded_sentence_is_not_a_step(git_repo, tmp_path):
    assert new_sentences(ESCALATION, ESCALATION_REWORDED) == []
    repo = git_repo((COPY_DATE, {COPY: COPY_THEN}),
                    (CHANGE_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION_REWORDED)}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert of(res, min_level="warning") == [], show(res.findings)


@pytest.mark.parametrize("canon_date", [CANON_DATE, CHANGE_DATE], ids=["canonical-first", "canonical-migrated-later"])
def test_a_note_added_to_a_copy_never_supersedes_the_canonical(git_repo, tmp_path, canon_date):
    """A copy of an unchanged page that later got a team note: whether the canonical page was committed
    before the copy or (migrated) after it, the note is the copy's own edit, never a step the canonical
    lacks, and the copy is not stale either. Migrated after it, the history shows the canonical "made
    from" the copy, and the note reads as a step the copy's page added; it is told apart as a line that
    runbooks of other subjects carry too (here, with another team's name in it)."""
    page = runbook("Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION)
    copy = runbook("Checkout: Restart PgBouncer", OVERVIEW, RESTART_OLD, ESCALATION)
    note = "If in doubt, ask in the checkout channel before running these steps."
    noted = copy.replace(ESCALATION, ESCALATION + "\n" + note + "\n")
    others = {
        "teams/search/reindex.md": runbook("Reindex the catalogue", "## Reindex\n\nStart the reindex job from the "
                                           "search console and wait for the alias to switch.\n\n"
                                           "If in doubt, ask in the search channel before running these steps.\n"),
        "teams/payments/refunds.md": runbook("Replay refunds", "## Replay\n\nReplay the failed refunds from the "
                                             "payments console, oldest first.\n\n"
                                             "If in doubt, ask in the payments channel before running these steps.\n"),
    }
    repo = git_repo(*sorted([(CANON_DATE if canon_date == CHANGE_DATE else COPY_DATE, others),
                             (canon_date, {CANON: page}), (COPY_DATE, {COPY: copy}), (NOTE_DATE, {COPY: noted})],
                            key=lambda c: c[0]))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert of(res, min_level="warning") == [], show(res.findings)


# The platform page was rewritten in 2024 (one commit: no past versions); the team copy of 2022 said
# "should include ..., as well as ..." and got a wording fix in 2025 ("as well as" -> "and").
LABELS_NOW = ("## Diagnosis\n\nThe alert labels name the PersistentVolumeClaim and its namespace; graph the free "
              "space of that claim in the metrics console.\n")
LABELS_THEN = ("## Diagnosis\n\nThe alert labels should include the name of the PersistentVolumeClaim associated "
               "with the volume that is low on storage, as well as the namespace that claim is in.\n")


def test_a_wording_fix_in_a_copys_instruction_does_not_make_it_the_newer_page(git_repo, tmp_path):
    """The fix keeps the instruction's polarity and nearly all its words: for the copy's own history it
    is no change of substance, so the copy's section still dates from 2022, and the platform page (2024)
    is the newer one. Counting the fix as a change made the canonical page look superseded."""
    canon = runbook("Restart PgBouncer", OVERVIEW, LABELS_NOW, ESCALATION)
    copy = runbook("Checkout: Restart PgBouncer", OVERVIEW, LABELS_THEN, ESCALATION)
    fixed = copy.replace(", as well as the namespace", ", and the namespace")
    repo = git_repo((COPY_DATE, {COPY: copy}), (CHANGE_DATE, {CANON: canon}), (NOTE_DATE, {COPY: fixed}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert of(res, path=CANON, min_level="warning") == [], show(res.findings)
    assert where(of(res, min_level="warning")) == {("WC201", COPY, "Diagnosis")}, show(res.findings)


def test_a_paragraph_given_its_own_heading_is_no_vote_without_history(tmp_path):
    """No history: the newer page put the last paragraph of its overview (a command) under a heading of
    its own. The copy says the same under fewer headings: not superseded, and no claim vote for it."""
    check = ("Check the pools first with `psql -h pgbouncer.db.svc.cluster.local -p 6432 -c 'SHOW POOLS;'` "
             "and compare the waiting clients with the dashboard.")
    res = folder_pair(tmp_path, "updated: 2026-06-18",
                      runbook("Restart PgBouncer", OVERVIEW, "## Check the pools\n\n" + check + "\n", ESCALATION),
                      "updated: 2022-09-08", runbook("Checkout: Restart PgBouncer", OVERVIEW + "\n" + check + "\n", ESCALATION))
    assert of(res, min_level="warning") == [], show(res.findings)


def test_advice_the_newer_page_took_out_supersedes_the_copy(tmp_path):
    """No history: the newer page kept its §Diagnosis heading but took its text out. The copy still
    tells the on-call to do it: superseded, and the message says the text was taken out. Where
    neither page says anything (a "TODO" for nothing), there is nothing to supersede."""
    diagnosis = "## Diagnosis\n\nRefer to the inode runbook and clear the image cache before you restart the node.\n"
    res = folder_pair(tmp_path, "updated: 2026-06-18",
                      runbook("Restart PgBouncer", OVERVIEW, "## Diagnosis\n", RESTART_NEW, ESCALATION), "updated: 2022-09-08",
                      runbook("Checkout: Restart PgBouncer", OVERVIEW, diagnosis, RESTART_OLD, ESCALATION))
    got = {f.heading: f for f in of(res, min_level="warning")}
    assert set(got) == {"Diagnosis", "Restart"} and all(f.path == COPY for f in got.values()), show(res.findings)
    f = got["Diagnosis"]
    assert (f.rule, f.kind, f.newer["path"], f.newer["heading"]) == ("WC201", "superseded", CANON, "Diagnosis")
    assert f.message.endswith("): the newer page took this text out"), f.message
    res = folder_pair(tmp_path / "empty", "updated: 2026-06-18",
                      runbook("Restart PgBouncer", OVERVIEW, "## Diagnosis\n\nTODO\n", RESTART_NEW, ESCALATION),
                      "updated: 2022-09-08", runbook("Checkout: Restart PgBouncer", OVERVIEW, "## Diagnosis\n", RESTART_OLD, ESCALATION))
    assert [f.heading for f in of(res, min_level="warning")] == ["Restart"], show(res.findings)


def test_a_copys_note_under_its_title_is_not_advice_taken_out(tmp_path):
    """The newer page has nothing under its title; the copy says what it is there. Without history
    that note looks like text the newer page took out, but under the title it is the copy's own
    preamble: only a step's section counts (test_advice_the_newer_page_took_out_supersedes_the_copy)."""
    note = "Copy of the platform runbook, kept here for the checkout on-call team and their pager rotation.\n\n"
    res = folder_pair(tmp_path, "updated: 2026-06-18", runbook("Restart PgBouncer", OVERVIEW, RESTART_NEW, ESCALATION),
                      "updated: 2022-09-08", runbook("Checkout: Restart PgBouncer", note + OVERVIEW, RESTART_OLD, ESCALATION))
    assert [f.heading for f in of(res, min_level="warning")] == ["Restart"], show(res.findings)


def test_a_heading_the_copy_extended_is_still_the_same_section(tmp_path):
    """No history: the team appended its name to a heading ("Escalation (Checkout)"), and the newer
    page has since added a step under "Escalation". The two are one section: the copy's is superseded."""
    copy = runbook("Checkout: Restart PgBouncer", OVERVIEW, RESTART_OLD,
                   ESCALATION.replace("## Escalation", "## Escalation (Checkout)"))
    steps = ESCALATION_STEP + ("\nIf the standby region is also degraded, declare a major incident in the incident tool "
                               "and name an incident commander before anything else.\n")
    res = folder_pair(tmp_path, "updated: 2026-06-18", runbook("Restart PgBouncer", OVERVIEW, RESTART_NEW, steps),
                      "updated: 2022-09-08", copy)
    got = {f.heading: f for f in of(res, min_level="warning")}
    assert set(got) == {"Restart", "Escalation (Checkout)"} and all(f.path == COPY for f in got.values()), \
        show(res.findings)
    f = got["Escalation (Checkout)"]
    assert (f.rule, f.kind, f.newer["path"], f.newer["heading"]) == ("WC201", "superseded", CANON, "Escalation")
