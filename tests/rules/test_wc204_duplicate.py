"""WC204 duplicate: a section that is a copy of another section that is still current (informational)."""

from __future__ import annotations

import pytest

from rules.helpers import NO_AGE_RULES, crawl_check, make_wiki, md, of, show

DNS = """# Internal DNS

## Overview

Internal names resolve through CoreDNS in every cluster and through the two resolver VMs for the
office network. Records for services live in the dns-records repository.

## Lookups

```sh
dig +short orders-db.db.svc.cluster.local
dig @10.0.0.2 +short vault.acme.internal
```

## Flush

Flush the resolver cache on the node after a record change, then repeat the lookup:

```sh
sudo resolvectl flush-caches
kubectl -n kube-system rollout restart deploy/coredns
```
"""

PLATFORM, CHEATSHEET = "platform/dns.md", "oncall/dns-cheatsheet.md"
CFG = NO_AGE_RULES


def dns_pair(tmp_path, cfg=CFG, copy_body=DNS):
    wiki = make_wiki(tmp_path / "wiki", {PLATFORM: md("updated: 2024-05-20", DNS),
                                        CHEATSHEET: md("updated: 2024-06-03", copy_body)})
    return crawl_check(wiki, tmp_path / "idx", cfg)


def test_identical_copy_is_an_info_duplicate(tmp_path):
    res = dns_pair(tmp_path)
    got = of(res, "WC204")
    # docstring "Fails": oncall/dns-cheatsheet.md §Flush identical to platform/dns.md §Flush
    assert {(f.path, f.heading, f.newer["path"], f.newer["heading"]) for f in got} == {
        (CHEATSHEET, h, PLATFORM, h) for h in ("Overview", "Lookups", "Flush")}, show(res.findings)
    assert {(f.level, f.kind) for f in got} == {("info", "duplicate")}
    assert of(res, path=PLATFORM) == [] and of(res, min_level="warning") == [], show(res.findings)
    flush = next(f for f in got if f.heading == "Flush")
    assert flush.message == f"identical to {PLATFORM} §Flush"


def test_same_claims_other_wording_is_not_flagged_above_info(tmp_path):
    reworded = DNS.replace("Flush the resolver cache on the node after a record change, then repeat the lookup:",
                           "After changing a record, clear the node's resolver cache and look the name up again:")
    res = dns_pair(tmp_path, copy_body=reworded)
    assert of(res, min_level="warning") == [], show(res.findings)
    assert [f for f in res.findings if f.heading == "Flush"] == [], show(res.findings)


def test_no_copy_no_finding(tmp_path):
    # docstring "Passes": a section with no copy elsewhere
    wiki = make_wiki(tmp_path / "wiki", {PLATFORM: md("updated: 2024-05-20", DNS),
                                        "platform/vault.md": md("updated: 2024-05-20", "# Vault\n\n## Unseal\n\nRun `vault operator unseal` three times.\n")})
    assert crawl_check(wiki, tmp_path / "idx", CFG).findings == []


LONG = ("Before any maintenance on a shared database, announce it in the db-oncall channel, create a "
        "change record with the expected impact, silence the replication lag alert for the window and make "
        "sure the on-call engineer of every consuming team acknowledged the announcement.\n")


@pytest.mark.parametrize("text,flagged", [(LONG, True), ("Announce maintenance in the db-oncall channel first.\n", False)],
                         ids=["long-shared-text", "short-boilerplate"])
def test_same_section_in_unrelated_pages(tmp_path, text, flagged):
    """Different runbooks: only a long, specific identical text is evidence of a copy."""
    wiki = make_wiki(tmp_path / "wiki", {
        "db/vacuum.md": md("updated: 2025-01-10", f"# Vacuum the orders database\n\n## Before you start\n\n{text}"),
        "db/reindex.md": md("updated: 2025-09-10", f"# Reindex the ledger tables\n\n## Before you start\n\n{text}"),
    })
    res = crawl_check(wiki, tmp_path / "idx", CFG)
    got = [(f.path, f.newer["path"]) for f in of(res, "WC204")]
    assert got == ([("db/reindex.md", "db/vacuum.md")] if flagged else []), show(res.findings)
    assert of(res, min_level="warning") == []


@pytest.mark.parametrize("cfg", [
    {"rules": {**CFG["rules"], "duplicate": False}},
    {"rules": {**CFG["rules"], "WC204": {"enabled": False}}},
    {**CFG, "policies": [{"paths": ["oncall/"], "disable": ["duplicate"]}]},  # per folder
], ids=["by-name", "by-code", "per-folder"])
def test_can_be_disabled(tmp_path, cfg):
    assert of(dns_pair(tmp_path, cfg), "WC204") == []


def test_configured_level_applies(tmp_path):
    res = dns_pair(tmp_path, {"rules": {**CFG["rules"], "duplicate": {"level": "warning"}}})
    assert {f.level for f in of(res, "WC204")} == {"warning"}, show(res.findings)
