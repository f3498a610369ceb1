"""One ownership answer (#13): `check --format json`, the guard's provenance and the owner report name
the same owners (front matter, then CODEOWNERS, then [owners], then the last git author).

Before, check and the guard read the front matter only, so a page owned through CODEOWNERS, or only
by its last git author, had owner null there while the owner report named its owner.
"""

from __future__ import annotations

import json

from helpers import ANN

from wikicheck.guard import Guard, GuardConfig
from wikicheck.report.owners import build_reports
from wikicheck.store import Store

OLD = "2021-01-04T10:00:00+00:00"  # every page is stale: each gets a finding
PAGES = {
    "CODEOWNERS": "/payments/ @acme/payments-team\n",
    "payments/refund.md": "# Refunds\n\n## Steps\n\nRun the refund script against the ledger.\n",
    "team/oncall.md": "---\nowner: \"@acme/sre\"\n---\n# On call\n\n## Pager\n\nCarry the pager at all times.\n",
    "misc/notes.md": "# Notes\n\n## Misc\n\nAssorted notes about the old build farm.\n",
}
EXPECTED = {
    "payments/refund.md": ("@acme/payments-team", "codeowners"),
    "team/oncall.md": ("@acme/sre", "front_matter"),
    "misc/notes.md": (f"{ANN[0]} <{ANN[1]}>", "git_author"),
}


def test_check_json_guard_provenance_and_report_name_the_same_owner(git_repo, cli, tmp_path):
    repo = git_repo((OLD, PAGES))
    index = tmp_path / "index"
    r = cli("crawl", repo, "--index", index, "--model", "test-hash-64", "--quiet")
    assert r.exit_code == 0, r.stderr
    r = cli("check", "--index", index, "--format", "json", "--record", "--fail-on", "info")
    assert r.exit_code == 1, r.stderr  # stale pages (info): findings
    findings = json.loads(r.stdout)["findings"]
    assert {f["path"] for f in findings} == set(EXPECTED)

    # 1. check output: the resolver's answer, not only the front matter's
    by_path = {f["path"]: f["owner"] for f in findings}
    assert by_path == {path: owner for path, (owner, _) in EXPECTED.items()}

    # 2. the guard's provenance of every section with text on those pages
    g = Guard(index, config=GuardConfig(record_events=False))
    try:
        from wikicheck.embed import get_embedder

        assert g.embedder.model_id == get_embedder("test-hash-64").model_id
        served = g.check_chunks([{"section_id": s["id"]} for s in g.by_id.values() if s["text"].strip()])
    finally:
        g.close()
    assert served
    for res in served:
        assert res["provenance"]["owner"] == EXPECTED[res["path"]][0], res["path"]

    # 3. the owner report: the same owners, from the sources the report names
    with Store.open(index) as st:
        bundle = build_reports(st)
    items = [it for rep in bundle["reports"] for it in rep["items"]]
    assert items
    for it in items:
        owner, source = EXPECTED[it["section"]["path"]]
        assert it["ownership"]["owners"] == [owner] and it["ownership"]["source"] == source
    check_owner = {f["fingerprint"]: f["owner"] for f in findings}
    assert {it["fingerprint"]: ", ".join(it["ownership"]["owners"]) for it in items} == check_owner
