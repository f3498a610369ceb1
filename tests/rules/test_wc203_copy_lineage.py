"""WC203 copy-lineage: a section equal to a *past* version of another section that has since changed
(superseded) or been removed (obsolete). The history decides which text is older."""

from __future__ import annotations

import pytest

from rules.helpers import (
    CANON,
    CANON_2022,
    CANON_DATE,
    CHANGE_DATE,
    COPY,
    COPY_DATE,
    ESCALATION,
    NO_AGE_RULES,
    OVERVIEW,
    copy_repo,
    crawl_check,
    of,
    runbook,
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


IMPACT_OLD = "## Impact\n\nCheckout requests fail while the pooler restarts.\n"
IMPACT_NEW = "## Impact\n\nPayments queue in the outbox and are retried; no request fails.\n"
REWORDED_OLD = """## Escalation

We page the platform on-call through the PagerDuty service platform-db, and we post in the db-oncall
channel with the output of the pool check, so that they can see the pools.
"""
REWORDED_NEW = """## Escalation

Post the output of the pool check in the db-oncall channel so that the platform on-call can see the
pools, then page them through the PagerDuty service platform-db.
"""


def _made_from_canon(git_repo, canon_old: str, canon_new: str, copy_sections: str):
    """A team page made whole from the canonical (its history says so), then the canonical changed."""
    from helpers import git

    repo = git_repo((CANON_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, canon_old)}),
                    (COPY_DATE, {COPY: runbook("Checkout: Restart PgBouncer", OVERVIEW, copy_sections)}),
                    (CHANGE_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, canon_new)}))
    return repo, git(repo, "rev-list", "--reverse", "HEAD").split()


def test_short_section_of_a_page_made_from_another(git_repo, tmp_path):
    """A section below the lineage minimum (7 words) counts where the history shows its page was
    made, as a whole, from the other page: the pairing is by page, not by a few common words."""
    repo, _ = _made_from_canon(git_repo, IMPACT_OLD, IMPACT_NEW, IMPACT_OLD)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = [f for f in of(res, "WC203", path=COPY) if f.heading == "Impact"]
    assert (f.kind, f.level, f.newer["path"], f.newer["heading"]) == ("superseded", "error", CANON, "Impact"), \
        show(res.findings)
    assert of(res, path=CANON, min_level="warning") == [], show(res.findings)


def test_short_section_without_a_page_lineage_is_no_evidence(git_repo, tmp_path):
    """The same short sentence on a page written on its own (it was not made from the canonical) is
    no evidence of copying: nothing is flagged."""
    own = runbook("Checkout: Restart PgBouncer", "## Overview\n\nOur own words about the checkout pooler.\n",
                  IMPACT_OLD)
    repo = git_repo((CANON_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, IMPACT_OLD)}),
                    (COPY_DATE, {COPY: own}),
                    (CHANGE_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, IMPACT_NEW)}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert [f for f in of(res, "WC203", min_level="warning") if f.heading == "Impact"] == [], show(res.findings)


def test_reordered_rewrite_counts_as_changed(git_repo, tmp_path):
    """The canonical rewrote its procedure with mostly the same words in another order (page first,
    then post; now post first, then page): a diff marks most of it changed, so the copy of the old
    text is superseded, although a bag of words finds the two 85% alike."""
    from wikicheck.lexical import changed_share, lexical_similarity

    assert lexical_similarity(REWORDED_OLD, REWORDED_NEW) >= 0.8
    assert changed_share(REWORDED_OLD, REWORDED_NEW) > 0.15
    repo, _ = _made_from_canon(git_repo, REWORDED_OLD, REWORDED_NEW, REWORDED_OLD)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = [f for f in of(res, "WC203", path=COPY) if f.heading == "Escalation"]
    assert (f.kind, f.level, f.newer["path"]) == ("superseded", "error", CANON), show(res.findings)


# A line that runbooks of other subjects carry too (a team's standing note), and two such runbooks.
TEMPLATE_NOTE = "Ping the platform on-call if this does not resolve the issue."
OTHER_RUNBOOKS = {
    "platform/redis.md": runbook("Restart Redis", "## Restart\n\nRestart the cache pods one at a time and watch the "
                                 "hit rate recover.\n\nPing the platform on-call if this does not resolve the issue.\n"),
    "platform/certs.md": runbook("Rotate certificates", "## Rotate\n\nRenew the ingress certificate from the secrets "
                                 "console and reload the ingress.\n\nPing the storage on-call if this does not resolve "
                                 "the issue.\n"),
}


def test_a_template_line_added_to_the_source_is_wording_only(git_repo, tmp_path):
    """The canonical only added a line that other runbooks carry too (a standing note, not a step of
    this runbook), and no claim moved: the copy is not wrong, it gets the informational "older
    wording" pointer and no error."""
    added = REWORDED_OLD + "\n" + TEMPLATE_NOTE + "\n"
    repo = git_repo((CANON_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, REWORDED_OLD), **OTHER_RUNBOOKS}),
                    (COPY_DATE, {COPY: runbook("Checkout: Restart PgBouncer", OVERVIEW, REWORDED_OLD)}),
                    (CHANGE_DATE, {CANON: runbook("Restart PgBouncer", OVERVIEW, added)}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    esc = [f for f in res.findings if f.path == COPY and f.heading == "Escalation"]
    assert [(f.level, f.kind) for f in esc] == [("info", "duplicate")], show(res.findings)
    assert "in wording only" in esc[0].message
    assert of(res, min_level="warning") == [], show(res.findings)


def test_deprecation_notice_added_to_the_source_supersedes_the_copy(git_repo, tmp_path):
    """The source kept every command and only added that the procedure is going away: the copy, which
    does not say so, is superseded, and the message names the notice. The same sentence without the
    deprecation (a plain note) stays informational (test_note_added_to_the_source_is_wording_only)."""
    notice = "This procedure is deprecated and will be removed in the next release of the pooler."
    canon = CANON_2022.replace("Log in to the database host and restart the service:",
                               f"{notice}\n\nLog in to the database host and restart the service:")
    repo, _ = copy_repo(git_repo, canon_change=canon)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = [f for f in of(res, "WC203", path=COPY) if f.heading == "Restart"]
    assert (f.kind, f.level, f.newer["path"], f.newer["heading"]) == ("superseded", "error", CANON, "Restart")
    assert "the newer section says `deprecated: procedure deprecated removed next release pooler`" in f.message
    assert [c["type"] for c in f.evidence["claims"]["new_only"]] == ["deprecation"]


# The platform page later gave the last paragraph of its overview a heading of its own; the team copy
# still has it inside its overview. Nothing the copy says went away.
CHECK_POOLS = ("Check the pools first with `psql -h pgbouncer.db.svc.cluster.local -p 6432 -c 'SHOW POOLS;'` "
               "and compare the waiting clients with the dashboard.")
SPLIT_BEFORE = runbook("Restart PgBouncer", OVERVIEW + "\n" + CHECK_POOLS + "\n", ESCALATION)
SPLIT_AFTER = runbook("Restart PgBouncer", OVERVIEW, "## Check the pools\n\n" + CHECK_POOLS + "\n", ESCALATION)


@pytest.mark.parametrize("after,flagged", [
    (SPLIT_AFTER, False),  # the paragraph went under its own heading, right after the overview
    (runbook("Restart PgBouncer", OVERVIEW, ESCALATION), True),  # the paragraph (a command) was dropped
], ids=["split", "dropped"])
def test_a_paragraph_given_its_own_heading_is_not_a_change(git_repo, tmp_path, after, flagged):
    copy = SPLIT_BEFORE.replace("# Restart PgBouncer", "# Checkout: Restart PgBouncer", 1)
    repo = git_repo((CANON_DATE, {CANON: SPLIT_BEFORE}), (COPY_DATE, {COPY: copy}), (CHANGE_DATE, {CANON: after}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    got = [(f.path, f.heading, f.kind) for f in of(res, min_level="warning")]
    assert got == ([(COPY, "Overview", "superseded")] if flagged else []), show(res.findings)


# A step the canonical added to its escalation since the team copied it (no command, host or value
# in it), and the same step taken out again.
ESCALATION_STEP = ESCALATION + ("\nBefore you page anyone, move the checkout traffic to the standby region "
                                "from the traffic console.\n")
STEP = "Before you page anyone, move the checkout traffic to the standby region from the traffic console."


@pytest.mark.parametrize("then,now,says", [
    (ESCALATION, ESCALATION_STEP, f'the newer section adds "{STEP}"'),
    (ESCALATION_STEP, ESCALATION, f'the newer section no longer says "{STEP}"'),
], ids=["step-added", "step-taken-out"])
def test_a_step_the_source_added_or_took_out_supersedes_the_copy(git_repo, tmp_path, then, now, says):
    """The history shows the team page made whole from the canonical, and the canonical's commands
    moved on elsewhere on the page (§Restart): a step it added to (or took out of) §Escalation since is
    a change of substance, and the message quotes it."""
    from rules.helpers import RESTART_NEW, RESTART_OLD

    repo, _ = _made_from_canon(git_repo, RESTART_OLD + "\n" + then, RESTART_NEW + "\n" + now, RESTART_OLD + "\n" + then)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    got = {f.heading: f for f in of(res, "WC203", path=COPY, min_level="warning")}
    assert set(got) == {"Restart", "Escalation"}, show(res.findings)
    f = got["Escalation"]
    assert (f.kind, f.newer["path"], f.newer["heading"]) == ("superseded", CANON, "Escalation")
    assert f.message.endswith(f": {says}"), f.message
    assert of(res, path=CANON, min_level="warning") == [], show(res.findings)


def test_a_step_the_source_added_supersedes_the_copy_where_no_claim_moved(git_repo, tmp_path):
    """The same step added with nothing else on the page changed: a sentence of this runbook's own
    (no other runbook says it), which the copy lacks. The history shows the copy made from the
    canonical: the copy is superseded, and the message quotes the step."""
    repo, _ = _made_from_canon(git_repo, ESCALATION, ESCALATION_STEP, ESCALATION)
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = of(res, min_level="warning")
    assert (f.rule, f.path, f.heading, f.kind) == ("WC203", COPY, "Escalation", "superseded"), show(res.findings)
    assert f.message.endswith(f': the newer section adds "{STEP}"'), f.message


def test_a_sentence_the_source_added_under_its_title_is_no_step(git_repo, tmp_path):
    """Under a page's title is where a page says what it is (whose copy, who reviewed it): a sentence
    added there is no step of the runbook, so without a claim that moved it stays informational."""
    intro = "The platform team owns this runbook and the pooler it restarts.\n\n"
    more = intro.rstrip("\n") + "\nIt was reviewed with the database team after the spring incident.\n\n"
    repo = git_repo((CANON_DATE, {CANON: runbook("Restart PgBouncer", intro + OVERVIEW, ESCALATION)}),
                    (COPY_DATE, {COPY: runbook("Checkout: Restart PgBouncer", intro + OVERVIEW, ESCALATION)}),
                    (CHANGE_DATE, {CANON: runbook("Restart PgBouncer", more + OVERVIEW, ESCALATION)}))
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    assert of(res, min_level="warning") == [], show(res.findings)


def test_a_step_one_other_runbook_and_its_copy_share_is_still_a_step(git_repo, tmp_path):
    """The step the canonical added is one that another runbook also gives, and that runbook has a
    team copy of its own: two pages, but one runbook, so the step is not a template line."""
    failover = runbook("Fail over the orders database", "## Failover\n\nPromote the standby from the database console "
                       "and repoint the pooler at it.\n\n" + STEP + "\n")
    repo, _ = _made_from_canon(git_repo, ESCALATION, ESCALATION_STEP, ESCALATION)
    from helpers import commit

    commit(repo, {"platform/failover.md": failover,
                  "teams/checkout/failover.md": failover.replace("# Fail over", "# Checkout: Fail over", 1)},
           "2025-01-10T10:00:00+00:00")
    res = crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)
    [f] = of(res, path=COPY, min_level="warning")
    assert (f.rule, f.heading, f.kind) == ("WC203", "Escalation", "superseded"), show(res.findings)
