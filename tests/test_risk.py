"""Risk ranking (issue 5): risk = severity × kind × age × exposure, each component shown."""

from __future__ import annotations

import math

import pytest
from rules.helpers import NOW, config, crawl_check, make_wiki, md

from wikicheck.report.owners import build_reports
from wikicheck.risk import (
    Exposure,
    age_factor,
    exposure_by_section,
    exposure_factor,
    record_events_enabled,
    score,
)
from wikicheck.store import Store


def test_formula_components():
    r = score("error", "contradicted", 3 * 365, Exposure(served=2, warned=1, blocked=1, replaced=1))
    c = r.components
    assert c["severity"] == {"level": "error", "factor": 3}
    assert c["kind"] == {"kind": "contradicted", "factor": 3}
    assert c["age"]["days"] == 1095 and c["age"]["factor"] == pytest.approx(1 + math.log2(1 + 1095 / 365.25) / 2, abs=1e-3)
    ex = c["exposure"]
    assert (ex["served"], ex["warned"], ex["blocked"], ex["replaced"]) == (2, 1, 1, 1)
    assert ex["hits"] == 4.0  # served + warned + (blocked + replaced) / 2
    assert ex["factor"] == pytest.approx(1 + math.log2(5) / 2, abs=1e-3)
    assert r.score == pytest.approx(3 * 3 * c["age"]["factor"] * ex["factor"], abs=0.02)
    assert r.explain().startswith("error 3 × contradicted 3 × 3.0 y ")
    assert r.explain().endswith(f"= {r.score:g}")
    assert r.to_json()["formula"] == "risk = severity × kind × age × exposure"


@pytest.mark.parametrize("years,factor", [(0, 1.0), (1, 1.5), (3, 2.0), (7, 2.5)])
def test_age_factor(years, factor):
    assert age_factor(round(years * 365.25)) == pytest.approx(factor, abs=1e-3)


def test_unknown_age_counts_as_one_year():
    assert age_factor(None) == pytest.approx(1.5)


@pytest.mark.parametrize("hits,factor", [(0, 1.0), (1, 1.5), (3, 2.0), (15, 3.0), (63, 4.0)])
def test_exposure_factor_is_log_scaled(hits, factor):
    assert exposure_factor(Exposure(served=hits)) == pytest.approx(factor)


def test_kind_order_at_equal_severity_age_and_exposure():
    kinds = ["duplicate", "stale", "broken_link", "review_expired", "retired_term", "deprecated", "obsolete",
             "superseded", "contradicted"]
    scores = {k: score("warning", k, 400).score for k in kinds}
    assert scores["contradicted"] == scores["superseded"] == scores["obsolete"]
    assert scores["superseded"] > scores["deprecated"] == scores["retired_term"]
    assert scores["retired_term"] > scores["stale"] == scores["review_expired"] == scores["broken_link"] == scores["duplicate"]


def test_severity_and_age_raise_risk():
    assert score("error", "stale", 400).score > score("warning", "stale", 400).score > score("info", "stale", 400).score
    assert score("warning", "stale", 2000).score > score("warning", "stale", 400).score


def test_exposure_can_overtake_a_louder_finding():
    quiet = score("warning", "contradicted", 365)
    served = score("warning", "stale", 365, Exposure(served=40))
    assert served.score > quiet.score
    # withheld hits weigh half
    assert score("warning", "stale", 365, Exposure(blocked=4)).score == score("warning", "stale", 365, Exposure(served=2)).score


# ----------------------------------------------------------------------------- exposure from guard_events


def _events(st: Store, rows: list[tuple[str, str, str, str | None]]) -> None:
    with st.transaction():
        # an event names a section the store has (a foreign key): rows for the made-up ids
        ids = {r[1] for r in rows} | {r[3] for r in rows if r[3]}
        st.db.conn.executemany("insert or ignore into sections (id) values (?)", [(i,) for i in sorted(ids)])
        st.db.conn.executemany("insert into guard_events (at, section_id, verdict, replaces) values (?, ?, ?, ?)", rows)


def test_exposure_by_section_counts_verdicts_and_replacements(store):
    at = "2026-11-20T10:00:00Z"
    _events(store, [(at, "A", "ok", None), (at, "A", "warn", None), (at, "A", "warn", None), (at, "A", "block", None),
                    (at, "B", "replaced", "A"), ("2025-01-01T00:00:00Z", "A", "ok", None)])  # the last: out of window
    ex = exposure_by_section(store, NOW)
    assert ex["A"].to_json() == {"served": 1, "warned": 2, "blocked": 1, "replaced": 1}
    assert ex["B"].to_json() == {"served": 1, "warned": 0, "blocked": 0, "replaced": 0}  # served as the replacement


@pytest.fixture
def two_stale_pages(tmp_path, fake_embedder):
    """Two equally old, equally stale pages of one owner, and one contradicted-free older page."""
    wiki = make_wiki(tmp_path / "wiki", {
        "a.md": md('owner: "@acme/ops"; updated: 2023-01-10', "# Alpha\n\nRestart the alpha service.\n"),
        "b.md": md('owner: "@acme/ops"; updated: 2023-01-10', "# Beta\n\nRestart the beta service.\n"),
    })
    crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": {"level": "warning"}}}, embedder=fake_embedder, record=True)
    return tmp_path / "idx"


def test_exposure_raises_rank(two_stale_pages):
    with Store.open(two_stale_pages) as st:
        before = build_reports(st, config({}), now=NOW)["reports"][0]["items"]
        assert [it["section"]["path"] for it in before] == ["a.md", "b.md"]  # a tie: by path
        assert before[0]["risk"]["score"] == before[1]["risk"]["score"]
        beta = next(s["id"] for s in st.sections() if s["path"] == "b.md")
        _events(st, [("2026-11-27T09:00:00Z", beta, "warn", None)] * 3)
        after = build_reports(st, config({}), now=NOW)["reports"][0]["items"]
    assert [it["section"]["path"] for it in after] == ["b.md", "a.md"]
    assert after[0]["risk"]["components"]["exposure"]["warned"] == 3
    assert after[0]["risk"]["components"]["exposure"]["factor"] == 2.0
    assert after[0]["risk"]["score"] == pytest.approx(2 * before[1]["risk"]["score"], abs=0.02)
    assert [it["rank"] for it in after] == [1, 2]
    assert any("served this section 3 time(s)" in r for r in after[0]["action"]["reasons"])


def test_ranking_order_in_a_report(tmp_path, fake_embedder):
    wiki = make_wiki(tmp_path / "wiki", {
        "old.md": md('owner: "@o"; updated: 2020-01-01', "# Old\n\nText.\n"),
        "new-but-deprecated.md": md('owner: "@o"; updated: 2026-10-01; status: deprecated; superseded_by: old.md',
                                    "# Dep\n\nText.\n"),
        "broken.md": md('owner: "@o"; updated: 2026-10-01', "# Broken\n\nSee [gone](gone.md).\n"),
    })
    crawl_check(wiki, tmp_path / "idx", {"rules": {"stale": {"level": "warning"}, "broken-link": {"level": "warning"}}},
                embedder=fake_embedder, record=True)
    with Store.open(tmp_path / "idx") as st:
        items = build_reports(st, config({}), now=NOW)["reports"][0]["items"]
    got = [(it["finding"]["kind"], it["section"]["path"]) for it in items]
    # deprecated (error × 2) above a 7-year-old stale warning above a fresh broken link
    assert got == [("deprecated", "new-but-deprecated.md"), ("stale", "old.md"), ("broken_link", "broken.md")]
    scores = [it["risk"]["score"] for it in items]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("env,cfg,expected", [
    (None, {}, True),
    ("1", {}, False),
    ("0", {}, True),
    (None, {"guard": {"record-events": False}}, False),
    (None, {"guard": {"record-events": True}}, True),
])
def test_record_events_opt_out(monkeypatch, env, cfg, expected):
    if env is None:
        monkeypatch.delenv("WIKICHECK_NO_EVENTS", raising=False)
    else:
        monkeypatch.setenv("WIKICHECK_NO_EVENTS", env)
    assert record_events_enabled(config(cfg)) is expected


@pytest.mark.parametrize("env,expected", [
    (None, True), ("", True), ("0", True), ("false", True), (" No ", True), ("off", True),
    ("1", False), ("true", False), ("yes", False),
])
def test_the_guard_and_the_cli_read_wikicheck_no_events_alike(monkeypatch, env, expected):
    """One parser (#13): the guard's default read "false" as "no events" where the CLI read it as "events"."""
    from wikicheck.guard import GuardConfig

    if env is None:
        monkeypatch.delenv("WIKICHECK_NO_EVENTS", raising=False)
    else:
        monkeypatch.setenv("WIKICHECK_NO_EVENTS", env)
    assert record_events_enabled(None) is expected
    assert GuardConfig().record_events is expected


def test_search_cli_honours_the_opt_out(tmp_path, cli, fake_embedder):
    """`wikicheck search` records exposure unless [guard] record-events = false or WIKICHECK_NO_EVENTS=1."""
    wiki = make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2026-11-01", "# Restart\n\nRestart the service.\n")})
    crawl_check(wiki, tmp_path / "idx", embedder=fake_embedder, record=True)

    def events() -> int:
        with Store.open(tmp_path / "idx") as st:
            return st.db.execute("select count(*) from guard_events").fetchone()[0]

    assert cli("search", "restart", "--index", tmp_path / "idx", "-k", "1").exit_code == 0
    assert events() == 1
    assert cli("search", "restart", "--index", tmp_path / "idx", "-k", "1",
               env={"WIKICHECK_NO_EVENTS": "1"}).exit_code == 0
    assert events() == 1
    (tmp_path / "wikicheck.toml").write_text("[guard]\nrecord-events = false\n")  # the cli fixture runs in tmp_path
    assert cli("search", "restart", "--index", tmp_path / "idx", "-k", "1").exit_code == 0
    assert events() == 1
