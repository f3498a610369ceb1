"""WC202 contradicted: another value for the same setting, or the opposite instruction, than a newer
section on the same topic. The older section is flagged, with the old and new values."""

from __future__ import annotations

import pytest

from rules.helpers import NO_AGE_RULES, crawl_check, of, show
from wikicheck.rules import RULES

OLD_DATE, NEW_DATE = "2023-03-14T10:00:00+00:00", "2026-08-21T10:00:00+00:00"
OLD, NEW = "payments/refunds.md", "payments/refund-processing.md"

REFUNDS = """# Refund batch runs

## Overview

Refunds approved in the admin tool land in the refunds-pending queue. The refund batch drains that
queue, calls the PSP refund API for each item and writes the matching entries to the ledger.

## Running the batch

Run the batch during business hours so finance can watch the refunds dashboard while it runs.

```bash
ssh payments-batch-01.acme.internal
./refund-batch run --queue refunds-pending --batch-size 500 --timeout 30s
```
"""

PROCESSING = """# Refund processing

## Overview

Refunds approved in the admin tool land in the refunds-pending queue. The refund-batch job drains
the queue, calls the PSP refund API and writes the matching rows to the ledger.

## Running a batch

Never run refunds during business hours: the batch holds row locks on the ledger while it runs.

```bash
kubectl -n payments exec -it deploy/payments-toolbox -- \\
  refund-batch run --queue refunds-pending --batch-size 50 --timeout 120s
```
"""

SAME_VALUES = PROCESSING.replace("--batch-size 50 --timeout 120s", "--batch-size 500 --timeout 30s")


def run(git_repo, tmp_path, old=REFUNDS, new=PROCESSING, old_date=OLD_DATE, new_date=NEW_DATE):
    repo = git_repo((old_date, {OLD: old}), (new_date, {NEW: new}))
    return crawl_check(repo, tmp_path / "idx", NO_AGE_RULES)


def test_older_page_contradicted_with_old_and_new_values(git_repo, tmp_path):
    res = run(git_repo, tmp_path)
    [f] = of(res, "WC202")
    assert of(res, path=NEW) == [], show(res.findings)  # the newer page is never flagged
    assert (f.path, f.heading, f.kind, f.level) == (OLD, "Running the batch", "contradicted", RULES["WC202"].DEFAULTS["level"])
    assert (f.newer["path"], f.newer["heading"]) == (NEW, "Running a batch")
    assert {(c["type"], c["key"], c["old"], c["new"]) for c in f.evidence["claims"]["conflicts"]} == {
        ("flag", "refund-batch --batch-size", "refund-batch --batch-size 500", "refund-batch --batch-size 50"),
        ("flag", "refund-batch --timeout", "refund-batch --timeout 30s", "refund-batch --timeout 120s"),
    }
    assert f.message.startswith(f"contradicted by {NEW} §Running a batch (changed 2026-08-21): ")
    assert "old `refund-batch --batch-size 500` → new `refund-batch --batch-size 50`" in f.message
    assert f.evidence["old"]["substantive_change"] == "2023-03-14T10:00:00Z"
    assert f.evidence["new"]["substantive_change"] == "2026-08-21T10:00:00Z"


def test_opposite_instructions(git_repo, tmp_path):
    old = REFUNDS.replace("Run the batch during", "Always run the batch during")
    [f] = of(run(git_repo, tmp_path, old=old, new=SAME_VALUES), "WC202")
    [c] = f.evidence["claims"]["conflicts"]
    assert (c["type"], f.path) == ("instruction", OLD)
    assert "business hours" in c["old"] and "business hours" in c["new"]


@pytest.mark.parametrize("case", ["same-values", "dates-close", "other-topic", "unrelated-numbers", "newer-is-flag-free"])
def test_not_contradicted(git_repo, tmp_path, case):
    kw = {
        "same-values": {"new": SAME_VALUES},  # docstring "Passes": both say the same
        "dates-close": {"old_date": "2026-08-01T10:00:00+00:00"},  # 20 days apart: not one newer than the other
        "other-topic": {"new": PROCESSING.replace("# Refund processing", "# Ledger locks")},
        "unrelated-numbers": {"new": SAME_VALUES.replace("while it runs.", "while it runs. The dashboard loads in 2s.")},
        "newer-is-flag-free": {"new": PROCESSING.replace("--batch-size 50 --timeout 120s", "")},
    }[case]
    res = run(git_repo, tmp_path, **kw)
    assert of(res, "WC202") == [], show(res.findings)


def test_reversed_dates_flag_the_other_page(git_repo, tmp_path):
    res = run(git_repo, tmp_path, old_date=NEW_DATE, new_date=OLD_DATE)  # refunds.md is now the newer page
    assert [(f.path, f.newer["path"]) for f in of(res, "WC202")] == [(NEW, OLD)], show(res.findings)
