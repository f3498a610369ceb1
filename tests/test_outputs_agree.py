"""Outputs that agree with each other (issue #12): the library checks as the CLI does, "new" means new
since the last recorded run, `rules` shows what `check` applies, search tags and dates say what the
findings say, and `crawl` and `status` explain each other's counts.

Every test crawls a real folder (or git repository) into a real store with the hashing embedder;
`check` uses the real clock, so pages are dated relative to today."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from helpers import D2022, D2024
from rules.helpers import make_wiki, md

from wikicheck.check import run_checks
from wikicheck.config import Config
from wikicheck.crawl import crawl
from wikicheck.embed import get_embedder
from wikicheck.guard import Guard, GuardConfig
from wikicheck.nightly import run_nightly
from wikicheck.store import Store

MODEL = "test-hash-64"
TODAY = dt.date.today()


def ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


TOML = """\
[rules.stale]
level = "warning"
max-age-days = 200

[rules]
duplicate = false

[[policies]]
paths = ["oncall/"]
max-age-days = 90

[[retired]]
pattern = '\\bkubectl-legacy\\b'
label = "kubectl-legacy"
replacement = "kubectl"
"""

WIKI = {
    "wikicheck.toml": TOML,
    "deploy.md": md(f"updated: {ago(10)}; owner: \"@acme/ops\"", "# Deploy\n\n## Roll out\n\nRun kubectl-legacy apply -f app.yaml.\n"),
    "old.md": md(f"updated: {ago(300)}; owner: \"@acme/ops\"", "# Old\n\n## Notes\n\nThe old notes.\n"),
    "oncall/pager.md": md(f"updated: {ago(120)}; owner: \"@acme/ops\"", "# Pager\n\n## Rota\n\nPage the secondary.\n"),
}


@pytest.fixture
def wiki_index(tmp_path: Path, cli) -> tuple[Path, Path]:
    """The wiki (with its own wikicheck.toml) crawled into tmp_path/idx; the cwd is tmp_path (no config)."""
    wiki = make_wiki(tmp_path / "wiki", WIKI)
    idx = tmp_path / "idx"
    crawl([str(wiki)], idx, embedder=get_embedder(MODEL))
    return wiki, idx


def check_json(cli, idx: Path, *args: str) -> dict:
    r = cli("check", "--index", idx, "--json", "--fail-on", "never", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def verdict(idx: Path, path: str) -> str:
    g = Guard(idx, embedder=get_embedder(MODEL), config=GuardConfig(record_events=False))
    try:
        (sec,) = [s for s in g.by_id.values() if s["path"] == path and s["text"].strip()]
        return g.judge(sec)[0]
    finally:
        g.close()


# ----------------------------------------------------------------------------- point 1: library = CLI


def test_the_library_checks_with_the_config_the_cli_uses(cli, wiki_index):
    """The README's `run_checks(store)` ignored the source's wikicheck.toml: other findings, and the
    guard then served the retired command it had blocked a minute earlier."""
    _, idx = wiki_index
    by_cli = {f["fingerprint"]: (f["rule"], f["level"]) for f in check_json(cli, idx)["findings"]}
    assert ("WC302", "error") in by_cli.values() and verdict(idx, "deploy.md") == "block"
    with Store.open(idx) as st:
        result = run_checks(st)
    assert {f.fingerprint: (f.rule, f.level) for f in result.findings} == by_cli
    assert verdict(idx, "deploy.md") == "block"  # the guard serves the library's run: still blocked


def test_an_explicit_config_is_used_as_given(wiki_index):
    _, idx = wiki_index
    with Store.open(idx) as st:
        rules = {f.rule for f in run_checks(st, Config(), record=False).findings}
    assert "WC302" not in rules  # the defaults: no retired terms, whatever the source's config says


# ----------------------------------------------------------------------------- point 2: recording


def test_checking_again_does_not_use_up_what_is_new(cli, wiki_index, tmp_path):
    """`check` then `check --format json` said "0 new", and the nightly report "0 new tonight"."""
    wiki, idx = wiki_index
    first = check_json(cli, idx)["summary"]
    second = check_json(cli, idx)["summary"]
    assert first["new"] == second["new"] == first["findings"] > 0
    text = cli("check", "--index", idx, "--fail-on", "never").stdout
    assert text.endswith(f"{first['findings']} new since the last run, 0 resolved\n")

    res = run_nightly([str(wiki)], idx, tmp_path / "reports", embedder=get_embedder(MODEL))
    assert (res.new, res.exit_code) == (first["findings"], 1)
    report = (tmp_path / "reports" / "index.md").read_text() + "".join(
        p.read_text() for p in (tmp_path / "reports").glob("owner-*.md"))
    assert f"**{first['findings']} new tonight**" in report

    after = check_json(cli, idx)["summary"]  # new since the nightly run, which is recorded
    assert (after["new"], after["baseline_run"], after["recorded"]) == (0, res.run_id, "verdicts")
    again = run_nightly([str(wiki)], idx, tmp_path / "reports", embedder=get_embedder(MODEL))
    assert (again.new, again.resolved, again.exit_code) == (0, 0, 0)


def test_a_plain_check_keeps_the_guard_right(cli, wiki_index):
    """Never recorded (no nightly, no --record): the guard still serves the last check's verdicts."""
    wiki, idx = wiki_index
    check_json(cli, idx)
    assert verdict(idx, "deploy.md") == "block"
    (wiki / "deploy.md").write_text(WIKI["deploy.md"].replace("kubectl-legacy", "kubectl"))
    crawl([str(wiki)], idx, embedder=get_embedder(MODEL))
    check_json(cli, idx)
    assert verdict(idx, "deploy.md") == "ok"
    with Store.open(idx) as st:  # one run of verdicts, never a pile of them
        assert st.db.execute("select count(*) from check_runs").fetchone()[0] == 1


def test_record_is_explicit_in_the_library(wiki_index):
    _, idx = wiki_index
    with Store.open(idx) as st:
        first = run_checks(st, record="run")
        assert (first.recorded, first.baseline_run) == ("run", None)
        plain = run_checks(st)
        assert (plain.recorded, plain.baseline_run, plain.summary()["new"]) == ("verdicts", first.run_id, 0)
        nothing = run_checks(st, record=False)
        assert (nothing.run_id, nothing.recorded) == (0, "no")
        with pytest.raises(ValueError, match="record should be one of run, verdicts, no"):
            run_checks(st, record="yes")


# ----------------------------------------------------------------------------- point 4: rules


def test_rules_shows_the_levels_and_options_in_force(cli, wiki_index):
    """`rules` showed the default levels while `check` applied the source's config."""
    wiki, idx = wiki_index
    r = cli("rules", "--index", idx)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"levels and options in force with {wiki / 'wikicheck.toml'}"
    stale = next(i for i, ln in enumerate(lines) if ln.startswith("WC101  stale "))
    assert lines[stale].startswith("WC101  stale           warning  ")
    assert lines[stale].endswith("[max-age-days=200]  (default info, max-age-days=365)")
    assert lines[stale + 1] == "         under oncall/: max-age-days=90"
    assert any(ln.startswith("WC204  duplicate       off ") and ln.endswith("(default on)") for ln in lines)

    doc = json.loads(cli("rules", "--index", idx, "--json").stdout)
    rows = {row["code"]: row for row in doc["rules"]}
    assert doc["config"] == str(wiki / "wikicheck.toml")
    assert (rows["WC101"]["level"], rows["WC101"]["default_level"], rows["WC101"]["in_force"]) == (
        "warning", "info", {"max-age-days": 200})
    assert rows["WC101"]["folders"] == [{"paths": ["oncall/"], "settings": {"max-age-days": 90}}]
    assert rows["WC204"]["enabled"] is False
    # what `check` reports is what `rules` says is in force
    for f in check_json(cli, idx)["findings"]:
        assert f["level"] == rows[f["rule"]]["level"], f


def test_rules_with_a_config_file_and_a_missing_index(cli, wiki_index, tmp_path):
    _, idx = wiki_index
    (tmp_path / "other.toml").write_text('[rules.stale]\nlevel = "error"\n')
    doc = json.loads(cli("rules", "--index", idx, "--config", tmp_path / "other.toml", "--json").stdout)
    assert next(row for row in doc["rules"] if row["code"] == "WC101")["level"] == "error"
    assert cli("rules").stdout.splitlines()[0] == "levels and options in force: the defaults (no wikicheck.toml found)"
    r = cli("rules", "--index", tmp_path / "nowhere")
    assert r.exit_code == 3 and "no wikicheck store at" in r.stderr


# ----------------------------------------------------------------------------- point 3: search output


def result_blocks(stdout: str) -> list[str]:
    return re.split(r"^(?=\d+\. \[)", stdout, flags=re.MULTILINE)[1:]


def test_the_tag_follows_the_level_of_the_findings(cli, tmp_path):
    """An info finding (an old page, at the default level) was shown as [WARN ]."""
    wiki = make_wiki(tmp_path / "wiki", {
        "old.md": md(f"updated: {ago(2000)}", "# Old\n\nRotate the backup tapes weekly.\n"),
        "due.md": md(f"updated: {ago(5)}; review_by: {ago(30)}", "# Due\n\nRotate the backup keys monthly.\n"),
    })
    crawl([str(wiki)], tmp_path / "idx", embedder=get_embedder(MODEL))
    cli("check", "--index", tmp_path / "idx")
    args = ("search", "rotate the backup", "--index", tmp_path / "idx", "--no-events")
    blocks = {re.search(r"\] (\S+) ", b).group(1): b for b in result_blocks(cli(*args).stdout)}
    assert blocks["old.md"].startswith("1. [info ] old.md") or blocks["old.md"].startswith("2. [info ] old.md")
    assert "\n   info (page): last changed " in blocks["old.md"]
    assert "[WARN ] due.md" in blocks["due.md"] and "\n   warning (page): review" in blocks["due.md"]
    js = {r["path"]: r for r in json.loads(cli(*args, "--json").stdout)["results"]}
    assert (js["old.md"]["verdict"], js["old.md"]["label"]) == ("warn", "info")
    assert (js["due.md"]["verdict"], js["due.md"]["label"]) == ("warn", "warn")


def test_a_result_shows_one_date_of_its_own(cli, git_repo, tmp_path):
    """A git page whose sections changed at different times: the result's date is its section's; the
    page's (newer) date, from a page-level finding, is marked as the page's."""
    repo = git_repo(
        (D2022, {"db.md": "# Database\n\n## Failover\n\nPromote the replica with pg_ctl promote.\n\n"
                          "## Backups\n\nBackups run nightly.\n"}),
        (D2024, {"db.md": "# Database\n\n## Failover\n\nPromote the replica with pg_ctl promote.\n\n"
                          "## Backups\n\nBackups run nightly at two.\n"}))
    crawl([str(repo)], tmp_path / "idx", embedder=get_embedder(MODEL))
    cli("check", "--index", tmp_path / "idx")
    out = cli("search", "promote the replica failover", "--index", tmp_path / "idx", "--no-events").stdout
    block = next(b for b in result_blocks(out) if "§Failover" in b)
    first, *rest = block.splitlines()
    assert "(2022-09-12 git" in first
    page_lines = [ln for ln in rest if " (page): " in ln]
    assert page_lines and "2024-03-02" in page_lines[0]
    for line in rest:
        if " (page): " not in line:
            assert not re.search(r"\d{4}-\d\d-\d\d", line) or "2022-09-12" in line, block


# ----------------------------------------------------------------------------- point 5: crawl and status


def test_crawl_and_status_explain_their_counts(cli, tmp_path):
    """`crawl` said "2 embedded" and `status` "faiss 3 vectors", with no word on why."""
    same = "# Runbook\n\nRestart the worker.\n"
    wiki = make_wiki(tmp_path / "wiki", {"a/runbook.md": same, "b/runbook.md": same})
    r = cli("crawl", wiki, "--index", tmp_path / "idx", "--model", MODEL)
    assert r.exit_code == 0, r.output
    assert ("; 1 embedded (one per distinct text: the 2 live sections have 1, and faiss holds one vector per "
            "section); ") in r.stdout
    lines = cli("status", "--index", tmp_path / "idx").stdout.splitlines()
    assert "embeddings 1, one per distinct text: the 2 live sections have 1, and faiss holds one vector per section" in lines
    assert any(ln.startswith("faiss      2 vectors, ") for ln in lines)
    info = json.loads(cli("status", "--index", tmp_path / "idx", "--json").stdout)
    assert (info["counts"]["embeddings"], info["manifest"]["count"], info["manifest"]["distinct_texts"]) == (1, 2, 1)
    # once the texts differ, the numbers agree and nothing needs explaining
    (wiki / "b/runbook.md").write_text("# Runbook\n\nRestart the scheduler.\n")
    r = cli("crawl", wiki, "--index", tmp_path / "idx", "--model", MODEL)
    assert "; 1 embedded; " in r.stdout
    status = cli("status", "--index", tmp_path / "idx").stdout
    assert "\nembeddings 2\n" in status and "\nfaiss      2 vectors, " in status
