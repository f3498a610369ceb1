"""The one vocabulary of levels and kinds (#13): every consumer reads it."""

from __future__ import annotations

from wikicheck import guard, policy, risk
from wikicheck.check import LEVELS as CHECK_LEVELS
from wikicheck.report.owners import suggest_action
from wikicheck.risk import Exposure
from wikicheck.vocabulary import BLOCK_KINDS, KINDS, LEVELS, WARN_KINDS, level_at_least


def test_consumers_share_the_levels():
    assert LEVELS == ("info", "warning", "error")
    assert CHECK_LEVELS is LEVELS and policy.LEVELS is LEVELS
    assert level_at_least("error", "warning") and not level_at_least("info", "warning")


def test_guard_verdicts_come_from_the_kinds():
    assert set(BLOCK_KINDS) == {"superseded", "contradicted", "obsolete", "deprecated", "retired_term"}
    assert set(WARN_KINDS) == {"stale", "review_expired", "broken_link", "duplicate"}
    cfg = guard.GuardConfig()
    assert cfg.block_kinds == BLOCK_KINDS and cfg.warn_kinds == WARN_KINDS


def test_risk_weights_and_their_description_come_from_the_kinds():
    assert risk.KIND_WEIGHT == {k.name: k.weight for k in KINDS.values()}
    assert risk.score("error", "contradicted", 0).components["kind"]["factor"] == 3
    assert risk.score("error", "a-kind-nobody-declared", 0).components["kind"]["factor"] == 1
    # the text the owner report shows, as it was written by hand before
    assert risk.FORMULA_PARTS["kind"] == ("contradicted/superseded/obsolete 3, deprecated/retired_term 2, "
                                          "review_expired/stale/broken_link/duplicate 1")
    assert risk.FORMULA_PARTS["severity"] == "level: info 1, warning 2, error 3"


def test_every_kind_has_advice_and_an_unknown_kind_gets_the_default():
    newer = {"path": "new.md", "heading": "Now"}
    for name in KINDS:
        out = suggest_action({"kind": name, "message": "m", "evidence": {}}, newer, 10, Exposure(), True)
        assert out["action"] in ("update", "archive", "redirect") and out["reasons"]
    out = suggest_action({"kind": "brand_new", "message": "what the rule said", "evidence": {}}, None, 1,
                         Exposure(), True)
    assert out == {"action": "update", "target": None, "reasons": ["what the rule said"]}
    # superseded without a newer section: no redirect, the message says why (as before #13)
    assert suggest_action({"kind": "superseded", "message": "old", "evidence": {}}, None, 1, Exposure(),
                          True)["reasons"] == ["old"]
