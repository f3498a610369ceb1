"""Helpers for the rule and engine tests: small wikis, one crawl, one check, findings by rule.

Import as ``from rules.helpers import ...`` (tests/helpers.py is the crawl tests' ``helpers``).
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from helpers import write_files

from wikicheck.check import CheckResult, Finding, run_checks
from wikicheck.config import Config, load_config
from wikicheck.crawl import crawl
from wikicheck.embed import get_embedder
from wikicheck.store import Store, db_path_for, is_store_url

# "Today" for every rule test, as in tests/fixtures_planted.md.
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)

# Dates of the drift scenarios (git commits).
CANON_DATE = "2022-09-12T10:00:00+00:00"
COPY_DATE = "2022-10-01T10:00:00+00:00"
CHANGE_DATE = "2024-03-02T16:45:00+00:00"
NOTE_DATE = "2025-05-06T09:00:00+00:00"

# Drift tests look at drift rules only: the pages are years old on purpose.
NO_AGE_RULES = {"rules": {"stale": False, "review-expired": False}}


def md(front: str, body: str = "# Page\n\nSome text.\n") -> str:
    """A markdown page; `front` is YAML front matter, items separated by newlines or "; "."""
    if not front:
        return body
    return "---\n" + front.replace("; ", "\n") + "\n---\n\n" + body


def make_wiki(root: Path, files: dict[str, str | bytes | None]) -> Path:
    write_files(root, files)
    return root


def config(data: dict[str, Any] | None = None) -> Config:
    """A Config from a dict, validated like a wikicheck.toml would be."""
    from wikicheck.config import validate_config

    data = data or {}
    validate_config(data, "test config")
    return Config(data)


def load_toml(tmp_path: Path, text: str) -> Config:
    p = tmp_path / "wikicheck.toml"
    p.write_text(text, encoding="utf-8")
    return load_config(p)


_EMPTY_STORE: list[Path] = []


def _migrated_store(index_dir: Path | str) -> None:
    """Put an empty store with every migration applied where a new index's store goes.

    A crawl into a new index spends most of its time on a small wiki (~40 of ~50 ms) creating the store and
    running the migrations; the rule tests crawl hundreds of small wikis, each into a new index. They start
    from a copy of one migrated empty store instead (made once per process with Store.open), which the crawl
    opens as it would its own (the migrations find nothing to do). Crawling into a new directory is what the
    crawl tests test."""
    if is_store_url(index_dir) or Path(index_dir).exists():
        return  # a PostgreSQL store (a URL) is migrated by the crawl itself
    if not _EMPTY_STORE:
        tmp = tempfile.mkdtemp(prefix="wikicheck-empty-store-")
        atexit.register(shutil.rmtree, tmp, True)
        template = Path(tmp) / "index"
        Store.open(template, create=True).close()
        _EMPTY_STORE.append(db_path_for(template))
    dest = db_path_for(index_dir)
    dest.parent.mkdir(parents=True)
    shutil.copyfile(_EMPTY_STORE[0], dest)


def crawl_check(sources: Path | Iterable[Path], index_dir: Path, cfg: Config | dict[str, Any] | None = None, *,
                embedder: Any = None, now: dt.datetime = NOW, record: bool = False) -> CheckResult:
    """Crawl the sources (fake embedder unless given) and run every enabled rule."""
    srcs = [sources] if isinstance(sources, Path) else list(sources)
    _migrated_store(index_dir)
    crawl([str(s) for s in srcs], index_dir, embedder=embedder or get_embedder("test-hash-64"))
    return check(index_dir, cfg, now=now, record=record)


def check(index_dir: Path, cfg: Config | dict[str, Any] | None = None, *, now: dt.datetime = NOW,
          record: bool = False) -> CheckResult:
    cfg = cfg if isinstance(cfg, Config) else config(cfg)
    with Store.open(index_dir) as st:
        return run_checks(st, cfg, now=now, record=record)


def of(result: CheckResult | list[Finding], rule: str | None = None, path: str | None = None,
       min_level: str = "info") -> list[Finding]:
    from wikicheck.check import level_at_least

    fs = result.findings if isinstance(result, CheckResult) else result
    return [f for f in fs if (rule is None or f.rule == rule) and (path is None or f.path == path)
            and level_at_least(f.level, min_level)]


def where(findings: Iterable[Finding]) -> set[tuple[str, str, str]]:
    """(rule, path, heading) of each finding: what a test usually compares."""
    return {(f.rule, f.path, f.heading) for f in findings}


def show(findings: Iterable[Finding]) -> str:
    """For assertion messages."""
    return "\n".join(f"{f.rule} {f.level} {f.path}:{f.line} §{f.heading}: {f.message}" for f in findings) or "(none)"


# ----------------------------------------------------------------------------- drift scenarios
# A platform runbook and its team copy (tests/fixtures_planted.md case 1, in small).

OVERVIEW = """## Overview

PgBouncer pools connections in front of the orders database for the checkout and payments services.
Restart it when clients queue up behind the pooler or after a configuration change.
"""

RESTART_OLD = """## Restart

Log in to the database host and restart the service:

```sh
ssh db-01.acme.internal
sudo systemctl restart pgbouncer
psql -h db-01.acme.internal -p 6543 -U pgbouncer pgbouncer -c 'SHOW POOLS;'
```
"""

RESTART_NEW = """## Restart

Restart the deployment, then check the pools:

```sh
kubectl -n db rollout restart deploy/pgbouncer
kubectl -n db rollout status deploy/pgbouncer --timeout=120s
psql -h pgbouncer.db.svc.cluster.local -p 6432 -U pgbouncer pgbouncer -c 'SHOW POOLS;'
```
"""

LEGACY = """## Legacy failover

Promote the standby with repmgr on the second database host, then repoint the pooler at it by
editing the ini file by hand and reloading the service.

```sh
sudo -u postgres repmgr standby promote -f /etc/repmgr.conf
```
"""

ESCALATION = """## Escalation

Page the platform on-call through the PagerDuty service platform-db and post in the db-oncall channel
with the output of the pool check.
"""

NOTE = "Note: the checkout on-call keeps this copy next to the checkout runbooks.\n\n"


def runbook(title: str = "Restart PgBouncer", *sections: str) -> str:
    return f"# {title}\n\n" + "\n".join(sections)


CANON_2022 = runbook("Restart PgBouncer", OVERVIEW, RESTART_OLD, LEGACY, ESCALATION)
CANON_2024 = runbook("Restart PgBouncer", OVERVIEW, RESTART_NEW, ESCALATION)  # Restart changed, Legacy removed
COPY_2022 = runbook("Checkout: Restart PgBouncer", OVERVIEW, RESTART_OLD, LEGACY, ESCALATION)

CANON = "platform/pgbouncer.md"
COPY = "teams/checkout/pgbouncer-restart.md"


def copy_repo(git_repo: Any, *, canon_change: str | None = CANON_2024,
              copy_edit: str | None = None) -> tuple[Path, list[str]]:
    """The canonical committed 2022-09-12, the team copy 2022-10-01, the canonical changed 2024-03-02,
    optionally the copy edited 2025-05-06. Returns (repo, [commit ids])."""
    from helpers import git

    commits = [(CANON_DATE, {CANON: CANON_2022}), (COPY_DATE, {COPY: COPY_2022})]
    commits.append((CHANGE_DATE, {CANON: canon_change}))  # None: the canonical page is deleted
    if copy_edit is not None:
        commits.append((NOTE_DATE, {COPY: copy_edit}))
    repo = git_repo(*commits)
    ids = git(repo, "rev-list", "--reverse", "HEAD").split()
    return repo, ids
