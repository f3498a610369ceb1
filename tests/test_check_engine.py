"""The check engine: config validation, per-folder policies, exemptions, inline suppression,
fingerprints, new and resolved findings between runs, levels."""

from __future__ import annotations

import datetime as dt

import pytest
from rules.helpers import NOW, check, crawl_check, load_toml, make_wiki, md, of, show

from wikicheck.check import LEVELS, latest_findings, level_at_least
from wikicheck.config import load_config
from wikicheck.errors import ConfigError
from wikicheck.store import Store

# --------------------------------------------------------------------------- config validation

BAD_CONFIGS = [
    ('[rules.nope]\nlevel = "error"\n', 'unknown rule "nope"'),
    ("[rules.stale]\nmax-age = 30\n", 'unknown option "max-age" for WC101 stale'),
    ('[rules.stale]\nmax-age-days = "30"\n', 'option "max-age-days" of WC101 should be int'),
    ("[rules.stale]\nmax-age-days = true\n", 'option "max-age-days" of WC101 should be int'),
    ("[rules.stale]\nmax-age-days = 30.5\n", 'option "max-age-days" of WC101 should be int'),
    ("[rules.broken-link]\ncheck-anchors = 1\n", 'option "check-anchors" of WC301 should be bool'),
    ('[rules.stale]\nlevel = "critical"\n', "level should be one of info, warning, error"),
    ('[rules.stale]\nenabled = "yes"\n', "enabled should be true or false"),
    ("[rules]\nstale = 3\n", "rules.stale should be true, false or a table"),
    ('[[retired]]\npattern = "(unclosed"\n', "invalid regex"),
    ('[[retired]]\nterm = "a"\npattern = "b"\n', "needs exactly one of term"),
    ('[[retired]]\nreplacement = "b"\n', "needs exactly one of term"),
    ('[[retired]]\nterm = "a"\nreplace = "b"\n', 'unknown key "replace"'),
    ('[exempt]\nkinds = ["adr", "runbook"]\n', 'unknown page kind "runbook"'),
    ('[exempt]\nfolders = ["x/"]\n', "[exempt] takes kinds"),
    ("[[policies]]\nmax-age-days = 30\n", "needs paths"),
    ('[[policies]]\npaths = ["oncall/"]\nmax-age = 30\n', 'unknown option "max-age"'),
    ('[[policies]]\npaths = ["oncall/"]\ndisable = ["nope"]\n', 'unknown rule "nope"'),
    ('[[policies]]\npaths = ["oncall/"]\nmax-age-days = "30"\n', "should be int"),
    ('[[policies]]\npaths = ["oncall/"]\n[policies.rules.stale]\nlevel = "loud"\n', "level should be one of"),
    ("[nope]\nx = 1\n", "unknown section [nope]"),
    ("[rules.stale\n", "invalid TOML"),
]


@pytest.mark.parametrize("toml,message", BAD_CONFIGS)
def test_bad_config_is_an_error(tmp_path, toml, message):
    with pytest.raises(ConfigError) as e:
        load_toml(tmp_path, toml)
    assert message in str(e.value) and str(tmp_path / "wikicheck.toml") in str(e.value)


def test_sample_wiki_config_is_valid():
    from pathlib import Path

    cfg = load_config(Path(__file__).parent.parent / "sample_wiki" / "wikicheck.toml")
    assert {r["term"] if "term" in r else r["label"] for r in cfg.data["retired"]} == {"jenkins.acme.internal", "kubectl-legacy"}


def test_bad_config_fails_before_any_work(cli, tmp_path):
    (tmp_path / "bad.toml").write_text("[rules.nope]\n")
    r = cli("check", "--index", tmp_path / "no-index", "--config", tmp_path / "bad.toml")
    assert r.exit_code == 3 and 'unknown rule "nope"' in r.stderr and "no wikicheck store" not in r.stderr
    assert not (tmp_path / "no-index").exists()


# --------------------------------------------------------------------------- per-folder policies

OLDISH = "updated: 2026-04-01"  # 241 days before 2026-11-28


@pytest.fixture
def folders(tmp_path):
    return make_wiki(tmp_path / "wiki", {
        "oncall/pager.md": md(OLDISH), "sre/deep/failover.md": md(OLDISH), "platform/dns.md": md(OLDISH),
    })


@pytest.mark.parametrize("cfg,flagged", [
    ({}, set()),
    ({"policies": [{"paths": ["oncall/"], "max-age-days": 180}]}, {"oncall/pager.md"}),
    ({"policies": [{"paths": ["oncall/", "sre/**"], "max-age-days": 180}]}, {"oncall/pager.md", "sre/deep/failover.md"}),
    ({"policies": [{"paths": ["oncall/"], "max-age-days": 180}, {"paths": ["oncall/"], "max-age-days": 300}]}, set()),  # later wins
    ({"rules": {"stale": {"max-age-days": 180}}, "policies": [{"paths": ["platform/"], "disable": ["stale"]}]},
     {"oncall/pager.md", "sre/deep/failover.md"}),
    ({"rules": {"stale": {"max-age-days": 180}}, "policies": [{"paths": ["platform/"], "rules": {"WC101": False}}]},
     {"oncall/pager.md", "sre/deep/failover.md"}),
    ({"rules": {"stale": {"max-age-days": 180, "enabled": False}}, "policies": [{"paths": ["oncall/"], "enable": ["stale"]}]},
     {"oncall/pager.md"}),  # off everywhere but one folder
    ({"policies": [{"paths": ["*/pager.md"], "max-age-days": 180}]}, {"oncall/pager.md"}),
], ids=["default", "folder-limit", "glob", "later-wins", "folder-disable", "folder-rules-table", "folder-enable", "file-glob"])
def test_folder_policies(folders, tmp_path, cfg, flagged):
    res = crawl_check(folders, tmp_path / "idx", cfg)
    assert {f.path for f in of(res, "WC101")} == flagged, show(res.findings)


def test_folder_level(folders, tmp_path):
    cfg = {"rules": {"stale": {"max-age-days": 180, "level": "info"}},
           "policies": [{"paths": ["oncall/"], "rules": {"stale": {"level": "error"}}}]}
    res = crawl_check(folders, tmp_path / "idx", cfg)
    assert {(f.path, f.level) for f in of(res, "WC101")} == {
        ("oncall/pager.md", "error"), ("sre/deep/failover.md", "info"), ("platform/dns.md", "info")}


# --------------------------------------------------------------------------- exempt kinds

HISTORY = {
    "adr/0007-use-pgbouncer.md": md("updated: 2021-04-19; status: accepted"),
    "postmortems/2023-04-12-checkout-outage.md": md("updated: 2023-04-20; status: final", "# Outage\n\nSee [gone](gone.md).\n"),
    "notes/why-we-left-jenkins.md": md("updated: 2021-01-05; kind: decision"),
    "archive/old-runbook.md": md("updated: 2020-01-01"),
    "runbooks/restart.md": md("updated: 2021-01-05"),
}


@pytest.mark.parametrize("cfg,stale", [
    ({}, {"archive/old-runbook.md", "runbooks/restart.md"}),
    ({"exempt": {"kinds": ["adr"]}},
     {"archive/old-runbook.md", "runbooks/restart.md", "postmortems/2023-04-12-checkout-outage.md"}),
    ({"exempt": {"kinds": []}}, set(HISTORY)),
    ({"exempt": {"paths": ["archive/**"]}}, {"runbooks/restart.md"}),
])
def test_exempt_kinds(tmp_path, cfg, stale):
    res = crawl_check(make_wiki(tmp_path / "wiki", HISTORY), tmp_path / "idx", cfg)
    assert {f.path for f in of(res, "WC101")} == stale, show(res.findings)
    # exempt from age rules only: the postmortem's dead link is still reported
    assert [f.path for f in of(res, "WC301")] == ["postmortems/2023-04-12-checkout-outage.md"]


# --------------------------------------------------------------------------- inline suppression

DEAD = "[dead](gone.md)"


@pytest.mark.parametrize("before,same_line,suppressed", [
    ("<!-- wikicheck: disable-next-line WC301 -->", "", True),
    ("<!-- wikicheck: disable-next-line WC301 -->\n", "", True),  # a blank line in between
    ("<!-- wikicheck: disable-next-line broken-link -->", "", True),  # rule name
    ("<!-- wikicheck: disable-next-line wc301 -->", "", True),
    ("<!-- wikicheck: disable-next-line WC101, WC301 -->", "", True),
    ("<!-- wikicheck: disable-next-line -->", "", True),  # every rule
    ("<!-- wikicheck: disable-next-line WC101 -->", "", False),  # another rule
    ("<!-- wikicheck: disable-next-line WC301 -->\nOther text.\n", "", False),  # not the next line
    ("", " <!-- wikicheck: disable-line WC301 -->", True),
    ("<!-- wikicheck: disable WC301 -->", "", True),  # the section holding the comment
    ("<!-- wikicheck: disable-file WC301 -->", "", True),
    ("<!-- wikicheck: disable-file -->", "", True),
    ("<!-- wikicheck: disable-file stale -->", "", False),
    ("```md\n<!-- wikicheck: disable-file -->\n```", "", False),  # an example in a code block
    ("Write `<!-- wikicheck: disable-next-line WC301 -->` above the link:", "", False),  # inline code
])
def test_inline_suppression(tmp_path, before, same_line, suppressed):
    body = f"# Page\n\nIntro.\n\n## Links\n\n{before}\n{DEAD}{same_line}\n\n## Other\n\n[dead2](gone2.md)\n"
    res = crawl_check(make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2026-11-01", body)}), tmp_path / "idx")
    hrefs = [f.evidence["href"] for f in of(res, "WC301")]
    whole_file = "disable-file" in before and "```" not in before and "stale" not in before
    assert hrefs == ([] if whole_file else ["gone2.md"] if suppressed else ["gone.md", "gone2.md"]), show(res.findings)
    assert res.suppressed == (2 if whole_file else 1 if suppressed else 0)


def test_section_disable_does_not_reach_other_sections(tmp_path):
    body = "# Page\n\n## A\n\n<!-- wikicheck: disable -->\n[x](gone-a.md)\n\n## B\n\n[x](gone-b.md)\n"
    res = crawl_check(make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2023-01-01", body)}), tmp_path / "idx")
    assert [f.evidence["href"] for f in of(res, "WC301")] == ["gone-b.md"]
    assert of(res, "WC101"), "a document finding sits on the first section, which has no comment"


def test_document_rule_suppressed_in_first_section(tmp_path):
    body = "# Page\n\n<!-- wikicheck: disable stale -->\nOld on purpose.\n\n## A\n\nText.\n"
    res = crawl_check(make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2023-01-01", body)}), tmp_path / "idx")
    assert of(res, "WC101") == [] and res.suppressed == 1


# --------------------------------------------------------------------------- fingerprints, new, resolved

def _wiki(tmp_path, links=("gone.md",), front="updated: 2023-01-01", intro=""):
    body = f"# Page\n\n{intro}Links: " + " ".join(f"[x]({h})" for h in links) + "\n\n## Deploy\n\nssh jenkins.acme.internal\n"
    return make_wiki(tmp_path / "wiki", {"a.md": md(front, body), "b.md": md("updated: 2026-11-01", "# B\n\nok\n")})


RETIRED = {"retired": [{"term": "jenkins.acme.internal", "replacement": "ci.acme.internal"}]}


def _fps(res):
    return {(f.rule, f.fingerprint) for f in res.findings}


def test_fingerprints_stable_across_runs_days_and_moved_lines(tmp_path):
    wiki = _wiki(tmp_path)
    first = crawl_check(wiki, tmp_path / "idx", RETIRED)
    assert {r for r, _ in _fps(first)} == {"WC101", "WC301", "WC302"}
    assert _fps(check(tmp_path / "idx", RETIRED)) == _fps(first)
    later = check(tmp_path / "idx", RETIRED, now=NOW + dt.timedelta(days=40))  # ages move, fingerprints don't
    assert _fps(later) == _fps(first)
    assert {f.message for f in later.findings} != {f.message for f in first.findings}
    _wiki(tmp_path, intro="A new paragraph\nthat moves every line down.\n\n")
    moved = crawl_check(wiki, tmp_path / "idx", RETIRED)
    assert [f.line for f in of(moved, "WC301")] != [f.line for f in of(first, "WC301")]
    assert _fps(moved) == _fps(first)
    assert len({f.fingerprint for f in first.findings}) == len(first.findings)


def test_new_and_resolved_between_runs(tmp_path):
    wiki = _wiki(tmp_path, links=("gone.md", "gone2.md"))
    idx = tmp_path / "idx"
    r1 = crawl_check(wiki, idx, RETIRED, record=True)
    assert all(f.new for f in r1.findings) and r1.resolved == []
    r2 = check(idx, RETIRED, record=True)
    assert not any(f.new for f in r2.findings) and r2.resolved == [] and r2.run_id == r1.run_id + 1
    _wiki(tmp_path, links=("gone2.md", "gone3.md"))  # gone.md fixed, gone3.md broken
    r3 = crawl_check(wiki, idx, RETIRED, record=True)
    assert [f.evidence["href"] for f in r3.findings if f.new] == ["gone3.md"]
    [fixed] = r3.resolved
    assert (fixed["rule"], fixed["path"]) == ("WC301", "a.md") and "gone.md" in fixed["message"]
    assert r3.summary()["resolved"] == 1 and r3.summary()["new"] == 1
    with Store.open(idx) as st:
        rows = latest_findings(st)
        assert {r["fingerprint"] for r in rows} == {f.fingerprint for f in r3.findings}
        first_seen = {r["fingerprint"]: r["first_seen_run"] for r in rows}
    assert {first_seen[f.fingerprint] for f in r3.findings if not f.new} == {r1.run_id}
    assert {first_seen[f.fingerprint] for f in r3.findings if f.new} == {r3.run_id}


def test_record_false_leaves_no_trace(tmp_path):
    crawl_check(_wiki(tmp_path), tmp_path / "idx")
    with Store.open(tmp_path / "idx") as st:
        assert latest_findings(st) == []


def test_old_runs_are_pruned(tmp_path):
    crawl_check(_wiki(tmp_path), tmp_path / "idx")
    for _ in range(12):
        last = check(tmp_path / "idx", record=True)
    with Store.open(tmp_path / "idx") as st:
        runs = [r[0] for r in st.db.execute("select id from check_runs order by id")]
        assert len(runs) == 10 and runs[-1] == last.run_id
        assert {r[0] for r in st.db.execute("select distinct run_id from findings")} <= set(runs)


# --------------------------------------------------------------------------- levels

@pytest.mark.parametrize("cfg,overrides", [
    ({}, {}),
    ({"rules": {"stale": {"level": "warning"}, "WC302": {"level": "info"}}}, {"WC101": "warning", "WC302": "info"}),
    ({"rules": {"broken-link": {"level": "error"}, "retired-term": False}}, {"WC301": "error", "WC302": None}),
])
def test_levels(tmp_path, cfg, overrides):
    from wikicheck.rules import RULES

    expected = {c: RULES[c].DEFAULTS["level"] for c in ("WC101", "WC301", "WC302")}  # the registry's defaults
    expected = {c: lvl for c, lvl in {**expected, **overrides}.items() if lvl}
    res = crawl_check(_wiki(tmp_path), tmp_path / "idx", {**cfg, "retired": RETIRED["retired"]})
    assert {f.rule: f.level for f in res.findings} == expected
    s = res.summary()
    assert s["by_level"] == {lvl: sum(f.level == lvl for f in res.findings) for lvl in LEVELS}
    assert s["findings"] == len(res.findings)


@pytest.mark.parametrize("level,threshold,expected", [
    ("info", "info", True), ("info", "warning", False), ("warning", "warning", True), ("error", "warning", True),
    ("warning", "error", False),
])
def test_level_at_least(level, threshold, expected):
    assert level_at_least(level, threshold) is expected


@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_collector_is_paused_while_rules_run_and_restored_after(store, monkeypatch, enabled_before):
    import gc

    import wikicheck.check as check_mod
    from wikicheck.check import run_checks

    seen: list[bool] = []
    real = check_mod._run_rules

    def spy(ctx, policies):
        seen.append(gc.isenabled())
        return real(ctx, policies)

    monkeypatch.setattr(check_mod, "_run_rules", spy)
    was = gc.isenabled()
    try:
        (gc.enable if enabled_before else gc.disable)()
        run_checks(store, load_config(None), record="no")
        assert seen == [False] and gc.isenabled() is enabled_before

        def boom(ctx, policies):
            raise RuntimeError("a rule failed")

        monkeypatch.setattr(check_mod, "_run_rules", boom)
        with pytest.raises(RuntimeError):
            run_checks(store, load_config(None), record="no")
        assert gc.isenabled() is enabled_before  # restored when a rule raises, too
    finally:
        (gc.enable if was else gc.disable)()
