"""The check engine: run every enabled rule over the store, apply suppressions, store the findings.

Rules run here, at check time, so that the retrieval guard only has to look verdicts up. What the
rules read is CheckContext (check_context.py, with link resolution in check_links.py); what a check
yields is in check_findings.py, inline suppressions in check_suppress.py, and what it writes and
reads back through the store in check_record.py.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .check_context import CheckContext
from .check_findings import CheckResult, Finding, fingerprint
from .check_record import RECORD_MODES, compare, latest_findings, record_findings, record_run
from .check_suppress import is_suppressed, read_suppressions
from .config import Config, load_config
from .policy import Policies
from .rules import RULES, Rule, RuleHit
from .store import Store
from .vocabulary import LEVELS, level_at_least


def run_checks(store: Store, config: Config | None = None, *, now: dt.datetime | None = None,
               record: bool | str = "verdicts", ray: str | None = None) -> CheckResult:
    """Run every enabled rule, mark the findings new since the last recorded run, and write them.

    `config`: None discovers it as `wikicheck check` does ($WIKICHECK_CONFIG, wikicheck.toml from the
    current directory up, then at the root of a crawled source), so the library and the CLI judge the
    same wiki alike and the guard serves the same verdicts after either (#12 point 1).
    `record`: one of RECORD_MODES (True is "run", False is "no"); the default is what `wikicheck check` does.
    `ray`: run the neighbour search and claim extraction on that Ray cluster (auto, local or the head's
    HOST:PORT; ray_engine.check): the same findings, the bulk work spread over its CPUs.

    Refuses (IndexBusy, CrawlUnfinished) while a crawl is writing the store or after one was killed:
    findings on a half-crawled wiki would be recorded as the wiki's state (wikicheck.readers)."""
    from .readers import require_complete

    mode = _record_mode(record)
    require_complete(store, what="check")
    config = config if config is not None else _discover_config(store)
    work = None
    if ray:
        from .ray_engine import RayCheckWork, connect

        work = RayCheckWork(connect(ray))
    t0 = time.perf_counter()
    policies = Policies.from_config(config)
    # with the drift options the drift rules declare; a recorded check keeps the claims it extracted
    with _collector_paused():
        ctx = CheckContext(store, config, policies, now, cache_claims=mode != "no", executor=work)
        hits = _run_rules(ctx, policies)
        findings, suppressed = _to_findings(ctx, policies, hits)
        del ctx, hits  # the corpus the rules loaded, freed here (what reference cycles hold: see below)
    result = CheckResult(run_id=0, findings=findings, suppressed=suppressed, recorded=mode,
                         ray=work.describe() if work is not None else None)
    result.seconds = time.perf_counter() - t0
    first_seen = compare(store, result)
    if mode != "no":
        record_findings(store, result, policies, first_seen)
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the rules run, and on again after as it was.

    The rules load the whole store (rows, versions, claims, neighbour lists: 15 GB at 1M sections) and
    keep it to the end, and make next to no reference cycles. Every full collection walks all of it
    again: 13 of them, 4.4-5.4 s of a ~45 s check at 100k sections; paused, 0.07 s and 24 MB more
    peak memory (docs/benchmarks.md, "... and the collector paused"). What the check left that only a collection frees
    (its few cycles) is frozen before the collector comes back and handed back to it at once
    (gc.freeze, gc.unfreeze: constant time) into the oldest generation: else the first young
    collection after would walk every object the check made. Process-wide while it lasts, like any
    gc switch; a process that froze objects itself (gc.get_freeze_count) keeps its frozen set."""
    was = gc.isenabled()
    ours = gc.get_freeze_count() == 0
    gc.disable()
    try:
        yield
    finally:
        if ours:
            gc.freeze()
        if was:
            gc.enable()
        if ours:
            gc.unfreeze()


def _run_rules(ctx: CheckContext, policies: Policies) -> list[tuple[Rule, RuleHit]]:
    hits: list[tuple[Rule, RuleHit]] = []
    for code, rule in RULES.items():
        if not policies.enabled(code):
            continue
        if rule.SCOPE == "corpus":
            for h in rule.check(None, policies.rule_options(code, ""), ctx):
                hits.append((rule, h))
        elif rule.SCOPE == "document":
            for doc in ctx.docs.values():
                if not policies.enabled(code, doc["path"]) or (rule.AGE_RULE and policies.is_exempt(doc)):
                    continue
                for h in rule.check(doc, policies.rule_options(code, doc["path"]), ctx):
                    hits.append((rule, h))
        else:
            for sec in ctx.sections:
                if not policies.enabled(code, sec["path"]):
                    continue
                for h in rule.check(sec, policies.rule_options(code, sec["path"]), ctx):
                    hits.append((rule, h))
    return hits


def _record_mode(record: bool | str) -> str:
    mode = {True: "run", False: "no"}.get(record, record) if isinstance(record, bool) else record
    if mode not in RECORD_MODES:
        raise ValueError(f"record should be one of {', '.join(RECORD_MODES)}, True or False, got {record!r}")
    return str(mode)


def _discover_config(store: Store) -> Config:
    """The config `wikicheck check --index DIR` would use for this store."""
    return load_config(None, sources_from=store.url or (store.path.parent if store.path is not None else None))


def _to_findings(ctx: CheckContext, policies: Policies, hits: list[tuple[Rule, RuleHit]]) -> tuple[list[Finding], int]:
    out: dict[str, Finding] = {}
    suppressed = 0
    supp_cache: dict[str, tuple[set[str] | None, dict[int, set[str] | None]]] = {}
    for rule, h in hits:
        sec = ctx.section_by_id.get(h.section_id) if h.section_id else None
        doc_id = sec["document_id"] if sec else h.document_id
        doc = ctx.docs.get(doc_id or "")
        if doc is None:
            continue
        if not policies.enabled(rule.CODE, doc["path"]):
            continue  # corpus rules run once for the whole store: [[policies]] disable applies here
        if sec is None:
            secs = ctx.sections_by_doc.get(doc["id"], [])
            sec_for_line = _section_at(secs, h.line) if h.line else (secs[0] if secs else None)
        else:
            sec_for_line = sec
        line = h.line or (sec_for_line["line_start"] if sec_for_line else 1)
        if doc["id"] not in supp_cache:
            supp_cache[doc["id"]] = read_suppressions(doc.get("text") or "")
        file_codes, line_codes = supp_cache[doc["id"]]
        if is_suppressed(rule.CODE, line, sec_for_line, file_codes, line_codes):
            suppressed += 1
            continue
        path = doc["path"]
        level = h.level or policies.level(rule.CODE, path)
        newer = None
        if h.newer_id and h.newer_id in ctx.section_by_id:
            n = ctx.section_by_id[h.newer_id]
            newer = {"path": n["path"], "heading": n["heading"], "heading_path": n["heading_path"],
                     "section_id": n["id"], "changed_at": n["changed_at"], "source": n["source"]}
        location = h.section_id or f"{doc['id']}"
        fp = fingerprint(rule.CODE, location, h.key or h.kind)
        target = sec or sec_for_line
        f = Finding(
            rule=rule.CODE, name=rule.NAME, kind=h.kind, level=level, path=path,
            heading=target["heading"] if target else "", heading_path=target["heading_path"] if target else [],
            section_id=target["id"] if target else None, document_id=doc["id"],
            scope="section" if h.section_id else "document", line=line, message=h.message, evidence=h.evidence,
            newer=newer, owner=ctx.owners.for_finding("section" if h.section_id else "document", sec, doc).as_text(),
            changed_at=(sec or {}).get("changed_at") or ctx.doc_changed_at(doc),
            fingerprint=fp, source=doc["source"],
        )
        if fp not in out:
            out[fp] = f
    findings = sorted(out.values(), key=lambda f: (f.path, f.line or 0, f.rule))
    return findings, suppressed


def _section_at(secs: list[dict[str, Any]], line: int) -> dict[str, Any] | None:
    best = None
    for s in secs:
        if s["line_start"] <= line:
            best = s
    return best or (secs[0] if secs else None)


__all__ = ["CheckResult", "Finding", "LEVELS", "RECORD_MODES", "latest_findings", "level_at_least", "record_run",
           "run_checks"]
