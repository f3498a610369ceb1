"""wikicheck crawl / status."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import app, default_index
from ..config import load_config

err = Console(stderr=True)


@app.command()
def crawl(
    sources: list[str] = typer.Argument(..., help="Folders of markdown/HTML pages, git repositories, or http(s) URLs of wiki sites (detected)."),
    index: str = typer.Option(None, "--index", "-i", help="Index directory [default: $WIKICHECK_INDEX or indexes/default]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="wikicheck.toml to use instead of discovery."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="sentence-transformers model name or path."),
    name: Optional[list[str]] = typer.Option(None, "--name", help="Source name, once per SOURCE (default: folder name)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Force the source kind: folder, git or http."),
    reembed: bool = typer.Option(False, "--reembed", help="Switch the index to --model and embed everything again."),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="http: also crawl this HOST[:PORT][/PATH/] (repeatable); the start URL's host and folder always are."),
    max_pages: Optional[int] = typer.Option(None, "--max-pages", help="http: stop after this many pages [default: 10000]."),
    max_bytes_per_page: Optional[int] = typer.Option(None, "--max-bytes-per-page", help="http: skip larger pages [default: crawl.max-file-bytes]."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="http: requests in flight at once [default: 4]."),
    rate: Optional[float] = typer.Option(None, "--rate", help="http: requests per second per host, 0 for no limit [default: 5]."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="http: seconds for one request [default: 20]."),
) -> None:
    """Crawl sources into an index: sections, provenance, history, embeddings, faiss index."""
    from ..crawl import crawl as run_crawl
    from ..embed import get_embedder

    cfg = load_config(config)
    if model:
        cfg.data.setdefault("embedding", {})["model"] = model
    # --model beats $WIKICHECK_MODEL, which Config.model prefers to the config file
    embedder = get_embedder(model, batch_size=cfg.get("embedding", "batch-size")) if model else None
    index = index or default_index()
    show = not quiet and not json_ and sys.stderr.isatty()
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=not show, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        # credentials never come from the command line: WIKICHECK_HTTP_TOKEN, WIKICHECK_HTTP_USER/PASSWORD, ~/.netrc
        http = {k: v for k, v in {"allow_hosts": allow_host, "max_pages": max_pages, "max_bytes": max_bytes_per_page,
                                  "concurrency": concurrency, "rate": rate, "timeout": timeout}.items() if v is not None}
        summary = run_crawl(sources, index, cfg, embedder=embedder, reembed=reembed, names=name, kind=kind,
                            progress=progress, source_options={"http": http})
    if json_:
        typer.echo(json.dumps(summary.to_json(), indent=2, sort_keys=True))
        return
    for w in summary.warnings:
        err.print(f"[yellow]warning:[/] {escape(w['message'])}", highlight=False, markup=True, soft_wrap=True)
    s = summary
    typer.echo(
        f"crawled {len(s.sources)} source(s) into {s.index}: {s.documents} documents; sections "
        f"{s.sections_new} new, {s.sections_changed} changed, {s.sections_unchanged} unchanged, "
        f"{s.sections_removed} removed; {s.sections_embedded} embedded; {s.versions_added} versions recorded; "
        f"{len(s.warnings)} warnings; "
        + (f"{s.pages_failed} pages failed; " if s.pages_failed else "")
        + f"{s.seconds:.1f}s"
    )


@app.command()
def status(
    index: str = typer.Option(None, "--index", "-i", help="Index directory."),
    json_: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Describe an index: sources, counts, model, last crawl, index manifest."""
    from ..status import index_status

    info = index_status(index or default_index())
    if json_:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    c = info["counts"]
    typer.echo(f"index      {info['index']}")
    typer.echo(f"model      {info['model'] or '(none yet)'} ({info['dim'] or '?'} dims)")
    for s in info["sources"]:
        commit = f" @ {s['last_commit'][:10]}" if s.get("last_commit") else ""
        typer.echo(f"source     {s['name']}: {s['kind']} {s['root']}{commit}")
    typer.echo(f"documents  {c['documents']} live, {c['documents_removed']} removed")
    typer.echo(f"sections   {c['sections']} live, {c['sections_removed']} removed, {c['section_versions']} versions")
    typer.echo(f"embeddings {c['embeddings']}")
    ts = info["timestamp_sources"]
    typer.echo("dates from " + ", ".join(f"{k} {v}" for k, v in sorted(ts.items())) if ts else "dates from (none)")
    m = info["manifest"]
    if m:
        fresh = "up to date" if info["index_up_to_date"] else "OUT OF DATE (rebuilt on next crawl or search)"
        typer.echo(f"faiss      {m['count']} vectors, {m['dim']} dims, built {m['built_at']}, {fresh}")
    else:
        typer.echo("faiss      (not built)")
    lc = info["last_crawl"]
    if lc:
        typer.echo(f"last crawl #{lc['id']} {lc['status']} at {lc['started_at']}, {lc['seconds'] or 0:.1f}s, "
                   f"{lc['warnings'] or 0} warnings")
