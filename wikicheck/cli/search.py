"""wikicheck search / filter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import typer

from ..config import load_config, record_events_enabled
from .core import STORE_HELP, app, store_location

if TYPE_CHECKING:
    from ..guard import Result


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="What to look for."),
    index: str = typer.Option(None, "--index", "-i", help="Index directory."),
    store_url: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    k: int = typer.Option(5, "-k", min=1, max=100, help="Number of results (1-100)."),
    policy: str = typer.Option("block", "--policy", "-p", help="block (default), demote or annotate."),
    raw: bool = typer.Option(False, "--raw", help="Plain vector search with verdicts attached (same as --policy annotate)."),
    queries_file: Optional[Path] = typer.Option(None, "--queries-file", help="One query per line; one run per query."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
    no_events: bool = typer.Option(False, "--no-events", help="Do not record what was served (exposure)."),
    wait: float = typer.Option(0, "--wait", min=0, help="Seconds to wait for a running crawl to finish (default: refuse at once, exit 3)."),
) -> None:
    """Search the runbooks; stale results are blocked and replaced by the current section."""
    from ..guard import POLICIES, Guard, GuardConfig, guard_runs_json
    from ..report.text import safe

    if raw:
        policy = "annotate"
    if policy not in POLICIES:
        raise typer.BadParameter(f"should be one of {', '.join(POLICIES)}", param_hint="--policy")
    if query is None and queries_file is None:
        raise typer.BadParameter("no query given: give a QUERY or --queries-file FILE", param_hint="QUERY")
    if query is not None and queries_file is not None:
        raise typer.BadParameter("both a QUERY and --queries-file given: give one of them", param_hint="QUERY")
    queries = [query] if query is not None else [q.strip() for q in _read_queries(queries_file)]  # type: ignore[arg-type]
    for q in queries:
        _check_text(q)
    idx = store_location(index, store_url)
    # exposure for the owner reports; off with --no-events, WIKICHECK_NO_EVENTS=1 or [guard] record-events = false
    record = not no_events and record_events_enabled(load_config(None, sources_from=idx))
    guard = Guard(idx, config=GuardConfig(record_events=record), wait=wait)
    note = guard.index.damage_note(idx)  # a damaged faiss file was rebuilt from the store (#11 point 11)
    if note:
        typer.echo(f"warning: {note}", err=True)
    if guard.engine.warning:  # a damaged ONNX export: sentence-transformers answers (onnx_engine/choice.py)
        typer.echo(f"warning: {guard.engine.warning}", err=True)
    try:
        runs = guard.search_many(queries, k, policy)
    finally:
        guard.close()
    if json_:
        payloads = [guard_runs_json(q, policy, rs) for q, rs in zip(queries, runs)]
        out = payloads[0] if query is not None else {"version": 1, "runs": payloads}
        typer.echo(json.dumps(out, indent=2, sort_keys=True, default=str))
        return
    for q, rs in zip(queries, runs):
        if len(queries) > 1:
            typer.echo(f"# {safe(q)}")
        for i, r in enumerate(rs, 1):
            for line in _result_lines(i, r, guard.by_id):
                typer.echo(line)
        if len(queries) > 1:
            typer.echo("")


_TAGS = {"ok": "ok   ", "info": "info ", "warn": "WARN ", "block": "BLOCK"}


def _result_lines(i: int, r: Result, by_id: Mapping[str, dict[str, Any]]) -> list[str]:
    """One result as text (#12). Its tag follows the level of its findings (an info finding is not
    WARN). It shows one date of its own, in its first line: a page-level reason says "(page)", and a
    replacement does not repeat the replaced section's reasons, whose dates are that section's."""
    from ..report.text import safe

    s = r.section
    p = f"{(s.get('changed_at') or '?')[:10]} {s.get('timestamp_source') or '?'}"
    owner = f", owner {safe(r.owner)}" if r.owner else ""
    lines = [f"{i}. [{_TAGS[r.label]}] {safe(s['path'])} §{safe(s['heading'] or '(top)')}  score {r.score:.3f}  ({p}{owner})"]
    own = [x for x in r.reasons if x.get("kind") != "replacement"]
    if r.replaces:
        old = r.replaced or by_id.get(r.replaces) or {}
        was = f" (score {old['score']:.3f}, {old['verdict']})" if old.get("score") is not None else ""
        lines.append(f"   replaces {safe(old.get('path'))} §{safe(old.get('heading') or '(top)')}{was}")
        why = _why_replaced(r.reasons)
        if why:
            lines.append(f"   why: {safe(why)}")
    if r.out_of_order:
        lines.append(f"   out of score order: {safe(r.out_of_order)}")
    for reason in own[:3]:
        page = " (page)" if reason.get("scope") == "document" else ""
        lines.append(f"   {reason['level']}{page}: {safe(reason['message'])}")
    if r.newer and r.verdict != "ok":
        lines.append(f"   → newer: {safe(r.newer['path'])} §{safe(r.newer['heading'])}")
    return lines


def _why_replaced(reasons: list[dict[str, Any]]) -> str:
    """The kinds of findings that took the replaced section out of the results, e.g. "superseded (WC201)"."""
    note = next((x for x in reasons if x.get("kind") == "replacement"), None)
    kinds = [f"{x['kind']} ({x['rule']})" if x.get("rule") else str(x.get("kind"))
             for x in (note or {}).get("replaced_reasons") or []]
    return ", ".join(dict.fromkeys(kinds))


def _check_text(query: str) -> None:
    """A query must be text: bytes that are not UTF-8 in argv (a C locale, a mangled paste) arrive as
    lone surrogates, which the tokenizer cannot take (exit 4 before). A usage error naming the fix."""
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = query[e.start:e.end].encode("utf-8", "surrogateescape")
        raise typer.BadParameter(
            f"the query is not valid UTF-8 (byte {bad.hex(' ')} at character {e.start}); "
            "type it again, or set a UTF-8 locale (LANG=C.UTF-8)", param_hint="QUERY") from None


def _read_queries(path: Path) -> list[str]:
    """The lines of a queries file; a file that is not UTF-8 text is a usage error naming it."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise typer.BadParameter(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                                 "save it as UTF-8", param_hint="--queries-file") from None
    except OSError as e:
        raise typer.BadParameter(f"{path}: cannot read it ({e.strerror})", param_hint="--queries-file") from None
