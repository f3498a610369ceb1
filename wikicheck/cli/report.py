"""wikicheck report / nightly: owner reports ranked by risk, and the scheduled crawl-check-report run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ..config import load_config
from ..vocabulary import LEVELS
from .core import EXIT_FINDINGS, STORE_HELP, app, store_location


@app.command()
def report(
    index: str = typer.Option(None, "--index", "-i", help="Index directory [default: $WIKICHECK_INDEX or indexes/default]."),
    store_url: str | None = typer.Option(None, "--store", help=STORE_HELP),
    config: Path | None = typer.Option(None, "--config", "-c", help="wikicheck.toml to use ([owners] mapping)."),
    owner: str | None = typer.Option(None, "--owner", help='Only this owner\'s report (e.g. "@acme/platform-team"); "unowned" for the sections nobody owns.'),
    format_: str = typer.Option("md", "--format", "-f", help="md, html or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write index.FORMAT and one file per owner here, instead of printing everything to stdout."),
    since_last_run: bool = typer.Option(False, "--since-last-run", help="List only the findings that are new since the previous check run (counts and resolved stay complete)."),
    min_level: str = typer.Option("info", "--min-level", help="Leave out findings below this level: info, warning or error."),
) -> None:
    """Owner reports of the latest check run: what each owner should fix first, ranked by risk, with the trend."""
    from ..report.owners.build import build_reports
    from ..report.owners.files import write_reports
    from ..report.owners.pages import FORMATS, render
    from ..store import Store

    if format_ not in FORMATS:
        raise typer.BadParameter(f"should be one of {', '.join(FORMATS)}", param_hint="--format")
    if min_level not in LEVELS:
        raise typer.BadParameter(f"should be one of {', '.join(LEVELS)}", param_hint="--min-level")
    idx = store_location(index, store_url, config)
    cfg = load_config(config, sources_from=idx)
    with Store.open(idx) as store:
        bundle = build_reports(store, cfg, owner=owner, since_last_run=since_last_run, min_level=min_level)
    if output is not None:
        files = write_reports(bundle, output, [format_])
        typer.echo(f"wrote {len(files)} file(s) to {output}" + ("" if owner else f" (start at {output / ('index.' + format_)})"),
                   err=True)
        return
    if owner is not None:
        sys.stdout.write(render(bundle, format_, bundle["reports"][0]))
    else:
        sys.stdout.write(render(bundle, format_, page="bundle", links="anchors"))


@app.command()
def nightly(
    sources: list[str] = typer.Argument(..., help="Folders, git repositories or http(s) URLs to crawl, as for crawl."),
    index: str = typer.Option(None, "--index", "-i", help="Index directory [default: $WIKICHECK_INDEX or indexes/default]."),
    store_url: str | None = typer.Option(None, "--store", help=STORE_HELP),
    config: Path | None = typer.Option(None, "--config", "-c", help="wikicheck.toml to use instead of discovery."),
    output: Path = typer.Option(Path("reports"), "--output", "-o", help="Where the reports go (index.html, .md, .json and one file per owner)."),
    fail_on: str = typer.Option("warning", "--fail-on", help="Exit 1 when a NEW finding is at or above: info, warning, error, never."),
    json_: bool = typer.Option(False, "--json", help="Print the run's summary as JSON."),
    ray: str | None = typer.Option(None, "--ray", help="Embed on a Ray cluster, as for crawl: auto, local or the head's HOST:PORT."),
) -> None:
    """Crawl, check and write the owner reports in one locked run. Exit 0: nothing new; 1: new findings; 3: error; 143: SIGTERM."""
    from ..crawl import stop_signals
    from ..nightly import run_nightly

    if fail_on not in (*LEVELS, "never"):
        raise typer.BadParameter(f"should be one of {', '.join(LEVELS)}, never", param_hint="--fail-on")
    with stop_signals():  # SIGTERM: stop after the current page, record "terminated", exit 143
        res = run_nightly(sources, store_location(index, store_url, config), output, config_path=config, fail_on=fail_on, ray=ray)
    if json_:
        typer.echo(json.dumps(res.to_json(), indent=2, sort_keys=True))
    else:
        c = res.crawl
        for w in c.warnings:
            typer.echo(f"warning: {w['message']}", err=True)
        typer.echo(
            f"nightly: crawled {c.documents} documents ({c.sections_new} new, {c.sections_changed} changed, "
            f"{c.sections_removed} removed sections); check run #{res.run_id}: {res.findings} findings, {res.new} new, "
            f"{res.resolved} resolved, {res.still_open} still open; reports in {res.out_dir}/index.html; "
            f"{res.seconds:.1f}s")
    if res.exit_code:
        raise typer.Exit(EXIT_FINDINGS)
