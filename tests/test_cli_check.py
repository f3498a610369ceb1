"""`wikicheck check` and `wikicheck rules` through the CLI: formats, exit codes, errors on stderr.

`check` uses the real clock, so the pages' dates are relative to today."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from rules.helpers import make_wiki, md

from wikicheck.crawl import crawl
from wikicheck.embed import get_embedder
from wikicheck.rules import RULES

TODAY = dt.date.today()


def ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


# age findings are info, review findings warnings, whatever the defaults are
LEVELS_TOML = '[rules.stale]\nlevel = "info"\n[rules.review-expired]\nlevel = "warning"\n'


@pytest.fixture
def index(tmp_path):
    """Crawl a wiki into tmp_path/idx; returns (crawl function, index dir)."""
    idx = tmp_path / "idx"

    def build(files: dict[str, str]) -> str:
        wiki = make_wiki(tmp_path / "wiki", files)
        crawl([str(wiki)], idx, embedder=get_embedder("test-hash-64"))
        return str(idx)

    (tmp_path / "levels.toml").write_text(LEVELS_TOML)
    return build


CLEAN = {"a.md": md(f"updated: {ago(10)}", "# A\n\nSee [b](b.md).\n"), "b.md": md(f"updated: {ago(20)}", "# B\n\nText.\n")}
INFO_ONLY = {**CLEAN, "old.md": md(f"updated: {ago(2000)}", "# Old\n\nText.\n")}
WARNING = {**INFO_ONLY, "due.md": md(f"updated: {ago(5)}; review_by: {ago(30)}", "# Due\n\nText.\n")}


def one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_clean_exits_0(cli, index, tmp_path):
    r = cli("check", "--index", index(CLEAN), "--config", tmp_path / "levels.toml")
    assert (r.exit_code, r.stderr) == (0, ""), r.output
    assert r.stdout.endswith("0 findings: 0 errors, 0 warnings, 0 info; 0 new since the last run, 0 resolved\n")


@pytest.mark.parametrize("files,fail_on,code", [
    (INFO_ONLY, None, 0), (INFO_ONLY, "info", 1), (INFO_ONLY, "warning", 0),
    (WARNING, None, 1), (WARNING, "info", 1), (WARNING, "warning", 1), (WARNING, "error", 0), (WARNING, "never", 0),
])
def test_fail_on(cli, index, tmp_path, files, fail_on, code):
    args = ["check", "--index", index(files), "--config", tmp_path / "levels.toml"]
    r = cli(*args, *(["--fail-on", fail_on] if fail_on else []))
    assert r.exit_code == code, r.output
    assert "old.md" in r.stdout  # findings are printed whatever the exit code


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "github", "text"])
def test_formats(cli, index, tmp_path, fmt):
    r = cli("check", "--index", index(WARNING), "--config", tmp_path / "levels.toml", "--format", fmt)
    assert r.exit_code == 1 and r.stderr == ""
    if fmt == "json":
        doc = json.loads(r.stdout)
        assert doc["version"] == 1 and {f["path"] for f in doc["findings"]} == {"old.md", "due.md"}
        assert doc["summary"]["documents"] == 4 and doc["summary"]["sections"] == 4
    elif fmt == "jsonl":
        assert sorted(json.loads(ln)["path"] for ln in r.stdout.splitlines()) == ["due.md", "old.md"]
    elif fmt == "sarif":
        assert json.loads(r.stdout)["version"] == "2.1.0"
    elif fmt == "github":
        assert sorted(ln.split(",")[0] for ln in r.stdout.splitlines()) == ["::notice file=old.md", "::warning file=due.md"]
    else:
        assert "due.md\n" in r.stdout and "(WC102 review-expired)" in r.stdout


def test_json_flag_is_format_json(cli, index, tmp_path):
    idx = index(WARNING)
    a = cli("check", "--index", idx, "--config", tmp_path / "levels.toml", "--json")
    b = cli("check", "--index", idx, "--config", tmp_path / "levels.toml", "--format", "json")
    strip = lambda out: {f["fingerprint"] for f in json.loads(out)["findings"]}  # noqa: E731
    assert strip(a.stdout) == strip(b.stdout) and len(strip(a.stdout)) == 2


def test_new_only(cli, index, tmp_path):
    """New means new since the last recorded run (--record, or nightly), never since a plain check (#12)."""
    idx = index(WARNING)
    args = ("check", "--index", idx, "--config", tmp_path / "levels.toml", "--json")
    first = json.loads(cli(*args, "--new-only").stdout)
    assert len(first["findings"]) == 2 and all(f["new"] for f in first["findings"])
    again = json.loads(cli(*args, "--new-only").stdout)  # checking again does not use up what is new
    assert len(again["findings"]) == 2 and again["summary"]["baseline_run"] is None
    recorded = json.loads(cli(*args, "--new-only", "--record").stdout)
    assert len(recorded["findings"]) == 2 and recorded["summary"]["recorded"] == "run"
    r = cli(*args, "--new-only")
    assert r.exit_code == 0 and json.loads(r.stdout)["findings"] == []  # nothing new: nothing fails
    assert json.loads(r.stdout)["summary"]["baseline_run"] == recorded["summary"]["run_id"]
    assert len(json.loads(cli(*args).stdout)["findings"]) == 2  # without the flag, everything
    index({**WARNING, "c.md": md(f"updated: {ago(3)}", "# C\n\n[x](gone.md)\n")})
    r = cli(*args, "--new-only", "--fail-on", "info")
    assert [f["path"] for f in json.loads(r.stdout)["findings"]] == ["c.md"] and r.exit_code == 1


def test_config_found_at_the_source_root(cli, index):
    idx = index({**CLEAN, "wikicheck.toml": '[[retired]]\nterm = "jenkins.acme.internal"\nreplacement = "ci.acme.internal"\n',
                 "deploy.md": md(f"updated: {ago(3)}", "# Deploy\n\nssh jenkins.acme.internal\n")})
    r = cli("check", "--index", idx, "--json")
    assert [f["rule"] for f in json.loads(r.stdout)["findings"]] == ["WC302"]


def test_index_from_environment(cli, index):
    idx = index(CLEAN)
    assert cli("check", env={"WIKICHECK_INDEX": idx}).exit_code == 0


def test_missing_index_exits_3(cli, tmp_path):
    r = cli("check", "--index", tmp_path / "nowhere")
    assert r.exit_code == 3 and r.stdout == ""
    assert "no wikicheck store at" in one_error_line(r)


@pytest.mark.parametrize("toml,message", [
    ("[rules.nope]\n", 'unknown rule "nope"'),
    ("[rules.stale]\nmax-age-days = \"x\"\n", 'option "max-age-days" of WC101 should be int'),
    ("[[retired]]\npattern = \"(\"\n", "invalid regex"),
    ("[exempt]\nkinds = [\"runbook\"]\n", 'unknown page kind "runbook"'),
])
def test_bad_config_exits_3(cli, index, tmp_path, toml, message):
    (tmp_path / "bad.toml").write_text(toml)
    r = cli("check", "--index", index(CLEAN), "--config", tmp_path / "bad.toml")
    assert r.exit_code == 3 and r.stdout == ""
    line = one_error_line(r)
    assert message in line and "bad.toml" in line


def test_missing_config_file_exits_3(cli, index, tmp_path):
    r = cli("check", "--index", index(CLEAN), "--config", tmp_path / "nope.toml")
    assert r.exit_code == 3 and "config file not found" in one_error_line(r)


@pytest.mark.parametrize("args,option", [(("--format", "xml"), "--format"), (("--fail-on", "fatal"), "--fail-on")])
def test_usage_errors_exit_2(cli, index, args, option):
    r = cli("check", "--index", index(CLEAN), *args)
    assert r.exit_code == 2 and r.stdout == "" and option in r.stderr


def test_rules_command(cli):
    r = cli("rules")
    assert r.exit_code == 0
    for code, rule in RULES.items():
        assert f"{code}  {rule.NAME}" in r.stdout
    doc = json.loads(cli("rules", "--json").stdout)
    assert doc["version"] == 1 and [row["code"] for row in doc["rules"]] == sorted(RULES)
    stale = next(row for row in doc["rules"] if row["code"] == "WC101")
    assert stale["options"] == {"max-age-days": "int"} and stale["defaults"] == {"max-age-days": 365}


def test_terminal_escapes_in_headings_are_not_printed(cli, index, tmp_path):
    """Issue 11 item 17: a heading carrying ESC sequences (set the window title, clear the screen)
    reached the reader's terminal through `check`'s text output; they are printed escaped."""
    files = {**INFO_ONLY, "evil.md": md(f"updated: {ago(2000)}", "# Evil\x1b]0;pwned\x07\x1b[2J title\n\nText.\n")}
    r = cli("check", "--index", index(files), "--config", tmp_path / "levels.toml")
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J title" in r.stdout


def test_terminal_escapes_in_search_results_are_not_printed(cli, index):
    """Same for `search`: what the wiki says is printed with its control characters escaped."""
    files = {**CLEAN, "evil.md": md("", "# Evil\x1b]0;pwned\x07\x1b[2J title\n\nRestart the evil service.\n")}
    r = cli("search", "restart the evil service", "--index", index(files), "--no-events", "-k", "10")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J title" in r.stdout


@pytest.mark.parametrize("k", ["0", "-1", "101"])
def test_search_k_out_of_range_is_a_usage_error(cli, index, k):
    r = cli("search", "restart", "-k", k, "--index", index(CLEAN), "--no-events")
    assert r.exit_code == 2, r.output


def test_open_findings_view_is_what_the_guard_serves(cli, index, tmp_path):
    """Issue 12: the store browsed as it is (Datasette, sqlite3): `open_findings` lists the latest
    check's findings with the flagged section's text and the newer section it points to."""
    import sqlite3

    idx = index(WARNING)
    assert cli("check", "--index", idx, "--config", tmp_path / "levels.toml", "--record").exit_code == 1
    assert cli("check", "--index", idx, "--config", tmp_path / "levels.toml").exit_code == 1
    con = sqlite3.connect(f"{idx}/wikicheck.db")
    rows = con.execute("select rule, path, section_text, run_id from open_findings order by path").fetchall()
    latest = con.execute("select max(id) from check_runs where status = 'ok'").fetchone()[0]
    assert {(r[0], r[1]) for r in rows} == {("WC101", "old.md"), ("WC102", "due.md")}
    assert all(r[3] == latest for r in rows) and all(r[2] for r in rows)
    assert con.execute("select count(*) from findings").fetchone()[0] > len(rows)  # older runs stay in `findings`


def test_search_query_that_is_not_utf8_is_a_usage_error(cli, index):
    """Bytes that are not UTF-8 in argv reach Python as lone surrogates; the tokenizer crashed on them
    (exit 4). A usage error that names the byte and the fix."""
    r = cli("search", "restart \udcff here", "--index", index(CLEAN), "--no-events")
    assert r.exit_code == 2, r.output
    assert "not valid UTF-8 (byte ff at character 8)" in r.output


def test_search_queries_file_that_is_not_utf8_is_a_usage_error(cli, index, tmp_path):
    (tmp_path / "q.txt").write_bytes(b"restart pgbouncer\ncaf\xe9 outage\n")
    r = cli("search", "--queries-file", tmp_path / "q.txt", "--index", index(CLEAN), "--no-events")
    assert r.exit_code == 2, r.output
    assert "q.txt: not UTF-8 text (byte 0xe9 at offset 21)" in r.output
