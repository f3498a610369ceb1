"""What a check writes and reads back through the store: new and resolved findings against the
last recorded run, the run with its findings (the guard's verdicts), and the newest run's findings."""

from __future__ import annotations

from typing import Any

from .check_findings import CheckResult
from .policy import Policies
from .store import FindingRow, Store

# What a check writes (#12 point 2): "run" records a run, the guard's verdicts and the baseline that
# the next checks count "new" from (`wikicheck nightly`, `wikicheck check --record`); "verdicts" only
# replaces the guard's verdicts, so that a plain `wikicheck check` keeps the guard right without
# using up what is new; "no" writes nothing.
RECORD_MODES = ("run", "verdicts", "no")


def compare(store: Store, result: CheckResult) -> dict[str, int]:
    """Mark each finding new or not and list the resolved ones, against the last recorded run (read
    only). Returns {fingerprint: run it was first seen in} of that run's findings."""
    prev = store.baseline_run_id()
    result.baseline_run = prev
    prev_rows = store.run_findings(prev) if prev else []
    prev_fps: dict[str, int] = {r.fingerprint: r.first_seen_run or prev for r in prev_rows} if prev else {}
    for f in result.findings:
        f.new = f.fingerprint not in prev_fps
    current = {f.fingerprint for f in result.findings}
    result.resolved = [
        {"fingerprint": r.fingerprint, "rule": r.rule, "path": r.path, "heading": r.heading, "message": r.message}
        for r in prev_rows if r.fingerprint not in current
    ]
    return prev_fps


def record_findings(store: Store, result: CheckResult, policies: Policies, prev_fps: dict[str, int]) -> None:
    with store.transaction():
        run_id = store.start_check_run(policies.describe())
        store.add_findings([
            FindingRow(
                run_id=run_id, fingerprint=f.fingerprint, rule=f.rule, name=f.name, kind=f.kind, level=f.level,
                scope=f.scope, source=f.source, document_id=f.document_id, section_id=f.section_id, path=f.path,
                heading=f.heading, heading_path=f.heading_path, line=f.line, message=f.message,
                evidence=f.evidence, newer_section_id=(f.newer or {}).get("section_id"), newer=f.newer,
                owner=f.owner, changed_at=f.changed_at,
                first_seen_run=run_id if f.new else prev_fps[f.fingerprint],
            )
            for f in result.findings])
        result.run_id = run_id
        store.finish_check_run(
            run_id, findings=len(result.findings), new=sum(f.new for f in result.findings),
            resolved=len(result.resolved), seconds=round(result.seconds, 3), summary=result.summary())
        store.prune_check_runs(run_id, keep=run_id if result.recorded == "run" else result.baseline_run)


def record_run(store: Store, result: CheckResult) -> None:
    """Make a check whose verdicts were written a recorded run: the one that later checks count "new"
    from. The nightly job records its check this way; `run_checks(record="run")` does it at once."""
    if result.recorded == "no" or not result.run_id:
        raise ValueError('this check wrote nothing to record; run it with record="verdicts" or "run"')
    result.recorded = "run"
    with store.transaction():
        store.set_run_summary(result.run_id, result.summary())


def latest_findings(store: Store) -> list[dict[str, Any]]:
    """The newest run's findings as dicts (Store.latest_findings gives them typed)."""
    return [r.to_dict() for r in store.latest_findings()]


__all__ = ["RECORD_MODES", "compare", "latest_findings", "record_findings", "record_run"]
