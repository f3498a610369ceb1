"""Check runs and their findings (tables `check_runs` and `findings`)."""

from __future__ import annotations

import json
from typing import Any

from ..dates import now_iso
from ._base import StorePart
from .records import CheckRun, FindingRow

KEEP_RUNS = 10  # findings are derived; the nightly trend needs two


class CheckRunsPart(StorePart):
    def latest_run_id(self) -> int | None:
        """The newest check run that finished: the verdicts the guard serves."""
        run: int | None = self.db.execute("select max(id) from check_runs where status = 'ok'").fetchone()[0]
        return run

    def baseline_run_id(self) -> int | None:
        """The last recorded run: runs that only hold verdicts are never one; runs from before the
        distinction (no "recorded" in their summary) all are."""
        runs = [rid for rid, summary in self.db.execute(
            "select id, summary from check_runs where status = 'ok' order by id desc") if _recorded(summary) == "run"]
        return runs[0] if runs else None

    def finished_runs(self) -> list[CheckRun]:
        """Every check run that finished, oldest first."""
        return [CheckRun(r["id"], r["started_at"], r["finished_at"], r["findings"]) for r in self.db.query(
            "select id, started_at, finished_at, findings from check_runs where status = 'ok' order by id")]

    def run_findings(self, run_id: int, *, by_location: bool = False) -> list[FindingRow]:
        """The findings of a run; ordered by path and line with `by_location`, else in the table's order."""
        order = " order by path, line" if by_location else ""
        return [_finding(r) for r in self.db.query(f"select * from findings where run_id = ?{order}", [run_id])]

    def latest_findings(self) -> list[FindingRow]:
        """The findings of the newest finished run, by path and line; [] before any check."""
        run = self.latest_run_id()
        return self.run_findings(run, by_location=True) if run else []

    def start_check_run(self, config: dict[str, Any]) -> int:
        """Open a check run ("running") with the effective rule configuration; its id."""
        pk = self.db.table("check_runs").insert({
            "started_at": now_iso(), "status": "running", "config": json.dumps(config, sort_keys=True),
        }).last_pk
        assert pk is not None
        return int(pk)

    def add_findings(self, rows: list[FindingRow]) -> None:
        if rows:
            self.db.table("findings").insert_all([_finding_row(f) for f in rows])

    def finish_check_run(self, run_id: int, *, findings: int, new: int, resolved: int, seconds: float,
                         summary: dict[str, Any]) -> None:
        self.db.table("check_runs").update(run_id, {
            "finished_at": now_iso(), "status": "ok", "findings": findings, "new": new, "resolved": resolved,
            "seconds": seconds, "summary": json.dumps(summary, sort_keys=True),
        })

    def set_run_summary(self, run_id: int, summary: dict[str, Any]) -> None:
        self.db.table("check_runs").update(run_id, {"summary": json.dumps(summary, sort_keys=True)})

    def prune_check_runs(self, run_id: int, keep: int | None) -> None:
        """Delete the runs run `run_id` makes obsolete, and their findings; never run `keep`."""
        # verdicts that a newer run replaces are gone: the guard reads the newest run, and the owner
        # reports compare a recorded run with the recorded run before it, not with a check in between
        # (deleted after the insert, so run ids only grow and a guard's refresh sees the change)
        # (the store keeps KEEP_RUNS runs or so: their summaries are read here, not queried as JSON, which
        # SQLite and PostgreSQL spell differently)
        runs = self.db.execute("select id, summary from check_runs order by id desc").fetchall()
        old = [rid for rid, summary in runs if rid < run_id and _recorded(summary, None) == "verdicts"]
        # keep the last runs only: findings are derived, the nightly trend needs two; never the baseline
        old += [rid for rid, _ in runs[KEEP_RUNS:]]
        for rid in sorted(set(old) - {keep}):
            self.db.execute("delete from findings where run_id = ?", [rid])
            self.db.execute("delete from check_runs where id = ?", [rid])


def _recorded(summary: str | None, default: str | None = "run") -> str | None:
    """What a run recorded ("run", or "verdicts" only), from its summary's JSON; `default` when it does not say."""
    try:
        value = json.loads(summary).get("recorded") if summary else None
    except (ValueError, AttributeError):
        value = None
    return default if value is None else str(value)


def _finding(r: dict[str, Any]) -> FindingRow:
    return FindingRow(**{
        **r,
        "heading_path": json.loads(r["heading_path"] or "[]"),
        "evidence": json.loads(r["evidence"] or "{}"),
        "newer": json.loads(r["newer"]) if r["newer"] else None,
    })


def _finding_row(f: FindingRow) -> dict[str, Any]:
    return {
        "run_id": f.run_id, "fingerprint": f.fingerprint, "rule": f.rule, "name": f.name, "kind": f.kind,
        "level": f.level, "scope": f.scope, "source": f.source, "document_id": f.document_id,
        "section_id": f.section_id, "path": f.path, "heading": f.heading,
        "heading_path": json.dumps(f.heading_path), "line": f.line, "message": f.message,
        "evidence": json.dumps(f.evidence, sort_keys=True, default=str),
        "newer_section_id": f.newer_section_id, "newer": json.dumps(f.newer) if f.newer else None,
        "owner": f.owner, "changed_at": f.changed_at, "first_seen_run": f.first_seen_run,
    }
