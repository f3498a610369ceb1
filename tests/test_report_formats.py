"""Output formats: text, the versioned JSON contract, JSON lines, SARIF 2.1.0, GitHub annotations."""

from __future__ import annotations

import io
import json
import re

import pytest
from rules.helpers import crawl_check, make_wiki, md

from wikicheck.report import FORMATTERS
from wikicheck.rules import RULES

CONTRACT = {"rule", "kind", "level", "path", "heading", "heading_path", "section_id", "message", "evidence", "newer",
            "owner", "changed_at", "fingerprint"}


@pytest.fixture
def result(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {
        "search/es.md": md('updated: 2026-11-01; status: deprecated; superseded_by: search/os.md; owner: "@acme/search"',
                           "# ES reindex\n\n## Reindex\n\nSee [gone](gone.md).\n"),
        "search/os.md": md("updated: 2026-10-08", "# OS reindex\n\n## Run\n\nRun it.\n"),
        "data/backup.md": md("updated: 2026-07-22; review_by: 2026-01-31", "# Backup\n\nText.\n"),
        "data/old.md": md("updated: 2023-01-01", "# Old\n\nText.\n"),
    })
    return crawl_check(wiki, tmp_path / "idx", record=True)


def render(fmt: str, result) -> str:
    out = io.StringIO()
    FORMATTERS[fmt]([f.to_json() for f in result.findings], result.summary(), out)
    return out.getvalue()


def test_formats_registered():
    assert set(FORMATTERS) == {"text", "json", "jsonl", "sarif", "github"}


def test_text(result):
    text = render("text", result)
    lines = text.splitlines()
    # grouped by page, like a linter; the replacement on its own line
    assert lines[0] == "data/backup.md"
    assert re.fullmatch(r"  \d+:1  warning  §Backup: review was due 2026-01-31, 301 days ago  \(WC102 review-expired\) \(new\)",
                        lines[1]), lines[1]
    dep = next(i for i, ln in enumerate(lines) if "(WC205 deprecated)" in ln)
    assert "  error    §ES reindex: page is marked deprecated (" in lines[dep]
    assert lines[dep + 1] == "           → use search/os.md §OS reindex (changed 2026-10-08)"
    assert text.count("search/es.md\n") == 1
    s = result.summary()["by_level"]
    assert lines[-1] == (f"{len(result.findings)} findings: {s['error']} errors, {s['warning']} warnings, {s['info']} info; "
                         f"{len(result.findings)} new since the last run, 0 resolved")


def test_text_without_findings():
    out = io.StringIO()
    FORMATTERS["text"]([], {"findings": 0, "by_level": {}, "new": 0, "resolved": 2, "suppressed": 1}, out)
    assert out.getvalue() == "0 findings: 0 errors, 0 warnings, 0 info; 0 new since the last run, 2 resolved, 1 suppressed\n"


def test_json_envelope(result):
    text = render("json", result)
    doc = json.loads(text)
    assert set(doc) == {"version", "findings", "summary"} and doc["version"] == 1
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"  # sorted keys, stable diffs
    assert len(doc["findings"]) == len(result.findings) >= 4
    for f in doc["findings"]:
        assert CONTRACT <= set(f), CONTRACT - set(f)
        assert f["rule"] in RULES and f["level"] in ("info", "warning", "error")
        assert isinstance(f["heading_path"], list) and isinstance(f["evidence"], dict)
        assert re.fullmatch(r"[0-9a-f]{20}", f["fingerprint"])
    dep = next(f for f in doc["findings"] if f["rule"] == "WC205")
    assert (dep["owner"], dep["newer"]["path"], dep["newer"]["heading"]) == ("@acme/search", "search/os.md", "OS reindex")
    assert set(dep["newer"]) >= {"path", "heading", "heading_path", "section_id", "changed_at"}
    assert doc["summary"]["findings"] == len(doc["findings"])
    assert set(doc["summary"]["by_level"]) == {"info", "warning", "error"}


def test_jsonl(result):
    lines = render("jsonl", result).splitlines()
    assert [json.loads(ln)["fingerprint"] for ln in lines] == [f.fingerprint for f in result.findings]
    assert all(ln == json.dumps(json.loads(ln), sort_keys=True) for ln in lines)


def test_sarif(result):
    doc = json.loads(render("sarif", result))
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "wikicheck" and driver["version"]
    assert [r["id"] for r in driver["rules"]] == sorted(RULES)  # every rule of the registry
    for r in driver["rules"]:
        rule = RULES[r["id"]]
        assert r["name"] == rule.NAME and r["shortDescription"]["text"] and "Passes:" in r["fullDescription"]["text"]
        assert r["defaultConfiguration"]["level"] == {"info": "note"}.get(rule.DEFAULTS["level"], rule.DEFAULTS["level"])
    assert len(run["results"]) == len(result.findings)
    for res, f in zip(run["results"], result.findings):
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"] == f.rule
        assert res["level"] == {"info": "note"}.get(f.level, f.level)
        assert res["partialFingerprints"] == {"wikicheck/v1": f.fingerprint}
        [loc] = res["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == f.path
        assert loc["physicalLocation"]["region"]["startLine"] == f.line >= 1
        assert f.message in res["message"]["text"]
    dep = next(r for r in run["results"] if r["ruleId"] == "WC205")
    assert dep["message"]["text"].endswith("(newer: search/os.md §OS reindex)")


def test_github_annotations(result):
    lines = render("github", result).splitlines()
    assert len(lines) == len(result.findings)
    for ln, f in zip(lines, result.findings):
        kind = {"info": "notice"}.get(f.level, f.level)
        assert ln.startswith(f"::{kind} file={f.path},line={f.line},title={f.rule} {f.name}::"), ln
    dep = next(ln for ln in lines if "WC205" in ln)
    assert dep.endswith(" → use search/os.md §OS reindex")


def test_github_escaping():
    f = {"rule": "WC301", "name": "broken-link", "level": "warning", "path": "a,b:c%.md", "line": None,
         "message": "line one\nline two 100%\r", "newer": None}
    out = io.StringIO()
    FORMATTERS["github"]([f], {}, out)
    assert out.getvalue() == "::warning file=a%2Cb%3Ac%25.md,line=1,title=WC301 broken-link::line one%0Aline two 100%25%0D\n"
