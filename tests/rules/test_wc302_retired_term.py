"""WC302 retired-term: mentions a retired host, service, command or flag from the [[retired]] lexicon."""

from __future__ import annotations

import pytest

from rules.helpers import crawl_check, make_wiki, md, of, show
from wikicheck.rules import RULES

RETIRED = {"retired": [
    {"term": "jenkins.acme.internal", "replacement": "ci.acme.internal", "reason": "Jenkins was shut down in 2025"},
    {"pattern": r"\bkubectl-legacy\b", "label": "kubectl-legacy", "replacement": "kubectl"},
    {"term": "--no-verify-ssl"},
]}

# section text, expected matched terms (in order of lexicon entries)
CASES = [
    ("ssh ci.acme.internal", []),  # docstring "Passes"
    ("ssh jenkins.acme.internal", ["jenkins.acme.internal"]),  # docstring "Fails"
    ("Open https://jenkins.acme.internal/job/hotfix/console for the log.", ["jenkins.acme.internal"]),
    ("Builds ran on JENKINS.ACME.INTERNAL until 2025.", ["JENKINS.ACME.INTERNAL"]),  # case-insensitive term
    ("Use jenkins.acme.internal.", ["jenkins.acme.internal"]),  # sentence punctuation
    ("ssh old-jenkins.acme.internal", []),  # whole word only
    ("ssh ci.jenkins.acme.internal.example", []),
    ("```sh\nkubectl-legacy --context prod get pods\n```", ["kubectl-legacy"]),  # commands in code blocks count
    ("`kubectl get pods` works", []),
    ("curl --no-verify-ssl https://ci.acme.internal", ["--no-verify-ssl"]),
    ("curl --no-verify-ssl-strict https://ci.acme.internal", []),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_retired_term(tmp_path, text, expected):
    wiki = make_wiki(tmp_path / "wiki", {"sre/hotfix.md": md("updated: 2026-04-09", f"# Hotfix\n\n## Build\n\n{text}\n")})
    got = of(crawl_check(wiki, tmp_path / "idx", RETIRED), "WC302")
    assert [f.evidence["term"] for f in got] == expected, show(got)


def test_message_names_the_replacement_and_the_line(tmp_path):
    body = ("# Hotfix\n\n## Build\n\nTrigger the job on Jenkins:\n\n```sh\ncurl -X POST \\\n"
            "  https://jenkins.acme.internal/job/hotfix/build\n```\n\nWatch jenkins.acme.internal again.\n\n"
            "## Deploy\n\n```sh\nkubectl-legacy rollout status deploy/web\n```\n")
    wiki = make_wiki(tmp_path / "wiki", {"sre/hotfix.md": md("updated: 2026-04-09", body)})
    got = of(crawl_check(wiki, tmp_path / "idx", RETIRED), "WC302")
    # one finding per entry and section, at the first mention
    assert [(f.heading, f.line, f.evidence["entry"]) for f in got] == [
        ("Build", 13, "jenkins.acme.internal"), ("Deploy", 21, "kubectl-legacy")], show(got)
    build, deploy = got
    # the term once (#12: "mentions retired jenkins.acme.internal `jenkins.acme.internal`")
    assert build.message == "mentions retired `jenkins.acme.internal` (Jenkins was shut down in 2025); use ci.acme.internal"
    assert deploy.message == "mentions retired `kubectl-legacy`; use kubectl"
    assert build.evidence == {"term": "jenkins.acme.internal", "entry": "jenkins.acme.internal",
                              "replacement": "ci.acme.internal", "reason": "Jenkins was shut down in 2025"}
    assert (build.kind, build.scope, build.level) == ("retired_term", "section", RULES["WC302"].DEFAULTS["level"])
    assert build.fingerprint != deploy.fingerprint


def test_no_lexicon_no_findings(tmp_path):
    wiki = make_wiki(tmp_path / "wiki", {"a.md": md("updated: 2026-04-09", "# A\n\nssh jenkins.acme.internal\n")})
    assert of(crawl_check(wiki, tmp_path / "idx"), "WC302") == []


# lexicon entry, page text, message: the term is named once; a label that differs comes first
MESSAGES = [
    ({"term": "jenkins.acme.internal"}, "ssh JENKINS.ACME.INTERNAL", "mentions retired `JENKINS.ACME.INTERNAL`"),
    ({"pattern": r"\bkubectl-legacy\b"}, "kubectl-legacy get pods", "mentions retired `kubectl-legacy`"),
    ({"pattern": r"\bjenkins(-\d+)?\.acme\.internal\b", "label": "Jenkins", "replacement": "ci.acme.internal"},
     "ssh jenkins-2.acme.internal", "mentions retired Jenkins (`jenkins-2.acme.internal`); use ci.acme.internal"),
]


@pytest.mark.parametrize("entry,text,message", MESSAGES)
def test_message_names_the_term_once(tmp_path, entry, text, message):
    wiki = make_wiki(tmp_path / "wiki", {"sre/hotfix.md": md("updated: 2026-04-09", f"# Hotfix\n\n## Build\n\n{text}\n")})
    assert [f.message for f in of(crawl_check(wiki, tmp_path / "idx", {"retired": [entry]}), "WC302")] == [message]
