"""One nightly run: crawl, check, then write the owner reports, under one lock on the index (issue 5).

The whole run holds ``store_lock(index, "nightly")`` (the index directory's lock file, or a
PostgreSQL store's advisory lock), so no other crawl or nightly can write the
index in between; crawl() is handed that lock instead of taking its own (flock is not re-entrant).

Exit codes of ``wikicheck nightly`` (for a scheduler to alert on): 0 nothing new at or above
``--fail-on`` (default warning) · 1 new findings at or above it · 3 wikicheck error (missing
source, index locked by another run, bad config) · 4 unexpected crash · 130 interrupted · 143 SIGTERM
(the CLI stops after the page being written; the crawl is recorded as "terminated").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .check import level_at_least, record_run, run_checks
from .config import Config, load_config
from .crawl import CrawlSummary, Progress, crawl
from .embed import Embedder
from .lock import store_lock
from .report.owners.build import build_reports
from .report.owners.files import write_reports
from .report.owners.pages import FORMATS
from .store import Store


@dataclass
class NightlyResult:
    crawl: CrawlSummary
    run_id: int
    findings: int
    new: int
    resolved: int
    still_open: int
    new_alerting: int  # new findings at or above fail_on
    fail_on: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.new_alerting else 0

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "crawl": self.crawl.to_json(), "check": {
                    "run_id": self.run_id, "findings": self.findings, "new": self.new, "resolved": self.resolved,
                    "still_open": self.still_open, "new_at_or_above_fail_on": self.new_alerting,
                    "fail_on": self.fail_on},
                "reports": {"dir": str(self.out_dir), "files": [str(p) for p in self.files]},
                "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "timings": {k: round(v, 3) for k, v in self.timings.items()}}


def run_nightly(sources: list[str], index_dir: str | Path, out_dir: str | Path, *,
                config_path: str | Path | None = None, crawl_config: Config | None = None,
                check_config: Config | None = None, embedder: Embedder | None = None,
                now: dt.datetime | None = None, fail_on: str = "warning", formats: Iterable[str] = FORMATS,
                progress: Progress | None = None, source_options: dict[str, Any] | None = None,
                ray: str | None = None) -> NightlyResult:
    """Crawl `sources` into `index_dir` (or a PostgreSQL store's URL), run the checks, write every owner
    report to `out_dir`.

    The check is recorded as a run (``record_run``): the next night's "new" is counted from it.
    Configs: `crawl_config` (default: the given or discovered wikicheck.toml, as ``wikicheck crawl``)
    and `check_config` (default: the same discovery, plus a wikicheck.toml at a crawled source's root,
    as ``wikicheck check``). `ray`: the crawl embeds, and the check searches neighbours
    and extracts claims, on that Ray cluster (crawl.crawl, check.run_checks).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    crawl_cfg = crawl_config if crawl_config is not None else load_config(config_path)  # bad config: before any work
    with store_lock(index_dir, "nightly") as lock:
        t = time.perf_counter()
        summary = crawl(sources, index_dir, crawl_cfg, embedder=embedder, progress=progress,
                        source_options=source_options, lock=lock, ray=ray)
        timings["crawl"] = time.perf_counter() - t
        cfg = check_config if check_config is not None else load_config(config_path, sources_from=index_dir)
        with Store.open(index_dir) as store:
            t = time.perf_counter()
            result = run_checks(store, cfg, now=now, ray=ray)
            record_run(store, result)  # tonight's run is what tomorrow's "new" counts from (#12)
            timings["check"] = time.perf_counter() - t
            t = time.perf_counter()
            bundle = build_reports(store, cfg, now=now)
        files = write_reports(bundle, out_dir, formats)
        timings["report"] = time.perf_counter() - t
    new = [f for f in result.findings if f.new]
    return NightlyResult(
        crawl=summary, run_id=result.run_id, findings=len(result.findings), new=len(new),
        resolved=len(result.resolved), still_open=len(result.findings) - len(new),
        new_alerting=sum(level_at_least(f.level, fail_on) for f in new) if fail_on != "never" else 0,
        fail_on=fail_on, out_dir=Path(out_dir), files=files, seconds=time.perf_counter() - t0, timings=timings)


__all__ = ["NightlyResult", "run_nightly"]
