"""The check engine: run every enabled rule over the store, apply suppressions, store the findings.

Rules run here, at check time, so that the retrieval guard only has to look verdicts up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

from .config import Config, load_config
from .dates import to_datetime
from .drift import Drift, DriftOptions
from .model import normalise_text
from .owners import OwnerResolver
from .parse import markdown_tokens, split_front_matter
from .policy import Policies, RetiredTerm
from .rules import RULES, Rule, RuleHit
from .store import FindingRow, Store
from .vocabulary import LEVELS, level_at_least


@dataclass
class Finding:
    rule: str
    name: str
    kind: str
    level: str
    path: str
    heading: str
    heading_path: list[str]
    section_id: str | None
    document_id: str
    scope: str
    line: int | None
    message: str
    evidence: dict[str, Any]
    newer: dict[str, Any] | None
    owner: str | None
    changed_at: str | None
    fingerprint: str
    source: str = ""
    new: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "name": self.name, "kind": self.kind, "level": self.level, "path": self.path,
            "heading": self.heading, "heading_path": self.heading_path, "section_id": self.section_id,
            "document_id": self.document_id, "scope": self.scope, "line": self.line, "source": self.source,
            "message": self.message, "evidence": self.evidence, "newer": self.newer, "owner": self.owner,
            "changed_at": self.changed_at, "fingerprint": self.fingerprint, "new": self.new,
        }


@dataclass
class CheckResult:
    run_id: int
    findings: list[Finding]
    resolved: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    suppressed: int = 0
    baseline_run: int | None = None  # the recorded run "new" and "resolved" are counted from
    recorded: str = "no"  # what this check wrote: RECORD_MODES

    def summary(self) -> dict[str, Any]:
        by_level: dict[str, int] = {lvl: 0 for lvl in LEVELS}
        by_kind: dict[str, int] = {}
        for f in self.findings:
            by_level[f.level] += 1
            by_kind[f.kind] = by_kind.get(f.kind, 0) + 1
        return {
            "run_id": self.run_id, "findings": len(self.findings), "by_level": by_level,
            "by_kind": dict(sorted(by_kind.items())), "new": sum(f.new for f in self.findings),
            "resolved": len(self.resolved), "suppressed": self.suppressed, "seconds": round(self.seconds, 3),
            "sections": None, "documents": None, "baseline_run": self.baseline_run, "recorded": self.recorded,
        }


def fingerprint(rule: str, location: str, key: str) -> str:
    """Stable across runs: rule, where, and what (never a date or a count that moves every day)."""
    return hashlib.sha256(f"{rule}\x1f{location}\x1f{normalise_text(key)}".encode()).hexdigest()[:20]


_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)[^`\n]*?\1")
_SUPPRESS = re.compile(r"<!--\s*wikicheck:\s*(disable-next-line|disable-line|disable-file|disable)\b([^>]*?)-->", re.I)


class CheckContext:
    """What rules may read: the store, the drift analysis, policies, link resolution, dates."""

    def __init__(self, store: Store, config: Config, policies: Policies, now: dt.datetime | None = None):
        self.store = store
        self.config = config
        self.policies = policies
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.now_iso = self.now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        self.retired: list[RetiredTerm] = policies.retired
        self.docs = {d["id"]: d for d in store.documents()}
        self.sections = store.sections()
        self.sections_by_doc: dict[str, list[dict[str, Any]]] = {}
        for s in self.sections:
            self.sections_by_doc.setdefault(s["document_id"], []).append(s)
        self.section_by_id = {s["id"]: s for s in self.sections}
        self.doc_by_path = {(d["source"], d["path"]): d for d in self.docs.values()}
        self.doc_by_url: dict[str, dict[str, Any]] = {}
        for d in self.docs.values():
            if d.get("url"):
                self.doc_by_url.setdefault(d["url"].rstrip("/"), d)
        self.sources = {s["name"]: s for s in store.sources()}
        self.owners = OwnerResolver.for_store(store, config)  # the findings' owners, as the reports name them
        self._drift: list[Any] | None = None
        self._anchors: dict[str, set[str]] = {}
        self._links: dict[tuple[str, str], list[tuple[str, int | None]]] = {}
        self.drift_options = DriftOptions()

    # dates
    def age_days(self, iso: str) -> int:
        return max(0, (self.now - to_datetime(iso)).days)

    def doc_changed_at(self, doc: dict[str, Any]) -> str | None:
        dates = [s["changed_at"] for s in self.sections_by_doc.get(doc["id"], []) if s["changed_at"]]
        return max(dates) if dates else doc.get("changed_at")

    def doc_sections(self, doc_id: str) -> list[dict[str, Any]]:
        return self.sections_by_doc.get(doc_id, [])

    def front_matter_lines(self, doc: dict[str, Any]) -> int:
        if doc["kind"] != "markdown":
            return 0
        return split_front_matter(doc.get("text") or "")[1]

    # links
    def inline_tokens(self, doc: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        """(page line, token) of every inline token of a markdown page, outside code, past its front
        matter: what a link reader walks (with the page parser's limits, see parse.markdown_tokens)."""
        fm = self.front_matter_lines(doc)
        body = "\n".join((doc.get("text") or "").split("\n")[fm:])
        for t in markdown_tokens(body):
            if t.type != "inline" or not t.children:
                continue
            line = (t.map[0] if t.map else 0) + fm + 1
            for c in t.children:
                if c.type in ("softbreak", "hardbreak"):
                    line += 1
                else:
                    yield line, c

    def links(self, doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        # parsed once per distinct page text (copies of a page, a page in several sources)
        cache_key = (doc["kind"], doc.get("text") or "")
        found = self._links.get(cache_key)
        if found is None:
            found = self._links[cache_key] = [(str(x["href"]), x["line"]) for x in self._parse_links(doc)]
        for href, line in found:
            yield {"href": href, "line": line}

    def _parse_links(self, doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
        text = doc.get("text") or ""
        if doc["kind"] == "markdown":
            for line, c in self.inline_tokens(doc):
                if c.type == "link_open" and c.attrGet("href"):
                    yield {"href": str(c.attrGet("href")), "line": line}
                elif c.type == "image" and c.attrGet("src"):
                    yield {"href": str(c.attrGet("src")), "line": line}
        else:
            from .parse import html_main, html_soup

            root = html_main(html_soup(text))  # linear time on an unclosed "<!--" (issue 11)
            for a in root.find_all("a", href=True):
                yield {"href": a["href"], "line": getattr(a, "sourceline", None)}

    def link_target(self, doc: dict[str, Any], href: str) -> tuple[str, str, bool, set[str] | None] | None:
        """(resolved path, anchor, exists, anchors of the target) for an internal link, None otherwise."""
        href = href.strip()
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or href.startswith(("mailto:", "tel:", "{", "<")):
            return self._url_target(doc, href)
        path, anchor = unquote(parts.path), unquote(parts.fragment)
        if not path:
            return doc["path"], anchor, True, self.anchors(doc)
        base = posixpath.dirname(doc["path"])
        resolved = posixpath.normpath(posixpath.join(base, path)) if not path.startswith("/") else path.lstrip("/")
        if resolved.startswith("../"):
            return resolved, anchor, self._exists_on_disk(doc, resolved), None
        target = self.doc_by_path.get((doc["source"], resolved))
        if target is None and resolved.endswith("/"):
            target = self.doc_by_path.get((doc["source"], resolved + "index.md"))
        if target is None and not posixpath.splitext(resolved)[1]:
            for ext in (".md", ".html", "/index.md", "/README.md"):
                target = self.doc_by_path.get((doc["source"], resolved + ext))
                if target:
                    break
        if target is not None:
            return target["path"], anchor, True, self.anchors(target)
        return resolved, anchor, self._exists_on_disk(doc, resolved), None

    def _url_target(self, doc: dict[str, Any], href: str) -> tuple[str, str, bool, set[str] | None] | None:
        # links to pages of a crawled site are internal links too
        src = self.sources.get(doc["source"])
        if not src or src["kind"] != "http" or not href.startswith(("http://", "https://")):
            return None
        d = self.doc_by_url.get(href.split("#")[0].rstrip("/"))
        return (d["path"], urlsplit(href).fragment, True, self.anchors(d)) if d else None

    def _exists_on_disk(self, doc: dict[str, Any], rel: str) -> bool:
        src = self.sources.get(doc["source"])
        if not src or src["kind"] not in ("folder", "git"):
            return False
        return (Path(src["root"]) / rel).exists()

    def anchors(self, doc: dict[str, Any]) -> set[str]:
        cache = self._anchors
        if doc["id"] not in cache:
            from .parse import heading_anchors

            cache[doc["id"]] = heading_anchors(doc.get("text") or "", doc["kind"])
        return cache[doc["id"]]

    def resolve_link(self, doc: dict[str, Any], ref: str) -> dict[str, Any] | None:
        """The section a reference (relative link, or a path in the source) points to."""
        ref = str(ref).strip()
        m = re.search(r"\(([^)\s]+)\)", ref)
        if m:
            ref = m.group(1)
        for candidate in (ref, "/" + ref.lstrip("/")):
            t = self.link_target(doc, candidate)
            if t and t[2]:
                target = self.doc_by_path.get((doc["source"], t[0]))
                if target:
                    secs = self.sections_by_doc.get(target["id"], [])
                    if t[1]:
                        for s in secs:
                            if s["anchor"] == t[1].lower():
                                return s
                    return secs[0] if secs else None
        return None

    def _vector_index(self, model: str) -> Any:
        """The faiss index on disk, when it matches the store: its neighbours cost no rebuild."""
        from .errors import WikicheckError
        from .index import VectorIndex

        if self.store.path is None:
            return None
        try:
            return VectorIndex.load(self.store, self.store.path.parent, model, rebuild=False)
        except (WikicheckError, RuntimeError, OSError):
            return None

    # drift
    def drift_hits(self, rule: str | None, exclude_kinds: tuple[str, ...] = (),
                   only_kinds: tuple[str, ...] = ()) -> Iterator[RuleHit]:
        if self._drift is None:
            model = self.store.model_id()
            from .rules import RULES

            enabled = {getattr(RULES[c], "DRIFT_RULE", None) for c in RULES if self.policies.enabled(c)}
            self._drift = Drift(self.store, model, self.drift_options, self._vector_index(model), self.sections).analyse(
                {e for e in enabled if e}) if model else []
        for h in self._drift:
            if rule is not None and h.rule != rule:
                continue
            if exclude_kinds and h.kind in exclude_kinds:
                continue
            if only_kinds and h.kind not in only_kinds:
                continue
            yield RuleHit(kind=h.kind, message=h.message, section_id=h.section_id, evidence=h.evidence,
                          newer_id=h.newer_id, key=h.key, level=h.level)


def _suppressions(text: str) -> tuple[set[str] | None, dict[int, set[str] | None]]:
    """(codes disabled for the whole file, {line: codes}) from wikicheck comments. None means all."""
    file_codes: set[str] | None = set()
    lines: dict[int, set[str] | None] = {}
    all_lines = text.split("\n")
    fence: str | None = None
    for i, line in enumerate(all_lines, 1):
        # a comment shown in a code block or an inline code span is an example, not a suppression
        f = _FENCE.match(line)
        if fence:
            if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
                fence = None
            continue
        if f:
            fence = f.group(1)
            continue
        for m in _SUPPRESS.finditer(_CODE_SPAN.sub("", line)):
            what, arg = m.group(1).lower(), m.group(2).strip()
            codes = {c.strip() for c in re.split(r"[,\s]+", arg) if c.strip()} or None
            codes = {_canon(c) for c in codes} if codes else None
            if what == "disable-file":
                if codes is None or file_codes is None:
                    file_codes = None
                else:
                    file_codes |= codes
            elif what == "disable-line":
                lines[i] = codes
            elif what == "disable-next-line":
                j = i + 1
                while j <= len(all_lines) and not all_lines[j - 1].strip():
                    j += 1
                lines[j] = codes
            else:  # disable: the section that holds the comment
                lines[-i] = codes
    return file_codes, lines


def _canon(code: str) -> str:
    from .rules import BY_NAME

    r = BY_NAME.get(code.lower())
    return r.CODE if r else code.upper()


# What a check writes (#12 point 2): "run" records a run, the guard's verdicts and the baseline that
# the next checks count "new" from (`wikicheck nightly`, `wikicheck check --record`); "verdicts" only
# replaces the guard's verdicts, so that a plain `wikicheck check` keeps the guard right without
# using up what is new; "no" writes nothing.
RECORD_MODES = ("run", "verdicts", "no")


def run_checks(store: Store, config: Config | None = None, *, now: dt.datetime | None = None,
               record: bool | str = "verdicts") -> CheckResult:
    """Run every enabled rule, mark the findings new since the last recorded run, and write them.

    `config`: None discovers it as `wikicheck check` does ($WIKICHECK_CONFIG, wikicheck.toml from the
    current directory up, then at the root of a crawled source), so the library and the CLI judge the
    same wiki alike and the guard serves the same verdicts after either (#12 point 1).
    `record`: one of RECORD_MODES (True is "run", False is "no"); the default is what `wikicheck check` does.

    Refuses (IndexBusy, CrawlUnfinished) while a crawl is writing the store or after one was killed:
    findings on a half-crawled wiki would be recorded as the wiki's state (wikicheck.readers)."""
    from .readers import require_complete

    mode = _record_mode(record)
    require_complete(store, what="check")
    config = config if config is not None else _discover_config(store)
    t0 = time.perf_counter()
    policies = Policies.from_config(config)
    ctx = CheckContext(store, config, policies, now)
    opts = policies.rule_options("WC201", "")
    ctx.drift_options = DriftOptions(
        k=opts["k"], min_similarity=opts["min-similarity"], min_aligned=opts["min-aligned"],
        min_conflicts=policies.rule_options("WC202", "")["min-conflicts"],
        near_copy=policies.rule_options("WC203", "")["near-copy"],
        lineage_min_tokens=policies.rule_options("WC203", "")["min-tokens"],
        move_window_days=policies.rule_options("WC203", "")["move-window-days"],
    )
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
    findings, suppressed = _to_findings(ctx, policies, hits)
    result = CheckResult(run_id=0, findings=findings, suppressed=suppressed, recorded=mode)
    result.seconds = time.perf_counter() - t0
    first_seen = _compare(store, result)
    if mode != "no":
        _record(store, result, policies, first_seen)
    return result


def _record_mode(record: bool | str) -> str:
    mode = {True: "run", False: "no"}.get(record, record) if isinstance(record, bool) else record
    if mode not in RECORD_MODES:
        raise ValueError(f"record should be one of {', '.join(RECORD_MODES)}, True or False, got {record!r}")
    return str(mode)


def _discover_config(store: Store) -> Config:
    """The config `wikicheck check --index DIR` would use for this store."""
    return load_config(None, sources_from=store.path.parent if store.path is not None else None)


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
            supp_cache[doc["id"]] = _suppressions(doc.get("text") or "")
        file_codes, line_codes = supp_cache[doc["id"]]
        if _suppressed(rule.CODE, line, sec_for_line, file_codes, line_codes):
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


def _suppressed(code: str, line: int, sec: dict[str, Any] | None, file_codes: set[str] | None,
                line_codes: dict[int, set[str] | None]) -> bool:
    if file_codes is None or code in file_codes:
        return True
    if line in line_codes and (line_codes[line] is None or code in line_codes[line]):  # type: ignore[operator]
        return True
    if sec:
        for k, codes in line_codes.items():
            if k < 0 and sec["line_start"] <= -k <= sec["line_end"] and (codes is None or code in codes):
                return True
    return False


def _compare(store: Store, result: CheckResult) -> dict[str, int]:
    """Mark each finding new or not and list the resolved ones, against the last recorded run (read
    only). Returns {fingerprint: run it was first seen in} of that run's findings."""
    prev = store.baseline_run_id()
    result.baseline_run = prev
    prev_rows = store.run_findings(prev) if prev else []
    prev_fps: dict[str, int] = {r.fingerprint: r.first_seen_run or prev for r in prev_rows} if prev else {}
    for f in result.findings:
        f.new = f.fingerprint not in prev_fps
    current = {f.fingerprint for f in result.findings}
    result.resolved = [
        {"fingerprint": r.fingerprint, "rule": r.rule, "path": r.path, "heading": r.heading, "message": r.message}
        for r in prev_rows if r.fingerprint not in current
    ]
    return prev_fps


def _record(store: Store, result: CheckResult, policies: Policies, prev_fps: dict[str, int]) -> None:
    with store.transaction():
        run_id = store.start_check_run(policies.describe())
        store.add_findings([
            FindingRow(
                run_id=run_id, fingerprint=f.fingerprint, rule=f.rule, name=f.name, kind=f.kind, level=f.level,
                scope=f.scope, source=f.source, document_id=f.document_id, section_id=f.section_id, path=f.path,
                heading=f.heading, heading_path=f.heading_path, line=f.line, message=f.message,
                evidence=f.evidence, newer_section_id=(f.newer or {}).get("section_id"), newer=f.newer,
                owner=f.owner, changed_at=f.changed_at,
                first_seen_run=run_id if f.new else prev_fps[f.fingerprint],
            )
            for f in result.findings])
        result.run_id = run_id
        store.finish_check_run(
            run_id, findings=len(result.findings), new=sum(f.new for f in result.findings),
            resolved=len(result.resolved), seconds=round(result.seconds, 3), summary=result.summary())
        store.prune_check_runs(run_id, keep=run_id if result.recorded == "run" else result.baseline_run)


def record_run(store: Store, result: CheckResult) -> None:
    """Make a check whose verdicts were written a recorded run: the one that later checks count "new"
    from. The nightly job records its check this way; `run_checks(record="run")` does it at once."""
    if result.recorded == "no" or not result.run_id:
        raise ValueError('this check wrote nothing to record; run it with record="verdicts" or "run"')
    result.recorded = "run"
    with store.transaction():
        store.set_run_summary(result.run_id, result.summary())


def latest_findings(store: Store) -> list[dict[str, Any]]:
    """The newest run's findings as dicts (Store.latest_findings gives them typed)."""
    return [r.to_dict() for r in store.latest_findings()]


__all__ = ["CheckResult", "Finding", "LEVELS", "RECORD_MODES", "latest_findings", "level_at_least", "record_run",
           "run_checks"]
