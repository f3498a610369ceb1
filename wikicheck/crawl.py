"""The crawl: sources -> documents and sections with provenance and history -> store -> vectors -> index.

Safe to kill at any point: every page is written in its own transaction, embeddings are committed
per batch, history progress is checkpointed, removals are only decided after a complete scan, and
the index is derived (rebuilt when its manifest no longer matches the store).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import Config
from .dates import now_iso
from .embed import Embedder, check_model, embed_pending, get_embedder
from .errors import WikicheckError
from .index_pg import build_vector_index
from .lock import store_lock
from .model import Document, Provenance, Section, stable_id
from .onnx_engine.choice import TORCH_ENGINE, engine_choice, load_export
from .onnx_engine.ensure import ExportOutcome, ensure_export
from .parse.sections import iter_sections
from .sources import ScanResult, SkipFile, Source, check_kind_switch, default_name, detect_kind, open_source
from .sources.base import PAGE_EXT, kind_of
from .store import Store, is_store_url, local_dir

Progress = Callable[[str, int, int], None]  # (phase, done, total)

HISTORY_CHECKPOINT = 200  # history events between progress updates (when the source cannot count its commits)


class Terminated(BaseException):
    """SIGTERM (a scheduler, systemd, `docker stop`) asked the run to stop: a clean stop, not a crash.

    A BaseException like KeyboardInterrupt, so that no `except Exception` on the way swallows it.
    """


class _Stops:
    """A stop signal that arrives while a page is written waits until its transaction is committed."""

    depth = 0
    pending: BaseException | None = None


@contextlib.contextmanager
def _one_page() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: a crawl in another thread has nothing to hold
        return
    _Stops.depth += 1
    try:
        yield
    finally:
        _Stops.depth -= 1
    if _Stops.depth == 0 and _Stops.pending is not None:
        stop, _Stops.pending = _Stops.pending, None
        raise stop


def _on_signal(signum: int, frame: object) -> None:
    stop = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    if _Stops.depth:
        _Stops.pending = _Stops.pending or stop
    else:
        raise stop


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM raises Terminated and SIGINT KeyboardInterrupt, both between two pages, never inside a
    page's transaction, so the crawl can record how it ended (issue #12: a SIGTERM used to leave it
    "running"). For the CLI's crawl and nightly; a signal the caller ignores stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set handlers (and receives signals)
        return
    wanted = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    old = {s: signal.getsignal(s) for s in wanted}
    for s, default in wanted.items():
        if old[s] is default:
            signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        pending, _Stops.pending = _Stops.pending, None
        if pending is not None:
            raise pending


@dataclass
class CrawlSummary:
    index: str
    crawl_id: int
    sources: list[dict[str, str]] = field(default_factory=list)
    documents: int = 0
    documents_changed: list[str] = field(default_factory=list)
    documents_removed: list[str] = field(default_factory=list)
    documents_renamed: list[dict[str, str]] = field(default_factory=list)  # {"from", "to"}: not in documents_removed
    sections_new: int = 0
    sections_changed: int = 0
    sections_unchanged: int = 0
    sections_removed: int = 0
    sections_embedded: int = 0
    pages_failed: int = 0  # http: pages that could not be fetched (each has a warning)
    versions_added: int = 0
    history_events: int = 0
    warnings: list[dict[str, str]] = field(default_factory=list)
    index_rebuilt: bool = False
    index_count: int = 0
    model: str = ""
    engine: dict[str, Any] = field(default_factory=dict)  # {"query", "crawl", "export"}: see _engines
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {
            "version": 1,
            "index": d["index"],
            "crawl_id": d["crawl_id"],
            "model": d["model"],
            "sources": d["sources"],
            "documents": {"total": self.documents, "changed": sorted(self.documents_changed),
                          "removed": sorted(self.documents_removed),
                          "renamed": sorted(self.documents_renamed, key=lambda r: (r["from"], r["to"]))},
            "sections": {"new": self.sections_new, "changed": self.sections_changed,
                         "unchanged": self.sections_unchanged, "removed": self.sections_removed},
            "embedded": self.sections_embedded,
            "pages_failed": self.pages_failed,
            "versions_added": self.versions_added,
            "history_events": self.history_events,
            "index_rebuilt": self.index_rebuilt,
            "index_count": self.index_count,
            "engine": self.engine,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def crawl(
    specs: list[str],
    index_dir: str | Path,
    config: Config | None = None,
    *,
    embedder: Embedder | None = None,
    reembed: bool = False,
    names: Sequence[str | None] | None = None,
    kind: str | None = None,
    progress: Progress | None = None,
    source_options: dict[str, Any] | None = None,
    lock: Any = None,
    ray: str | None = None,
) -> CrawlSummary:
    """Crawl every source into the index at `index_dir` (created when missing).

    `source_options`: keyword options per source kind, e.g. {"http": {"allow_hosts": [...], "rate": 2}}.
    `lock`: the IndexLock on `index_dir` that the caller holds already (wikicheck nightly runs crawl,
    check and report under one lock; flock is not re-entrant, so crawl must not take it again).
    `ray`: embed on a Ray cluster (auto, local or the head's address; see ray_engine) instead of here.
    """
    config = config or Config()
    location = index_dir  # what Store.open and store_lock take: an index directory or a PostgreSQL URL
    index_dir = local_dir(index_dir)  # this machine's files of the store (the index directory itself for SQLite)
    t0 = time.perf_counter()
    prog = progress or (lambda phase, done, total: None)
    max_bytes = config.get("crawl", "max-file-bytes")
    # open (and so validate) every source before taking the lock or touching the store
    sources: list[Source] = []
    recorded = _recorded_kinds(location, specs, names)
    for i, spec in enumerate(specs):
        name = names[i] if names and i < len(names) else None
        if kind and i in recorded:
            check_kind_switch(*recorded[i], kind, forced=True)
        # a source the index has keeps its kind: detection that has learnt more (a folder git tracks is
        # git now, #12) must not mix file dates and commit dates in one history
        k = kind or (recorded[i][2] if i in recorded else detect_kind(spec))
        opts: dict[str, Any] = {"max_bytes": max_bytes, **(source_options or {}).get(k, {})}
        sources.append(open_source(spec, name=name, kind=k, **opts))
    embedder = embedder or get_embedder(config.model, batch_size=config.get("embedding", "batch-size"))
    cluster = None
    if ray:  # connect before the lock, like the sources: a wrong address fails before any work
        from .ray_engine import connect

        cluster = connect(ray)
    if lock is not None and (lock.fd is None or lock.target != store_lock(location).target):
        raise ValueError(f"crawl(lock=...) needs a held IndexLock (or PgLock) on {location}")
    with contextlib.nullcontext() if lock is not None else store_lock(location, "crawl"):
        store = Store.open(location, create=True)
        if store.url:
            index_dir.mkdir(parents=True, exist_ok=True)  # for the ONNX export (local_dir)
        try:
            if not reembed:
                check_model(store.model_id(), embedder.model_id, store.where)
            return _crawl_locked(store, sources, index_dir, config, embedder, prog, t0, cluster)
        finally:
            store.close()


def _recorded_kinds(index_dir: str | Path, specs: list[str], names: Sequence[str | None] | None) -> dict[int, tuple[str, str, str]]:
    """The sources of `specs` that the index has crawled already (same name and root, with pages):
    {position: (name, root, kind)}. Read before the lock: only the kind is taken from it."""
    from .errors import WikicheckError
    from .store import db_path_for

    if not is_store_url(index_dir) and not db_path_for(index_dir).exists():
        return {}
    try:
        store = Store.open(index_dir)
    except WikicheckError:
        return {}  # empty or damaged: the crawl itself says so, with its own message
    out: dict[int, tuple[str, str, str]] = {}
    with store:
        for i, spec in enumerate(specs):
            if re.match(r"^[a-z][a-z0-9+.-]*://", spec):
                continue
            given = names[i] if names and i < len(names) else None
            row = store.source(given or default_name(spec))
            if row and row["root"] == str(Path(spec).resolve()) and store.document_fingerprints(row["name"]):
                out[i] = (row["name"], row["root"], row["kind"])
    return out


def _crawl_locked(store: Store, sources: list[Source], index_dir: Path, config: Config, embedder: Embedder,
                  prog: Progress, t0: float, cluster: Any = None) -> CrawlSummary:
    # we hold the lock, so any crawl still marked running was killed
    store.mark_running_crawls_killed()
    crawl_id = store.start_crawl([s.root for s in sources])
    summary = CrawlSummary(index=store.where if store.url else str(index_dir), crawl_id=crawl_id, model=embedder.model_id)
    max_level = config.get("crawl", "max-heading-level")
    workers = max(1, config.get("crawl", "workers"))
    ts = now_iso()
    timings: dict[str, float] = {}
    status = "failed"  # an error ended it, unless a signal did
    try:
        for src in sources:
            t = time.perf_counter()
            # an http source asks again with the validators the last crawl stored (304: no download)
            scan = src.scan(store.http_cache(src.name)) if src.kind == "http" else src.scan()  # type: ignore[call-arg]
            timings["scan"] = timings.get("scan", 0) + time.perf_counter() - t
            # #12: a source with no page, that never had one here, is a mistake (a wrong folder, a format
            # wikicheck does not read): refused before anything of it is written or the model is loaded.
            # One that had pages is crawled: its pages were deleted, and are marked removed.
            if not scan.candidates and not store.document_fingerprints(src.name):
                raise WikicheckError(_no_pages(src, scan))
            store.ensure_source(src.name, src.root, src.kind)
            summary.sources.append({"name": src.name, "kind": src.kind, "root": src.root})

            t = time.perf_counter()
            history_problems = _import_history(store, src, max_level, summary, prog, ts)
            timings["history"] = timings.get("history", 0) + time.perf_counter() - t

            summary.pages_failed += scan.failed
            for path, msg in scan.warnings:
                _warn(store, summary, crawl_id, src.name, path, msg)
            if not scan.candidates:
                _warn(store, summary, crawl_id, src.name, "", f"{_no_pages(src, scan)}; the pages it had are marked removed")

            t = time.perf_counter()
            known = store.document_fingerprints(src.name)
            live_counts = store.live_section_counts(src.name)
            todo = []
            present: set[str] = set()
            for cand in scan.candidates:
                present.add(cand.path)
                prev = known.get(cand.path)
                if prev and prev[0] == cand.fingerprint and prev[1] is None:
                    summary.documents += 1
                    summary.sections_unchanged += live_counts.get(stable_id(src.name, cand.path), 0)
                else:
                    todo.append(cand)

            def load(cand):  # type: ignore[no-untyped-def]
                msgs: list[str] = []
                try:
                    doc = cand.load(msgs.append)
                    return cand, doc, iter_sections(doc, max_level), msgs, None
                except SkipFile as e:
                    return cand, None, None, msgs, str(e)

            prog("pages", 0, len(todo))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for n, (cand, doc, sections, msgs, skip) in enumerate(pool.map(load, todo), 1):
                    for m in msgs:
                        _warn(store, summary, crawl_id, src.name, cand.path, m)
                    if skip:
                        present.discard(cand.path)
                        _warn(store, summary, crawl_id, src.name, cand.path, skip)
                    else:
                        with _one_page():
                            _save(store, doc, sections, ts, src.kind, summary)
                    prog("pages", n, len(todo))
            timings["pages"] = timings.get("pages", 0) + time.perf_counter() - t
            warned = {w["path"] for w in summary.warnings if w["source"] == src.name}
            for path, msg in history_problems.items():
                if path not in warned:  # the current page's warning says it already
                    _warn(store, summary, crawl_id, src.name, path, msg)

            removed_before = {p for p, (_, r) in known.items() if r is None}
            # pages the source saw change address (http: redirect, canonical URL): renamed, not removed
            renamed = sorted({(old, new) for old, new in scan.renames if old not in present and old in known})
            for old, new in renamed:
                store.record_rename(src.name, old, new, ts, origin=src.kind)
            # git: the history import recorded the renames of the commits it read (git log -M)
            gone = removed_before - present
            renamed += sorted({(r["old_path"], r["new_path"]) for r in store.renames(src.name)
                               if r["old_path"] in gone and r["new_path"] in present} - set(renamed))
            docs_removed, secs_removed = store.mark_removed(src.name, present, ts)
            summary.sections_removed += secs_removed
            summary.documents_renamed += [{"from": old, "to": new} for old, new in renamed if old in removed_before]
            summary.documents_removed += sorted(removed_before - present - {old for old, _ in renamed})
            if scan.cache is not None:  # after the pages: a crawl killed before this refetches, nothing worse
                store.replace_http_cache(src.name, scan.cache)
            store.set_source_commit(src.name, getattr(src, "head", None) or (store.source(src.name) or {})["last_commit"])

        t = time.perf_counter()
        if store.model_id() != embedder.model_id:
            store.set_meta("model_id", embedder.model_id)
            store.set_meta("dim", str(embedder.dim))
        # the ONNX export for the query path (onnx_engine/ensure.py): kept when whole and of this model, else
        # exported and verified on the corpus (the sentence-transformers vectors of its sample are stored)
        t_export = time.perf_counter()
        export = ensure_export(store, index_dir, embedder)
        if export.status != "skipped":
            timings["export"] = time.perf_counter() - t_export
        summary.engine = _engines(export, config)
        crawl_embedder: Embedder = embedder
        if cluster is not None:
            # the cluster's actors run the index's model (sentence-transformers: they have no export)
            from .ray_engine import RayEmbedder

            crawl_embedder = RayEmbedder(embedder.model_id, cluster, dim=embedder.dim,
                                         batch_size=getattr(embedder, "batch_size", 32))
            summary.engine["crawl"] = "ray"
            summary.engine["ray"] = crawl_embedder.describe()
        elif summary.engine["crawl"] == "onnx" and store.pending_embeddings(embedder.model_id):
            crawl_embedder = export.embedder or load_export(index_dir, embedder.model_id, getattr(embedder, "batch_size", 32)) \
                or embedder
            if crawl_embedder is embedder:
                summary.engine["crawl"] = TORCH_ENGINE
        summary.sections_embedded = export.embedded + embed_pending(
            store, crawl_embedder, progress=lambda d, n: prog("embedding", d, n))
        if "ray" in summary.engine:  # now with where the texts were embedded
            summary.engine["ray"] = crawl_embedder.describe()  # type: ignore[attr-defined]
        timings["embedding"] = time.perf_counter() - t - timings.get("export", 0.0)

        t = time.perf_counter()
        manifest, rebuilt = build_vector_index(store, index_dir, embedder.model_id)
        summary.index_rebuilt, summary.index_count = rebuilt, manifest.count
        timings["index"] = time.perf_counter() - t
        status = "ok"
    except KeyboardInterrupt:
        status = "interrupted"  # Ctrl-C: the CLI says "interrupted" too, and readers see an unfinished crawl
        raise
    except Terminated:
        status = "terminated"
        raise
    finally:
        summary.seconds = time.perf_counter() - t0
        summary.timings = timings
        with _one_page():  # a second signal must not cut short the row that says how the crawl ended
            _finish(store, crawl_id, status, summary, timings)
    return summary


def _engines(export: ExportOutcome, config: Config) -> dict[str, Any]:
    """Which engine embeds this crawl's texts and the index's queries. ONNX Runtime for both when the
    export is usable: benchmarks/bench_embed_engines.py measured it faster than sentence-transformers
    at the crawl's batch size (docs/benchmarks.md); [embedding] engine or WIKICHECK_ENGINE =
    "sentence-transformers" keeps the crawl (and the queries) on sentence-transformers."""
    choice = engine_choice(config.get("embedding", "engine"))
    onnx = export.usable and choice != TORCH_ENGINE
    return {"crawl": "onnx" if onnx else TORCH_ENGINE,
            "query": "onnx" if export.usable and engine_choice() != TORCH_ENGINE else TORCH_ENGINE,
            "export": export.to_json()}


def _no_pages(src: Source, scan: ScanResult) -> str:
    """What a scan that found no page passed over (#12): "no pages found in X: 12 files skipped (.pdf 7,
    .docx 5); wikicheck reads .md, ..."."""
    why = ""
    skipped = sorted(scan.skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    if skipped:
        n = sum(c for _, c in skipped)
        shown = ", ".join(f"{ext or '(no extension)'} {c}" for ext, c in skipped[:8]) + (", ..." if len(skipped) > 8 else "")
        why = f": {n} file{'s' if n != 1 else ''} skipped ({shown})"
    elif scan.failed:
        why = f": {scan.failed} page{'s' if scan.failed != 1 else ''} could not be fetched"
    if scan.warnings:
        more = f" (and {len(scan.warnings) - 1} more)" if len(scan.warnings) > 1 else ""
        why += f"{'; ' if why else ': '}{scan.warnings[0][1]}{more}"
    return f"no pages found in {src.root}{why}; wikicheck reads {', '.join(PAGE_EXT)}"


def _finish(store: Store, crawl_id: int, status: str, summary: CrawlSummary, timings: dict[str, float]) -> None:
    store.finish_crawl(crawl_id, status, {
        "documents": summary.documents, "sections_new": summary.sections_new,
        "sections_changed": summary.sections_changed, "sections_unchanged": summary.sections_unchanged,
        "sections_removed": summary.sections_removed, "sections_embedded": summary.sections_embedded,
        "versions_added": summary.versions_added, "warnings": len(summary.warnings),
        "seconds": round(summary.seconds, 3), "timings": json.dumps(timings),
    })


def _warn(store: Store, summary: CrawlSummary, crawl_id: int, source: str, path: str, message: str) -> None:
    summary.warnings.append({"source": source, "path": path, "message": message})
    store.add_warning(crawl_id, source, path, message)


def _save(store: Store, doc: Document, sections: list[Section], ts: str, kind: str, summary: CrawlSummary) -> None:
    # a git page's history comes from git log; this records the working tree state when it
    # differs from HEAD (uncommitted edits), and every change seen between crawls elsewhere.
    # Versions go first: the page row carries the fingerprint that makes the next crawl skip the
    # page, so a crawl killed between the two writes must not have written that one yet.
    origin = "git" if kind == "git" and doc.provenance.timestamp_source == "git" else "crawl"
    summary.versions_added += store.apply_versions(
        doc.id, doc.source, doc.path, sections, doc.provenance.changed_at or ts,
        doc.provenance.commit, doc.provenance.author, origin, seen_at=ts, kind=doc.kind)
    changes = store.save_document(doc, sections, ts)
    summary.documents += 1
    summary.documents_changed.append(doc.path)
    summary.sections_new += changes.new
    summary.sections_changed += changes.changed
    summary.sections_unchanged += changes.unchanged
    summary.sections_removed += changes.removed


def _import_history(store: Store, src: Source, max_level: int, summary: CrawlSummary, prog: Progress,
                    ts: str) -> dict[str, str]:
    """Import the source's history since the last crawl. Returns the past versions that could not
    be read, one warning per page (the caller drops those the scan of the current page repeats)."""
    problems: dict[str, str] = {}
    row = store.source(src.name)
    since = row["last_commit"] if row else None
    events, head = src.history(since)
    if head is None:
        return problems
    key = f"history:{src.name}:{since}:{head}"
    done = int(store.get_meta(key) or 0)  # events already applied by a run that was killed
    # progress in commits when the source counts them cheaply (git), else in events with no total
    count = getattr(src, "history_commits", None)
    total = count(since) if count else 0
    if total:
        prog("history", 0, total)
    n = commits = 0
    commit: str | None = None
    for ev in events:
        n += 1
        p = ev.provenance
        if total and p.commit != commit:
            commit, commits = p.commit, commits + 1
            prog("history", min(commits, total), total)
        if n <= done:
            continue
        if ev.renamed_from:
            store.record_rename(src.name, ev.renamed_from, ev.path, p.changed_at, p.commit, src.kind, ev.similarity)
        if ev.problem:  # an unreadable past version: a warning for it, never the end of the crawl
            problems.setdefault(ev.path, f"{ev.problem} (the version of commit {(p.commit or '?')[:10]}, "
                                         f"{(p.changed_at or '?')[:10]}; the versions before and after it are kept)")
            continue
        doc = Document(source=src.name, path=ev.path, kind=kind_of(ev.path) or "markdown",
                       text=ev.text or "", fingerprint="")
        def front_matter_error(err: str, path: str = ev.path, p: Provenance = p) -> None:
            # the version is kept (its front matter is not used); the page gets one warning
            problems.setdefault(path, f"{path}: {err}, in the version of commit {(p.commit or '?')[:10]} "
                                      f"({(p.changed_at or '?')[:10]}); the version is kept without it")

        sections = iter_sections(doc, max_level, front_matter_error) if ev.text is not None else None
        # the checkpoint is written in the same transaction as the versions it accounts for
        with _one_page():
            summary.versions_added += store.apply_versions(doc.id, src.name, ev.path, sections, p.changed_at,
                                                           p.commit, p.author, "git", checkpoint=(key, n), seen_at=ts,
                                                           kind=doc.kind)
        summary.history_events += 1
        if not total and n % HISTORY_CHECKPOINT == 0:
            prog("history", n, 0)
    if total or n:
        prog("history", total or n, total or n)  # commits that changed no page count as read too
    store.finish_history_import(src.name, head, key)
    return problems
