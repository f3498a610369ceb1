"""wikicheck crawl / status."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..config import load_config
from ..store.pg import is_store_url
from .core import STORE_HELP, app, store_location

err = Console(stderr=True)


class _EtaColumn(TimeRemainingColumn):
    """The time left, labelled "eta" so that it is not read as a second elapsed time (#12)."""

    def render(self, task: Task) -> Text:
        return Text.assemble("eta ", super().render(task))


@app.command()
def crawl(
    sources: list[str] = typer.Argument(..., help="Folders of markdown/HTML pages, git repositories, or http(s) URLs of wiki sites (detected)."),
    index: str = typer.Option(None, "--index", "-i", help="Index directory [default: $WIKICHECK_INDEX or indexes/default]."),
    store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="wikicheck.toml to use instead of discovery."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="sentence-transformers model name or path."),
    name: Optional[list[str]] = typer.Option(None, "--name", help="Source name, once per SOURCE (default: folder name)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Force the source kind: folder, git or http [default: detected; a folder git tracks, a repository's sub-folder too, is git]."),
    reembed: bool = typer.Option(False, "--reembed", help="Switch the index to --model and embed everything again."),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="http: also crawl this HOST[:PORT][/PATH/] (repeatable); the start URL's host and folder always are."),
    max_pages: Optional[int] = typer.Option(None, "--max-pages", help="http: stop after this many pages [default: 10000]."),
    max_bytes_per_page: Optional[int] = typer.Option(None, "--max-bytes-per-page", help="http: skip larger pages [default: crawl.max-file-bytes]."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="http: requests in flight at once [default: 4]."),
    rate: Optional[float] = typer.Option(None, "--rate", help="http: requests per second per host, 0 for no limit [default: 5]."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="http: seconds for one request [default: 20]."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Embed on a Ray cluster: auto (the one this machine is in), local (one in this process), or the head's HOST:PORT. Needs the scale extra."),
) -> None:
    """Crawl sources into an index: sections, provenance, history, embeddings, faiss index."""
    from ..crawl import crawl as run_crawl
    from ..crawl import stop_signals
    from ..embed import get_embedder

    cfg = load_config(config)
    if model:
        cfg.data.setdefault("embedding", {})["model"] = model
    # --model beats $WIKICHECK_MODEL, which Config.model prefers to the config file
    embedder = get_embedder(model, batch_size=cfg.get("embedding", "batch-size")) if model else None
    index = store_location(index, store_url, config)
    show = not quiet and not json_ and sys.stderr.isatty()
    # elapsed, then the time left (#12: the embedding bar had no ETA)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  _EtaColumn(), console=err, disable=not show, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        # credentials never come from the command line: WIKICHECK_HTTP_TOKEN, WIKICHECK_HTTP_USER/PASSWORD, ~/.netrc
        http = {k: v for k, v in {"allow_hosts": allow_host, "max_pages": max_pages, "max_bytes": max_bytes_per_page,
                                  "concurrency": concurrency, "rate": rate, "timeout": timeout}.items() if v is not None}
        with stop_signals():  # SIGTERM: stop after the current page, record "terminated", exit 143
            summary = run_crawl(sources, index, cfg, embedder=embedder, reembed=reembed, names=name, kind=kind,
                                progress=progress, source_options={"http": http}, ray=ray)
    _warn_if_rebuilt_after_damage(index, summary.index_rebuilt)
    if json_:
        typer.echo(json.dumps(summary.to_json(), indent=2, sort_keys=True))
        return
    for w in summary.warnings:
        err.print(f"[yellow]warning:[/] {escape(w['message'])}", highlight=False, markup=True, soft_wrap=True)
    s = summary
    typer.echo(
        f"crawled {len(s.sources)} source(s) into {s.index}: {s.documents} documents; sections "
        f"{s.sections_new} new, {s.sections_changed} changed, {s.sections_unchanged} unchanged, "
        f"{s.sections_removed} removed; {s.sections_embedded} embedded{_sharing(index)}; {s.versions_added} versions recorded; "
        f"{len(s.warnings)} warnings; "
        + (f"{s.pages_failed} pages failed; " if s.pages_failed else "")
        + f"{s.seconds:.1f}s"
    )
    if s.engine and s.engine["export"]["status"] != "skipped":
        typer.echo(_engine_line(s.engine))


def _engine_line(engine: dict) -> str:
    """Which engine embedded this crawl's texts, which one answers queries, and why (onnx_engine/)."""
    ex = engine["export"]
    what = {"kept": "ONNX export kept", "exported": "ONNX export written", "refused": "no ONNX export",
            "failed": "ONNX export failed", "skipped": "no ONNX export"}.get(ex["status"], ex["status"])
    crawl = engine["crawl"]
    if "ray" in engine:
        r = engine["ray"]
        crawl += f" ({r['actors']} actor{'s' * (r['actors'] != 1)} on {r['nodes']} node{'s' * (r['nodes'] != 1)})"
    return (f"engines: crawl {crawl}, queries {engine['query']}; {what}"
            + (f": {ex['reason']}" if ex.get("reason") else ""))


def _sharing(index: str) -> str:
    """Why "N embedded" is not the section count that `status` shows faiss holding (#12); "" when it is."""
    from ..status import distinct_texts, sharing_note
    from ..store import Store

    with Store.open(index) as store:
        note = sharing_note(store.counts()["sections"], distinct_texts(store))
    return f" ({note})" if note else ""


# how a crawl that did not finish ended; each leaves part of the store tonight's (wikicheck.readers)
_UNFINISHED = {
    "killed": "killed (its process died without a word)",
    "interrupted": "interrupted (Ctrl-C, SIGINT)",
    "terminated": "terminated (SIGTERM)",
    "failed": "failed (an error ended it)",
}


def _settle_last_crawl(info: dict, index: str) -> None:
    """A crawl row that says "running" while nobody holds the index lock belongs to a crawl that
    died: report "killed", as readers (check, search) see it, not "running" (#12)."""
    from ..readers import crawl_state
    from ..store import Store

    lc = info.get("last_crawl")
    if not lc or lc["status"] != "running":
        return
    with Store.open(index) as store:
        state = crawl_state(store)
    if state.crawl_id == lc["id"]:
        lc["status"] = state.status


def _last_crawl_line(lc: dict) -> str:
    what = f"last crawl #{lc['id']}"
    if lc["status"] == "running":
        return f"{what} running since {lc['started_at']} (pid {lc.get('pid') or '?'})"
    if lc["status"] in _UNFINISHED:
        return (f"{what} {_UNFINISHED[lc['status']]} at {lc.get('finished_at') or lc['started_at']}, did not finish: "
                f"run \"wikicheck crawl\" again to complete it")
    return f"{what} {lc['status']} at {lc['started_at']}, {lc['seconds'] or 0:.1f}s, {lc['warnings'] or 0} warnings"


def _describe_dates(sources: list[dict]) -> None:
    """Add where each source's dates come from, and a hint for a folder source git tracks (#12): new
    keys of `status --json`, the others unchanged."""
    from ..sources import dates_from, kind_hint

    for s in sources:
        s["dates"], s["hint"] = dates_from(s["kind"]), kind_hint(s["kind"], s["root"])


def _warn_if_rebuilt_after_damage(index: str, rebuilt: bool) -> None:
    """The crawl rebuilds a damaged faiss index like an outdated one; say so when it was damage."""
    from ..index import INDEX_NAME, Manifest

    manifest = Manifest.read(Path(index)) if rebuilt and not is_store_url(index) else None
    if manifest is not None and manifest.reason.startswith("damaged"):
        err.print(f"[yellow]warning:[/] {escape(str(Path(index) / INDEX_NAME))} was {escape(manifest.reason)}; "
                  "rebuilt from the store", highlight=False, markup=True, soft_wrap=True)


@app.command()
def status(
    index: str = typer.Option(None, "--index", "-i", help="Index directory."),
    store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    json_: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Describe an index: sources, counts, model, last crawl, index manifest."""
    from ..status import index_status, sharing_note

    idx = store_location(index, store_url)
    health = _index_health(idx)  # first: it may rebuild a damaged index, which the manifest shown then describes
    info = index_status(idx, verify_export=True)
    _settle_last_crawl(info, idx)
    info["index_health"] = health
    info["index_up_to_date"] = bool(info["index_up_to_date"] and health["status"] == "ok")
    _describe_dates(info["sources"])
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
    past = f", {c['sections_history_only']} in the history only" if c.get("sections_history_only") else ""
    typer.echo(f"sections   {c['sections']} live, {c['sections_removed']} removed{past}, {c['section_versions']} versions")
    note = sharing_note(c["sections"], info["manifest"]["distinct_texts"], c["embeddings"]) if info["manifest"] else ""
    typer.echo(f"embeddings {c['embeddings']}" + (f", {note}" if note else ""))
    ts = info["timestamp_sources"]
    typer.echo("dates from " + ", ".join(f"{k} {v}" for k, v in sorted(ts.items())) if ts else "dates from (none)")
    kind = str((info["manifest"] or {}).get("kind", ""))
    pgvector = kind.startswith("pgvector(")  # index_pg.KIND_EXACT / KIND_GRAPH: "pgvector(exact)"
    typer.echo(f"{'pgvector' if pgvector else 'faiss':<10} {_faiss_line(info['manifest'], health, info['index_up_to_date'])}"
               + (f" ({kind.removeprefix('pgvector(').removesuffix(')')} search in the database)" if pgvector else ""))
    qe = info["query_engine"]
    typer.echo(f"queries    embedded with {qe['engine']}" + (f" ({qe['reason']})" if qe["reason"] else ""))
    lc = info["last_crawl"]
    if lc:
        typer.echo(_last_crawl_line(lc))
    for s in info["sources"]:
        typer.echo(f"dates of   {s['name']}: {s['dates']}")
        if s["hint"]:
            typer.echo(f"hint       {s['name']}: {s['hint']}")


def _index_health(idx: str) -> dict[str, object]:
    """The faiss index verified against the store; a damaged one is rebuilt on disk when no other
    run holds the index lock (status serves nothing, so it never rebuilds into memory only)."""
    from ..index import inspect_index, rebuild_from_store
    from ..store import Store

    with Store.open(idx) as store:
        store.require_crawled()  # an empty store is exit 3, not a description of nothing (#11 point 12)
        model = store.model_id()
        if not model:
            return {"status": "missing", "reason": "no embeddings yet", "found": "missing", "rebuilt": False}
        if store.url:  # the database is the index: nothing on disk to verify or rebuild
            return {"status": "ok", "reason": "", "found": "ok", "rebuilt": False}
        found = inspect_index(store, idx, model).health
        out: dict[str, object] = {"status": found.status, "reason": found.reason, "found": str(found),
                                  "rebuilt": False}
        if found.status == "damaged":
            r = rebuild_from_store(store, idx, model, found, in_memory=False)
            out.update(status="ok" if r.on_disk else "damaged", rebuilt=r.on_disk, not_rebuilt=r.why_not_on_disk,
                       locked=r.locked)
        return out


def _faiss_line(m: dict[str, object] | None, health: dict[str, object], up_to_date: bool) -> str:
    if health["rebuilt"] and m:
        return (f"{m['count']} vectors, {m['dim']} dims, built {m['built_at']}: rebuilt from the store, "
                f"it was {health['found']}")
    if health["status"] == "damaged":
        later = "; the next crawl rebuilds it" if health["locked"] else ""
        return f"{health['found']}; not rebuilt: {health['not_rebuilt']}{later}"
    if not m:
        return "(not built)"
    fresh = "up to date" if up_to_date else "OUT OF DATE (rebuilt on next crawl or search)"
    return f"{m['count']} vectors, {m['dim']} dims, built {m['built_at']}, {fresh}"
