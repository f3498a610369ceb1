"""wikicheck check / rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from ..config import load_config
from ..report import FORMATTERS
from .core import EXIT_FINDINGS, STORE_HELP, app, store_location

if TYPE_CHECKING:
    from ..policy import Policies

# the formats as --format's help names them, from the registry: a new format is one module in
# wikicheck/report/ and one entry in FORMATTERS, nothing here
_FORMAT_NAMES = ", ".join(list(FORMATTERS)[:-1]) + f" or {list(FORMATTERS)[-1]}"


@app.command()
def check(
    index: str = typer.Option(None, "--index", "-i", help="Index directory."),
    store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="wikicheck.toml to use."),
    format_: str = typer.Option("text", "--format", "-f", help=f"{_FORMAT_NAMES}."),
    fail_on: str = typer.Option("warning", "--fail-on", help="Exit 1 when a finding is at or above: info, warning, error, never."),
    new_only: bool = typer.Option(False, "--new-only", help="Only findings that are new since the last recorded run (nightly or check --record)."),
    record: bool = typer.Option(False, "--record", help="Record this check as a run: later checks and reports count new findings from it (nightly does this)."),
    json_: bool = typer.Option(False, "--json", help="Same as --format json."),
    wait: float = typer.Option(0, "--wait", min=0, help="Seconds to wait for a running crawl to finish (default: refuse at once, exit 3)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run the neighbour search and claim extraction on a Ray cluster: auto, local or the head's HOST:PORT. Needs the scale extra."),
) -> None:
    """Flag outdated, superseded and contradicted sections, with evidence. Exit 1 on findings.

    Every check hands its verdicts to the retrieval guard; only a recorded run (--record, or
    `wikicheck nightly`) moves the mark that "new" is counted from, so checking twice says the same."""
    from ..check import run_checks
    from ..lock import store_lock
    from ..readers import require_complete
    from ..store import Store
    from ..vocabulary import LEVELS, level_at_least

    fmt = "json" if json_ else format_
    if fmt not in FORMATTERS:
        raise typer.BadParameter(f"unknown format {fmt!r} (known: {', '.join(FORMATTERS)})", param_hint="--format")
    if fail_on not in (*LEVELS, "never"):
        raise typer.BadParameter(f"should be one of {', '.join(LEVELS)}, never", param_hint="--fail-on")
    where = store_location(index, store_url, config)
    cfg = load_config(config, sources_from=where)
    with Store.open(where) as store:
        # never a half-crawled wiki (wikicheck.readers); the lock keeps a crawl from starting under us
        require_complete(store, wait=wait, what="check")
        store.require_crawled()  # 0 findings on an empty store would read as a clean wiki (#11 point 12)
        with store_lock(store.path.parent if store.path else where, "check"):
            result = run_checks(store, cfg, record="run" if record else "verdicts", ray=ray)
        summary = result.summary()
        summary["sections"], summary["documents"] = store.counts()["sections"], store.counts()["documents"]
    findings = [f for f in result.findings if f.new or not new_only]
    FORMATTERS[fmt]([f.to_json() for f in findings], summary, sys.stdout)
    if fail_on != "never" and any(level_at_least(f.level, fail_on) for f in findings):
        raise typer.Exit(EXIT_FINDINGS)


@app.command("rules")
def rules_list(
    index: str = typer.Option(None, "--index", "-i", help="Index directory: a wikicheck.toml at a crawled source's root applies, as for check."),
    store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="wikicheck.toml to use."),
    json_: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List the rules with their codes, names, and the levels and options in force (config found as check finds it)."""
    import json

    from ..policy import Policies

    # fixes #12: the levels `check` would use, not the defaults, so `rules` and `check` agree
    loc = store_location(index, store_url, config)
    if index is not None or store_url is not None:
        from ..store import Store

        Store.open(loc).close()  # a mistyped --index is an error (exit 3), not the defaults
    cfg = load_config(config, sources_from=loc)
    rows = _rule_rows(Policies.from_config(cfg))
    where = str(cfg.path) if cfg.path else None
    if json_:
        typer.echo(json.dumps({"version": 1, "config": where, "rules": rows}, indent=2, sort_keys=True))
        return
    typer.echo(f"levels and options in force with {where}" if where else "levels and options in force: the defaults (no wikicheck.toml found)")
    for r in rows:
        opts = ", ".join(f"{k}={v}" for k, v in r["in_force"].items())
        level = r["level"] if r["enabled"] else "off"
        typer.echo(f"{r['code']}  {r['name']:<15} {level:<8} {r['summary']}" + (f"  [{opts}]" if opts else "")
                   + _defaults_note(r))
        for f in r["folders"]:
            typer.echo(f"         under {', '.join(f['paths'])}: " + ", ".join(f"{k}={v}" for k, v in f["settings"].items()))


def _rule_rows(policies: Policies) -> list[dict[str, Any]]:
    """One row per rule: what is in force (level, on or off, options, per folder) next to the defaults."""
    from ..rules import RULES, summary_line

    rows = []
    for c, r in sorted(RULES.items()):
        now = policies.rules[c]
        rows.append({
            "code": c, "name": r.NAME, "level": now["level"], "enabled": bool(now["enabled"]), "scope": r.SCOPE,
            "default_level": r.DEFAULTS.get("level"), "options": {k: v.__name__ for k, v in r.OPTIONS.items()},
            "defaults": {k: v for k, v in r.DEFAULTS.items() if k != "level"},
            "in_force": {k: now[k] for k in r.OPTIONS}, "folders": _folder_settings(policies, c),
            "summary": summary_line(r)})
    return rows


def _folder_settings(policies: Policies, code: str) -> list[dict[str, Any]]:
    """What each [[policies]] entry changes for one rule: the entry alone, applied to any path."""
    from ..policy import Policies

    out = []
    for entry in policies.folders:
        alone = Policies(rules=policies.rules, folders=[{**entry, "paths": ["*"]}])
        merged = alone.rule_options(code, "page.md")
        changed = {k: v for k, v in merged.items() if policies.rules[code].get(k) != v}
        if changed:
            out.append({"paths": list(entry["paths"]), "settings": changed})
    return out


def _defaults_note(row: dict[str, Any]) -> str:
    """The defaults a config changed, so a reader sees what the config did."""
    diffs = [str(row["default_level"])] if row["level"] != row["default_level"] else []
    diffs += [f"{k}={v}" for k, v in row["defaults"].items() if row["in_force"].get(k) != v]
    if not row["enabled"]:
        diffs.append("on")
    return f"  (default {', '.join(diffs)})" if diffs else ""
