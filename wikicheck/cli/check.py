"""wikicheck check / rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from . import EXIT_FINDINGS, app, default_index
from ..config import load_config


@app.command()
def check(
    index: str = typer.Option(None, "--index", "-i", help="Index directory."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="wikicheck.toml to use."),
    format_: str = typer.Option("text", "--format", "-f", help="text, json, jsonl, sarif or github."),
    fail_on: str = typer.Option("warning", "--fail-on", help="Exit 1 when a finding is at or above: info, warning, error, never."),
    new_only: bool = typer.Option(False, "--new-only", help="Only findings that are new since the previous check."),
    json_: bool = typer.Option(False, "--json", help="Same as --format json."),
    wait: float = typer.Option(0, "--wait", min=0, help="Seconds to wait for a running crawl to finish (default: refuse at once, exit 3)."),
) -> None:
    """Flag outdated, superseded and contradicted sections, with evidence. Exit 1 on findings."""
    from ..check import LEVELS, level_at_least, run_checks
    from ..lock import IndexLock
    from ..readers import require_complete
    from ..report import FORMATTERS
    from ..store import Store

    fmt = "json" if json_ else format_
    if fmt not in FORMATTERS:
        raise typer.BadParameter(f"unknown format {fmt!r} (known: {', '.join(FORMATTERS)})", param_hint="--format")
    if fail_on not in (*LEVELS, "never"):
        raise typer.BadParameter(f"should be one of {', '.join(LEVELS)}, never", param_hint="--fail-on")
    cfg = load_config(config, sources_from=index or default_index())
    with Store.open(index or default_index()) as store:
        # never a half-crawled wiki (wikicheck.readers); the lock keeps a crawl from starting under us
        require_complete(store, wait=wait, what="check")
        store.require_crawled()  # 0 findings on an empty store would read as a clean wiki (#11 point 12)
        with IndexLock(store.path.parent if store.path else index or default_index(), "check"):
            result = run_checks(store, cfg)
        summary = result.summary()
        summary["sections"], summary["documents"] = store.counts()["sections"], store.counts()["documents"]
    findings = [f for f in result.findings if f.new or not new_only]
    FORMATTERS[fmt]([f.to_json() for f in findings], summary, sys.stdout)
    if fail_on != "never" and any(level_at_least(f.level, fail_on) for f in findings):
        raise typer.Exit(EXIT_FINDINGS)


@app.command("rules")
def rules_list(json_: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the rules with their codes, names, default levels and options."""
    import json

    from ..rules import RULES, summary_line

    rows = [{"code": c, "name": r.NAME, "level": r.DEFAULTS.get("level"), "scope": r.SCOPE,
             "options": {k: v.__name__ for k, v in r.OPTIONS.items()},
             "defaults": {k: v for k, v in r.DEFAULTS.items() if k != "level"}, "summary": summary_line(r)}
            for c, r in sorted(RULES.items())]
    if json_:
        typer.echo(json.dumps({"version": 1, "rules": rows}, indent=2, sort_keys=True))
        return
    for r in rows:
        opts = ", ".join(f"{k}={v}" for k, v in r["defaults"].items())
        typer.echo(f"{r['code']}  {r['name']:<15} {r['level']:<8} {r['summary']}" + (f"  [{opts}]" if opts else ""))
