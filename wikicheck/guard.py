"""The retrieval guard: vector search whose results carry verdicts, reasons and provenance.

Verdicts come from the findings of the last `wikicheck check` run, looked up per section (and per
page for page-level findings): guarding a result costs a dictionary lookup, never a model call or
a pairwise comparison.

Policies:
* ``annotate``: keep the ranking, label every result;
* ``demote``: blocked results go below every other result, warned ones below the ok ones;
* ``block`` (default): blocked results are removed; the newer section they point to takes their
  place, marked ``replaces``, once (no duplicates).

Order: results come by score (the similarity shown) except where a result says why not: a
replacement keeps the rank of the result it replaces (``replaces``), and the demote policy puts
results with a worse verdict lower (``demoted``); such a result carries ``out_of_order``, the
reason, whenever its score does not fall between its neighbours'.

Sections without text of their own (a page title, or a heading whose content is all in its
subsections) stay in the store and in the faiss index, but retrieval leaves them out: their heading
is part of every subsection's embedded text, so a query for it finds the subsections. A newer
section that has no text resolves to its first subsection with text (the best-scoring one, when
there is a query).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .check import latest_findings
from .config import env_flag, load_config
from .embed import Embedder, check_model, get_embedder
from .errors import WikicheckError
from .index import VectorIndex
from .owners import OwnerResolver
from .readers import crawl_state, require_complete
from .store import Store
from .vocabulary import BLOCK_KINDS, LEVEL_RANK, VERDICT_RANK, WARN_KINDS

POLICIES = ("block", "demote", "annotate")
# which kinds of finding block and which warn: wikicheck.vocabulary (BLOCK_KINDS, WARN_KINDS)


@dataclass
class GuardConfig:
    block_kinds: tuple[str, ...] = BLOCK_KINDS
    warn_kinds: tuple[str, ...] = WARN_KINDS
    min_block_level: str = "warning"  # findings below this level only warn
    missing_date: str = "warn"  # what a section with no known date gets: ok (fail-open) | warn | block (fail-closed)
    candidates: int = 20  # raw hits considered per query before guarding
    # exposure for the owners' reports; opt out with WIKICHECK_NO_EVENTS=1 or [guard] record-events = false
    record_events: bool = field(default_factory=lambda: not env_flag("WIKICHECK_NO_EVENTS"))


@dataclass
class Result:
    section: dict[str, Any]
    score: float
    verdict: str
    reasons: list[dict[str, Any]] = field(default_factory=list)
    newer: dict[str, Any] | None = None
    replaces: str | None = None
    owner: str | None = None

    replaced: dict[str, Any] | None = None  # path and heading of the section this one replaces
    demoted: bool = False  # the demote policy put it below a result with a lower score
    resolved_from: dict[str, Any] | None = None  # the section without text this one stands for
    out_of_order: str | None = None  # why it is not where its score would put it (None: it is)

    @property
    def label(self) -> str:
        """How the result is shown: its verdict, at the level of the findings behind it."""
        return shown_level(self.verdict, self.reasons)

    def to_json(self) -> dict[str, Any]:
        s = self.section
        return {
            "path": s["path"], "heading": s["heading"], "heading_path": s["heading_path"], "section_id": s["id"],
            "source": s["source"], "anchor": s.get("anchor"), "line_start": s.get("line_start"),
            "score": round(float(self.score), 4), "verdict": self.verdict, "label": self.label, "reasons": self.reasons,
            "newer": self.newer, "replaces": self.replaces, "replaced": self.replaced,
            "demoted": self.demoted, "out_of_order": self.out_of_order,
            "provenance": {"changed_at": s.get("changed_at"), "author": s.get("author"), "commit": s.get("commit"),
                           "timestamp_source": s.get("timestamp_source"), "owner": self.owner},
            "text": s["text"],
        }


_EPS = 1e-6
_HEADING_LINE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


def shown_level(verdict: str, reasons: list[dict[str, Any]]) -> str:
    """The tag a result is shown with: its verdict, except that a warning that only info findings
    make is shown as "info" (#12: an info finding was shown as WARN). The note a replacement carries
    about the section it replaces is not one of its own findings."""
    if verdict != "warn":
        return verdict
    levels = [r.get("level") for r in reasons if r.get("kind") != "replacement"]
    return "info" if levels and all(lv == "info" for lv in levels) else "warn"


def has_text(section: dict[str, Any]) -> bool:
    """Whether a section has text of its own (a page title or a heading over subsections has none)."""
    return bool((section.get("text") or "").strip())


def split_heading_lines(text: str) -> tuple[list[str], str]:
    """(the markdown headings the text starts with, the rest): chunks often start with "## Heading",
    which the wiki keeps as the section's heading, not in its text."""
    lines = text.split("\n")
    headings: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _HEADING_LINE.match(line)
        if m and m.group(2).strip():
            headings.append(m.group(2).strip())
        elif line.strip():
            break
        i += 1
    return headings, "\n".join(lines[i:]).strip()


def _plain_variants(body: str) -> list[str]:
    """The chunk's text as given, and as the crawler renders markdown (links, emphasis dropped)."""
    from .model import Document
    from .parse import iter_sections

    try:
        secs = iter_sections(Document(source="", path="chunk.md", kind="markdown", text=body, fingerprint=""))
    except Exception:  # noqa: BLE001 - a rendering is only a second chance at an exact match
        return [body]
    if len(secs) == 1 and secs[0].text and secs[0].text != body:
        return [body, secs[0].text]
    return [body]


def _norm_heading(h: str) -> str:
    return re.sub(r"[\s*_`]+", " ", h or "").strip().lower()


@dataclass
class _Chunk:
    """What an agent's chunk says about itself: ids and metadata, its headings and its text."""

    section_id: str | None
    path: str | None
    heading: str | None
    text: str | None
    headings: list[str]  # the markdown heading lines the text starts with
    body: str  # the text without them
    variants: list[str]  # body as given and as the crawler would render it
    hashes: list[str]

    @classmethod
    def of(cls, chunk: dict[str, Any]) -> _Chunk:
        from .model import text_hash

        meta: dict[str, Any] = chunk["metadata"] if isinstance(chunk.get("metadata"), dict) else {}

        def pick(key: str) -> str | None:
            v = chunk.get(key)
            if v in (None, ""):
                v = meta.get(key)
            return str(v) if v not in (None, "") else None

        text = chunk.get("text")
        text = str(text) if text not in (None, "") else None
        headings, body = split_heading_lines(text) if text else ([], "")
        variants = _plain_variants(body) if body else []
        hashes = list(dict.fromkeys(text_hash(v) for v in variants))
        return cls(pick("section_id"), pick("path"), pick("heading"), text, headings, body, variants, hashes)

    def heading_names(self) -> list[str]:
        """The headings this chunk may be under: its metadata's, else the ones its text starts with."""
        if self.heading:
            return [self.heading]
        if not self.headings:
            return []
        return list(dict.fromkeys([" > ".join(self.headings), self.headings[-1]]))

    def embedding_input(self) -> str:
        """Like a section's (heading path, blank line, text), so the similarity compares like with like."""
        body = self.body or (self.text or "")
        return (" > ".join(self.headings) + "\n\n" + body) if self.headings and self.body else body


class Guard:
    """A search index opened once, for many queries (CLI batch mode, HTTP and MCP services)."""

    def __init__(self, index_dir: str | Path, *, embedder: Embedder | None = None, config: GuardConfig | None = None,
                 wait: float = 0.0):
        """`wait`: seconds to wait for a crawl that is writing the index now (default: refuse at
        once with IndexBusy); a store whose last crawl was killed is refused (CrawlUnfinished)."""
        self.index_dir = Path(index_dir)
        self.store = Store.open(index_dir)
        self._loaded_state: tuple[Any, Any] | None = None
        require_complete(self.store, wait=wait, what="search")  # never load a half-crawled wiki
        self.config = config or GuardConfig()
        model = self.store.model_id()
        if not model:
            raise WikicheckError(f"index {index_dir} has no embeddings yet; run \"wikicheck crawl\" first")
        self.embedder = embedder or get_embedder(model)
        check_model(model, self.embedder.model_id, str(index_dir))  # ModelMismatch, as crawl and embed raise it
        self.index = VectorIndex.load(self.store, index_dir, model)
        # owners as `wikicheck check` and the owner reports name them: the config they discover ([owners])
        self._wiki_config = load_config(None, sources_from=self.index_dir)
        self.reload()

    def _state(self) -> tuple[Any, Any]:
        return self.store.last_ok_ids()

    def refresh(self) -> bool:
        """Reload when a crawl or a check finished since the last load (for long-running services).

        Costs two indexed queries when nothing changed. Returns True when it reloaded."""
        state = self._state()
        if state == self._loaded_state:
            return False
        if crawl_state(self.store).partial:
            return False  # a crawl is writing (or died half way): keep serving the completed one loaded
        assert self._loaded_state is not None
        if state[1] != self._loaded_state[1]:
            from .index import VectorIndex

            self.index = VectorIndex.load(self.store, self.index_dir, self.embedder.model_id)
        self.reload()
        return True

    def reload(self) -> None:
        """Re-read sections and verdicts (after a crawl or check), in one read transaction, and only
        from a completed crawl: while a crawl writes, the state loaded last stays (wikicheck.readers)."""
        with self.store.read_snapshot():  # no crawl commit lands half way through the reads
            if crawl_state(self.store).partial:
                if self._loaded_state is not None:
                    return
                require_complete(self.store, what="search")  # raises: nothing completed to serve
            self._load()

    def _load(self) -> None:
        self._loaded_state = self._state()
        self.sections = {r["key"]: r for r in self.store.sections()}
        self.by_id = {r["id"]: r for r in self.sections.values()}
        # lookups for an agent's own chunks (sections come in path, line order: the first one wins)
        self.by_body: dict[str, list[dict[str, Any]]] = {}
        self.by_path: dict[str, list[dict[str, Any]]] = {}
        self.by_doc_sections: dict[str, list[dict[str, Any]]] = {}  # page order
        for r in self.by_id.values():
            if has_text(r):
                self.by_body.setdefault(r["body_hash"], []).append(r)
            self.by_path.setdefault(r["path"], []).append(r)
            self.by_doc_sections.setdefault(r["document_id"], []).append(r)
        # retrieval never returns a section without text (see the module docstring)
        self.index.exclude(r["key"] for r in self.sections.values() if not has_text(r))
        self.docs = {d["id"]: d for d in self.store.documents()}
        self.owners = OwnerResolver.for_store(self.store, self._wiki_config)
        self.by_section: dict[str, list[dict[str, Any]]] = {}
        self.by_document: dict[str, list[dict[str, Any]]] = {}
        self.has_check = False
        for f in latest_findings(self.store):
            self.has_check = True
            if f["scope"] == "document":
                self.by_document.setdefault(f["document_id"], []).append(f)
            elif f["section_id"]:
                self.by_section.setdefault(f["section_id"], []).append(f)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ verdicts

    def judge(self, section: dict[str, Any]) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
        """(verdict, reasons, newer) of one section."""
        findings = self.by_section.get(section["id"], []) + self.by_document.get(section["document_id"], [])
        verdict = "ok"
        reasons = []
        newer = None
        for f in sorted(findings, key=lambda f: -LEVEL_RANK[f["level"]]):
            reasons.append({
                "rule": f["rule"], "name": f["name"], "kind": f["kind"], "level": f["level"], "message": f["message"],
                "evidence": f["evidence"], "newer": f["newer"], "fingerprint": f["fingerprint"],
                "scope": f["scope"],  # "document": about the whole page, its dates are the page's (#12)
            })
            if f["kind"] in self.config.block_kinds and LEVEL_RANK[f["level"]] >= LEVEL_RANK[self.config.min_block_level]:
                verdict = "block"
                if newer is None and f["newer"] and f["newer"]["section_id"] != section["id"]:
                    newer = f["newer"]
            elif verdict == "ok" and (f["kind"] in self.config.warn_kinds or f["kind"] in self.config.block_kinds):
                verdict = "warn"
        if not section.get("changed_at"):
            reasons.append({"rule": None, "name": "missing-date", "kind": "missing_date", "level": "warning",
                            "message": "no last-changed date is known for this section", "evidence": {},
                            "newer": None, "fingerprint": None})
            if self.config.missing_date == "block":
                verdict = "block"
            elif self.config.missing_date == "warn" and verdict == "ok":
                verdict = "warn"
        return verdict, reasons, newer

    def _result(self, section: dict[str, Any], score: float) -> Result:
        verdict, reasons, newer = self.judge(section)
        owner = self.owners.for_section(section, self.docs.get(section["document_id"])).as_text()
        return Result(section, score, verdict, reasons, newer, owner=owner)

    # ------------------------------------------------------------------ search

    def embed(self, queries: list[str]) -> np.ndarray:
        return self.embedder.embed(queries)

    def search(self, query: str, k: int = 5, policy: str = "block") -> list[Result]:
        return self.search_vectors(self.embed([query]), k, policy)[0]

    def search_many(self, queries: list[str], k: int = 5, policy: str = "block") -> list[list[Result]]:
        return self.search_vectors(self.embed(queries), k, policy) if queries else []

    def search_vectors(self, vectors: np.ndarray, k: int, policy: str = "block") -> list[list[Result]]:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
        n = max(self.config.candidates, k * 4)
        scores, keys = self.index.search(vectors, n)
        out = []
        withheld: list[list[str]] = []
        for qi in range(len(vectors)):
            raw = [(self.sections[int(key)], float(sc)) for key, sc in zip(keys[qi], scores[qi])
                   if int(key) >= 0 and int(key) in self.sections and has_text(self.sections[int(key)])]
            final = self.apply_policy(raw, k, policy, vectors[qi])
            out.append(final)
            if self.config.record_events:
                # blocked sections that would have been in the top k but were kept from the agent:
                # exposure too, even when no replacement took their place
                shown = {r.section["id"] for r in final} | {r.replaces for r in final if r.replaces}
                withheld.append([s["id"] for s, _ in raw[:k]
                                 if s["id"] not in shown and self.judge(s)[0] == "block"])
        if self.config.record_events:
            self._record(out, withheld)
        return out

    def apply_policy(self, raw: list[tuple[dict[str, Any], float]], k: int, policy: str,
                     qvec: np.ndarray | None = None) -> list[Result]:
        results = [self._result(s, sc) for s, sc in raw if has_text(s)]
        if policy == "annotate":
            final = results[:k]
        elif policy == "demote":
            final = sorted(results, key=lambda r: VERDICT_RANK[r.verdict])[:k]  # stable: keeps similarity order
            lowest = float("inf")
            for r in final:
                r.demoted = r.verdict != "ok" and lowest < r.score - _EPS
                lowest = min(lowest, r.score)
        else:
            final = self._block(results, k, qvec)
        self._explain_order(final)
        return final

    def _block(self, results: list[Result], k: int, qvec: np.ndarray | None) -> list[Result]:
        final: list[Result] = []
        seen: set[str] = set()
        for r in results:
            if r.verdict != "block":
                # a copy of a current section gives its place to the section it copies (a step that
                # two different runbooks share stays where it is: the agent asked about this one)
                dup = next((x for x in r.reasons if x["kind"] == "duplicate" and x.get("newer")
                            and (x.get("evidence") or {}).get("same_runbook", True)
                            and (x.get("evidence") or {}).get("gives_place", True)), None)
                if dup is not None:
                    rep = self._replacement(Result(r.section, r.score, r.verdict, [dup], dup["newer"]), qvec)
                    if rep is not None:
                        if rep.section["id"] not in seen:
                            final.append(rep)
                            seen.add(rep.section["id"])
                        continue
                if r.section["id"] not in seen:
                    final.append(r)
                    seen.add(r.section["id"])
                continue
            rep = self._replacement(r, qvec)
            if rep is not None and rep.section["id"] not in seen:
                final.append(rep)
                seen.add(rep.section["id"])
        return final[:k]

    @staticmethod
    def _explain_order(final: list[Result]) -> None:
        """Say why, on every result whose score is not between its neighbours' and that is ranked by
        something else: a replacement (ranked by the score of the result it replaces) or a demoted
        result. The others are in score order by construction, so every break in the shown order has
        a result next to it that says why."""
        for i, r in enumerate(final):
            prev = final[i - 1].score if i else float("inf")
            nxt = final[i + 1].score if i + 1 < len(final) else float("-inf")
            if prev + _EPS >= r.score >= nxt - _EPS:
                continue
            if r.replaces and r.replaced:
                if abs(r.score - r.replaced["score"]) <= 1e-4:
                    continue  # ranked by its own score all the same (a copy with the same text)
                r.out_of_order = f"takes the rank of the result it replaces (score {r.replaced['score']:.3f})"
            elif r.demoted:
                better = "ok" if r.verdict == "warn" else "ok and warn"
                r.out_of_order = f"demoted ({r.verdict}) below the {better} results"

    def content_sections(self, section: dict[str, Any], qvec: np.ndarray | None = None) -> list[dict[str, Any]]:
        """The sections with text that stand for `section`: itself when it has text, else the
        subsections it introduces (page order, or best score first when there is a query)."""
        if has_text(section):
            return [section]
        page = self.by_doc_sections.get(section["document_id"], [])
        out: list[dict[str, Any]] = []
        inside = False
        for s in page:
            if s["id"] == section["id"]:
                inside = True
                continue
            if not inside:
                continue
            if s["level"] <= section["level"]:
                break
            if has_text(s):
                out.append(s)
        if qvec is not None and len(out) > 1:
            out.sort(key=lambda s: -self._score(s, qvec, 0.0))
        return out

    def _score(self, section: dict[str, Any], qvec: np.ndarray | None, default: float) -> float:
        if qvec is None:
            return default
        try:
            return float(self.index.reconstruct(section["key"]) @ qvec)
        except RuntimeError:
            return default

    def follow_newer(self, newer: dict[str, Any] | None, qvec: np.ndarray | None = None,
                     score: float = 1.0) -> Result | None:
        """The section to hand over instead of a blocked one: `newer`, or (when it has no text) the
        subsection it introduces, following chains of newer sections; None if all are blocked."""
        hops = 0
        visited: set[str] = set()
        while newer and hops < 5:
            sec = self.by_id.get(newer.get("section_id"))
            if sec is None or sec["id"] in visited:
                return None
            visited.add(sec["id"])
            nxt = None
            for cand in self.content_sections(sec, qvec):
                res = self._result(cand, self._score(cand, qvec, score))
                if res.verdict != "block":
                    if cand["id"] != sec["id"]:
                        res.resolved_from = {"section_id": sec["id"], "path": sec["path"], "heading": sec["heading"]}
                    return res
                if nxt is None:
                    nxt = res.newer
            newer, hops = nxt, hops + 1
        return None

    def _replacement(self, blocked: Result, qvec: np.ndarray | None) -> Result | None:
        """The newer section a blocked result points to, following chains, if it is not blocked itself."""
        rep = self.follow_newer(blocked.newer, qvec, blocked.score)
        if rep is None:
            return None
        b = blocked.section
        rep.replaces = b["id"]
        rep.replaced = {"section_id": b["id"], "path": b["path"], "heading": b["heading"],
                        "heading_path": b["heading_path"], "changed_at": b.get("changed_at"),
                        "verdict": blocked.verdict, "score": round(float(blocked.score), 4)}
        why: dict[str, Any] = {"name": "replacement", "kind": "replacement", "level": "info",
                               "message": f"replaces {b['path']} §{b['heading']}: "
                                          + (blocked.reasons[0]["message"] if blocked.reasons else "blocked"),
                               "replaced_reasons": blocked.reasons}
        if rep.resolved_from:
            why["resolved_from"] = rep.resolved_from  # the newer section is a heading over this one
        rep.reasons = [why] + rep.reasons
        return rep

    # ------------------------------------------------------------------ agents' own chunks

    def check_chunks(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verdicts for chunks an agent retrieved from its own store, one per chunk, in order.

        A chunk is ``{"section_id": ...}``, ``{"path": ..., "heading": ...}`` or ``{"text": ...}``, or
        any mix (``path`` / ``heading`` / ``section_id`` may also sit in a ``metadata`` object; other
        keys, like an ``id``, are passed through). A chunk is matched to the **current** wiki first:
        its section id, or its path and heading (a heading may be the markdown heading the text starts
        with), then its text (leading heading lines stripped) against every live section's text; only
        then to past versions: text exactly or nearly equal to an *earlier* version of a section means
        the agent holds an old copy ("the 2023 version of X; X changed on ..."), even when its store
        was built months ago. ``whole_section`` says the chunk is its section's current text (or names
        the section and holds no text), not a part of it or an old version; such a chunk that holds
        the same section as an earlier one says so with ``duplicate_of`` (the earlier chunk's position).
        """
        out: list[dict[str, Any]] = []
        pending: list[tuple[int, _Chunk]] = []
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, dict):
                raise ValueError(f"chunk {i}: expected an object with section_id, path+heading or text")
            c = _Chunk.of(chunk)
            res = self._check_known(chunk, c)
            out.append(res if res is not None else {})
            if res is None:
                pending.append((i, c))
        if pending:
            vecs = self.embed([c.embedding_input() for _, c in pending])
            for j, (i, c) in enumerate(pending):
                out[i] = self._check_text(chunks[i], c, vecs[j])
        first: dict[str, int] = {}
        for i, res in enumerate(out):
            sid = res.get("section_id")
            res["whole_section"] = whole = bool(sid and res.get("whole_section"))
            if whole and sid:
                if sid in first:
                    res["duplicate_of"] = first[sid]
                else:
                    first[sid] = i
        return out

    def _annotated(self, chunk: dict[str, Any], section: dict[str, Any] | None, match: str, verdict: str | None = None,
                   reasons: list[dict[str, Any]] | None = None, newer: dict[str, Any] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
        res: dict[str, Any] = {"chunk": chunk, "match": match}
        if section is not None:
            r = self._result(section, 1.0)
            res.update({k: v for k, v in r.to_json().items()
                        if k not in ("text", "score", "demoted", "out_of_order", "label")})
            res["verdict"] = verdict or r.verdict
            res["reasons"] = (reasons or []) + r.reasons if verdict else r.reasons
            res["newer"] = newer or r.newer
        else:
            res.update({"verdict": verdict or "ok", "reasons": reasons or [], "newer": newer, "section_id": None})
        res.update(extra or {})
        return res

    def _current(self, chunk: dict[str, Any], section: dict[str, Any], match: str,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The chunk is the current text of `section` (or names it and holds no text)."""
        return self._annotated(chunk, section, match, extra={**(extra or {}), "whole_section": True})

    @staticmethod
    def _unknown(chunk: dict[str, Any], message: str) -> dict[str, Any]:
        return {"chunk": chunk, "match": "none", "verdict": "warn", "reasons": [{
            "kind": "unknown_section", "level": "warning", "name": "unknown-section", "message": message}],
            "newer": None, "section_id": None}

    def _check_known(self, chunk: dict[str, Any], c: _Chunk) -> dict[str, Any] | None:
        """Match by id, path and heading, or exact text; None when only a similarity search can tell."""
        if c.section_id:
            sec = self.by_id.get(c.section_id)
            if sec is not None:
                return self._confirm(chunk, c, sec, "section_id")
            # a section that is gone: its text may live on elsewhere (current first), else it is its last version
            live = self._prefer([s for h in c.hashes for s in self.by_body.get(h, [])], c)
            if live is not None:
                return self._current(chunk, live, "exact")
            last = self.store.latest_version(c.section_id)
            if last:
                return self._old_version(chunk, last, "section_id")
            if not c.text and not c.path:
                return self._unknown(chunk, f"section {c.section_id} is not in this wiki")
        if c.path:
            sec = self._by_path(c)
            if sec is not None:
                return self._confirm(chunk, c, sec, "path")
            if not c.text:
                return self._unknown(chunk, f"no section {c.heading!r} on {c.path} in the wiki now")
        if not c.text:
            raise ValueError("a chunk needs section_id, path (+ heading) or text")
        if not c.body:
            return None  # headings only: nothing to compare word for word
        # the current wiki first: a live section with exactly this text
        live = self._prefer([s for h in c.hashes for s in self.by_body.get(h, [])], c)
        if live is not None:
            return self._current(chunk, live, "exact")
        # then the past: an earlier version of a section
        rows = self.store.versions_with_body(c.hashes)
        if rows:
            return self._old_version(chunk, rows[0], "exact")
        return None

    def _heading_matches(self, section: dict[str, Any], c: _Chunk) -> bool:
        names = {_norm_heading(section["heading"]), _norm_heading(" > ".join(section["heading_path"]))}
        return any(_norm_heading(h) in names for h in c.heading_names())

    def _prefer(self, sections: list[dict[str, Any]], c: _Chunk) -> dict[str, Any] | None:
        """Among live sections with the same text: the one under the chunk's heading, then one that is
        not blocked, then the first in page order."""
        if len(sections) <= 1:
            return sections[0] if sections else None
        return min(sections, key=lambda s: (not self._heading_matches(s, c), VERDICT_RANK[self.judge(s)[0]]))

    def _by_path(self, c: _Chunk) -> dict[str, Any] | None:
        """The live section a chunk's path (+ heading, or + the heading its text starts with) names."""
        assert c.path is not None
        secs = self.by_path.get(c.path, [])
        if not secs:
            return None
        for h in c.heading_names():
            sec = self._by_path_heading(c.path, h)
            if sec is not None:
                return sec
        if c.heading:
            return None  # the page has no such heading now
        if c.body:
            # no heading: the section of the page that holds this text now
            live = self._prefer([s for s in secs if s["body_hash"] in c.hashes and has_text(s)], c)
            if live is not None:
                return live
            from .claims import lexical_similarity

            best = max(((lexical_similarity(c.body, s["text"]), s) for s in secs if has_text(s)),
                       key=lambda t: t[0], default=None)
            return best[1] if best is not None and best[0] >= 0.9 else None
        return secs[0]

    def _by_path_heading(self, path: str, heading: str) -> dict[str, Any] | None:
        best = None
        for r in self.by_path.get(path, []):
            if not heading or _norm_heading(r["heading"]) == _norm_heading(heading) \
                    or _norm_heading(" > ".join(r["heading_path"])) == _norm_heading(heading):
                if best is None or (heading and r["line_start"] < best["line_start"]):
                    best = r
                if not heading:
                    break
        return best

    def _confirm(self, chunk: dict[str, Any], c: _Chunk, sec: dict[str, Any], match: str) -> dict[str, Any]:
        """The chunk names `sec` (id or path). Its text, if any, is this section's current text, part of
        it (the section's verdict), or an earlier version of it (blocked, with the diff)."""
        from .claims import lexical_similarity

        if not c.body:
            return self._current(chunk, sec, match)
        cur_sim = max((lexical_similarity(v, sec["text"]) for v in c.variants), default=0.0) if has_text(sec) else 0.0
        if sec["body_hash"] in c.hashes or cur_sim >= 0.9:
            return self._current(chunk, sec, match)
        best: tuple[float, dict[str, Any]] | None = None
        for v in reversed(self.store.versions(sec["id"])):
            if v["valid_to"] is None:
                continue
            if v["body_hash"] in c.hashes:
                return self._old_version(chunk, v, match)
            sim = max(lexical_similarity(t, v["text"] or "") for t in c.variants)
            if sim >= 0.85 and sim > cur_sim + _EPS and (best is None or sim > best[0]):
                best = (sim, v)
        if best is not None:
            return self._old_version(chunk, best[1], match)
        return self._annotated(chunk, sec, match)  # a part of the section, or reworded: its verdict

    def _old_version(self, chunk: dict[str, Any], v: dict[str, Any], match: str) -> dict[str, Any]:
        """The chunk is a version of section X. Current → X's verdict; older → block, with the diff."""
        import difflib

        cur = self.by_id.get(v["section_id"])
        hp = json.loads(v["heading_path"] or "[]")
        where = f"{v['path']} §{hp[-1] if hp else '(top)'}"
        if v["valid_to"] is None and cur is not None:
            return self._annotated(chunk, cur, match)
        version = {"valid_from": v["valid_from"], "valid_to": v["valid_to"], "commit": v["commit"],
                   "ended_by_commit": v["ended_by_commit"], "path": v["path"], "heading_path": hp}
        if cur is None:
            msg = (f"this is the {(v['valid_from'] or '?')[:10]} version of {where}, which was removed on "
                   f"{(v['valid_to'] or '?')[:10]}")
            return self._annotated(chunk, None, match, "block", [{
                "kind": "obsolete", "level": "error", "name": "old-version", "message": msg}], None,
                {"version": version, "path": v["path"], "heading_path": hp})
        # a heading whose text went into subsections: the agent is pointed at the first of them
        target = (self.content_sections(cur) or [cur])[0]
        diff = "\n".join(difflib.unified_diff(
            (v.get("text") or "").split("\n"), target["text"].split("\n"), "then", "now", lineterm="", n=1))
        msg = (f"this is the {(v['valid_from'] or '?')[:10]} version of {where}; it changed on "
               f"{(v['valid_to'] or '?')[:10]}" + (f" (commit {v['ended_by_commit'][:10]})" if v.get("ended_by_commit") else ""))
        newer = {"path": target["path"], "heading": target["heading"], "heading_path": target["heading_path"],
                 "section_id": target["id"], "changed_at": target["changed_at"], "source": target["source"]}
        return self._annotated(chunk, cur, match, "block", [{
            "kind": "superseded", "level": "error", "name": "old-version", "message": msg,
            "evidence": {"diff": diff[:4000], "version": version}}], newer,
            {"version": version})

    def _check_text(self, chunk: dict[str, Any], c: _Chunk, vec: np.ndarray) -> dict[str, Any]:
        """Match by similarity: the current text of a section first, then earlier versions, then the
        nearest section when it is not ok."""
        from .claims import lexical_similarity

        body = c.body or (c.text or "")
        variants = c.variants or [body]
        scores, keys = self.index.search(vec[None, :], 10)
        hits = [(self.sections[int(key)], float(sc)) for key, sc in zip(keys[0], scores[0])
                if int(key) >= 0 and int(key) in self.sections and has_text(self.sections[int(key)])]

        def lex(t: str) -> float:
            return max(lexical_similarity(x, t) for x in variants)

        # 1. a live section whose text this is (under the chunk's heading first)
        cur = [(self._heading_matches(sec, c), lex(sec["text"]), sc, sec) for sec, sc in hits]
        best_cur = max((t for t in cur if t[1] >= 0.9), key=lambda t: t[:3], default=None)
        # 2. an earlier wording of a section on one of those pages (or one removed from it)
        best_past: tuple[float, dict[str, Any]] | None = None
        compared: set[str] = set()
        for doc_id in dict.fromkeys(sec["document_id"] for sec, _ in hits[:5]):
            for v in self.store.ended_versions(doc_id):
                if v["body_hash"] in compared:  # the same wording again (reverted, or on another page)
                    continue
                compared.add(v["body_hash"])
                sim = lex(v["text"] or "")
                if sim >= 0.85 and (best_past is None or sim > best_past[0]):
                    best_past = (sim, v)
        if best_past is not None and (best_cur is None or (
                best_past[1]["section_id"] == best_cur[3]["id"] and best_past[0] > best_cur[1] + _EPS)):
            # closer to an earlier version of this very section than to its text now
            return self._old_version(chunk, best_past[1], "near")
        if best_cur is not None:
            return self._current(chunk, best_cur[3], "near", {"similarity": round(best_cur[2], 4)})
        # 3. nothing holds this text: the nearest section, when it is not ok
        near = next(((sec, sc) for sec, sc in hits if sc >= 0.8), None)
        if near is not None:
            r = self._result(near[0], near[1])
            if r.verdict != "ok":
                return self._annotated(chunk, near[0], "nearest", extra={"similarity": round(near[1], 4)})
        return self._annotated(chunk, None, "none", extra={"similarity": round(hits[0][1], 4) if hits else None})

    # ------------------------------------------------------------------ exposure

    def _record(self, runs: list[list[Result]], withheld: list[list[str]] | None = None) -> None:
        from .dates import now_iso

        ts = now_iso()
        rows: list[tuple[str, str, str, str | None]] = []
        for results in runs:
            for r in results:
                rows.append((ts, r.section["id"], "replaced" if r.replaces else r.verdict, r.replaces))
        for ids in withheld or []:
            rows.extend((ts, sid, "block", None) for sid in ids)
        try:
            self.store.record_guard_events(rows)
        except Exception:  # noqa: BLE001 - exposure is best effort; a read-only store must still serve
            pass


def guard_runs_json(query: str, policy: str, results: Iterable[Result]) -> dict[str, Any]:
    return {"version": 1, "query": query, "policy": policy, "results": [r.to_json() for r in results]}


__all__ = ["Guard", "GuardConfig", "POLICIES", "Result", "guard_runs_json", "shown_level"]
