"""The retrieval guard: vector search whose results carry verdicts, reasons and provenance.

Verdicts come from the findings of the last `wikicheck check` run, looked up per section (and per
page for page-level findings): guarding a result costs a dictionary lookup, never a model call or
a pairwise comparison.

Policies:
* ``annotate``: keep the ranking, label every result;
* ``demote``: blocked results go below every other result, warned ones below the ok ones;
* ``block`` (default): blocked results are removed; the newer section they point to takes their
  place, marked ``replaces``, once (no duplicates).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .check import latest_findings
from .embed import Embedder, get_embedder
from .errors import WikicheckError
from .index import VectorIndex
from .store import Store

POLICIES = ("block", "demote", "annotate")
BLOCK_KINDS = ("superseded", "contradicted", "obsolete", "deprecated", "retired_term")
WARN_KINDS = ("stale", "review_expired", "broken_link", "duplicate")


@dataclass
class GuardConfig:
    block_kinds: tuple[str, ...] = BLOCK_KINDS
    warn_kinds: tuple[str, ...] = WARN_KINDS
    min_block_level: str = "warning"  # findings below this level only warn
    missing_date: str = "warn"  # what a section with no known date gets: ok (fail-open) | warn | block (fail-closed)
    candidates: int = 20  # raw hits considered per query before guarding
    # exposure for the owners' reports; opt out with WIKICHECK_NO_EVENTS=1 or [guard] record-events = false
    record_events: bool = field(default_factory=lambda: os.environ.get("WIKICHECK_NO_EVENTS", "") in ("", "0"))


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

    def to_json(self) -> dict[str, Any]:
        s = self.section
        return {
            "path": s["path"], "heading": s["heading"], "heading_path": s["heading_path"], "section_id": s["id"],
            "source": s["source"], "anchor": s.get("anchor"), "line_start": s.get("line_start"),
            "score": round(float(self.score), 4), "verdict": self.verdict, "reasons": self.reasons,
            "newer": self.newer, "replaces": self.replaces, "replaced": self.replaced,
            "provenance": {"changed_at": s.get("changed_at"), "author": s.get("author"), "commit": s.get("commit"),
                           "timestamp_source": s.get("timestamp_source"), "owner": self.owner},
            "text": s["text"],
        }


_LEVEL = {"info": 0, "warning": 1, "error": 2}


class Guard:
    """A search index opened once, for many queries (CLI batch mode, HTTP and MCP services)."""

    def __init__(self, index_dir: str | Path, *, embedder: Embedder | None = None, config: GuardConfig | None = None):
        self.index_dir = Path(index_dir)
        self.store = Store.open(index_dir)
        self.config = config or GuardConfig()
        model = self.store.model_id()
        if not model:
            raise WikicheckError(f"index {index_dir} has no embeddings yet; run \"wikicheck crawl\" first")
        self.embedder = embedder or get_embedder(model)
        if self.embedder.model_id != model:
            raise WikicheckError(f'index {index_dir} was embedded with "{model}", not "{self.embedder.model_id}"')
        self.index = VectorIndex.load(self.store, index_dir, model)
        self.reload()

    def _state(self) -> tuple[Any, Any]:
        run = self.store.db.execute("select max(id) from check_runs where status = 'ok'").fetchone()[0]
        crawl = self.store.db.execute("select max(id) from crawls where status = 'ok'").fetchone()[0]
        return run, crawl

    def refresh(self) -> bool:
        """Reload when a crawl or a check finished since the last load (for long-running services).

        Costs two indexed queries when nothing changed. Returns True when it reloaded."""
        state = self._state()
        if state == self._loaded_state:
            return False
        if state[1] != self._loaded_state[1]:
            from .index import VectorIndex

            self.index = VectorIndex.load(self.store, self.index_dir, self.embedder.model_id)
        self.reload()
        return True

    def reload(self) -> None:
        """Re-read sections and verdicts (after a crawl or check)."""
        self._loaded_state = self._state()
        self.sections = {r["key"]: r for r in self.store.sections()}
        self.by_id = {r["id"]: r for r in self.sections.values()}
        # lookups for an agent's own chunks (sections come in path, line order: the first one wins)
        self.by_body: dict[str, dict[str, Any]] = {}
        self.by_path: dict[str, list[dict[str, Any]]] = {}
        for r in self.by_id.values():
            self.by_body.setdefault(r["body_hash"], r)
            self.by_path.setdefault(r["path"], []).append(r)
        self.docs = {d["id"]: d for d in self.store.documents()}
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
        for f in sorted(findings, key=lambda f: -_LEVEL[f["level"]]):
            reasons.append({
                "rule": f["rule"], "name": f["name"], "kind": f["kind"], "level": f["level"], "message": f["message"],
                "evidence": f["evidence"], "newer": f["newer"], "fingerprint": f["fingerprint"],
            })
            if f["kind"] in self.config.block_kinds and _LEVEL[f["level"]] >= _LEVEL[self.config.min_block_level]:
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
        doc = self.docs.get(section["document_id"]) or {}
        return Result(section, score, verdict, reasons, newer, owner=doc.get("owner"))

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
                   if int(key) >= 0 and int(key) in self.sections]
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
        results = [self._result(s, sc) for s, sc in raw]
        if policy == "annotate":
            return results[:k]
        if policy == "demote":
            rank = {"ok": 0, "warn": 1, "block": 2}
            return sorted(results, key=lambda r: rank[r.verdict])[:k]  # stable: keeps similarity order
        final: list[Result] = []
        seen: set[str] = set()
        for r in results:
            if r.verdict != "block":
                # a copy of a current section gives its place to the section it copies
                dup = next((x for x in r.reasons if x["kind"] == "duplicate" and x.get("newer")), None)
                if dup is not None:
                    rep = self._replacement(Result(r.section, r.score, "block", [dup], dup["newer"]), qvec)
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

    def _replacement(self, blocked: Result, qvec: np.ndarray | None) -> Result | None:
        """The newer section a blocked result points to, following chains, if it is not blocked itself."""
        newer = blocked.newer
        hops = 0
        while newer and hops < 5:
            sec = self.by_id.get(newer["section_id"])
            if sec is None:
                return None
            score = blocked.score
            if qvec is not None:
                try:
                    score = float(self.index.reconstruct(sec["key"]) @ qvec)
                except RuntimeError:
                    pass
            rep = self._result(sec, score)
            if rep.verdict != "block":
                rep.replaces = blocked.section["id"]
                b = blocked.section
                rep.replaced = {"section_id": b["id"], "path": b["path"], "heading": b["heading"],
                                "heading_path": b["heading_path"], "changed_at": b.get("changed_at"),
                                "verdict": "block"}
                rep.reasons = [{"name": "replacement", "kind": "replacement", "level": "info",
                                "message": f"replaces {blocked.section['path']} §{blocked.section['heading']}: "
                                           + (blocked.reasons[0]["message"] if blocked.reasons else "blocked"),
                                "replaced_reasons": blocked.reasons}] + rep.reasons
                return rep
            newer, hops = rep.newer, hops + 1
        return None

    # ------------------------------------------------------------------ agents' own chunks

    def check_chunks(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verdicts for chunks an agent retrieved from its own store.

        A chunk is ``{"section_id": ...}``, ``{"path": ..., "heading": ...}`` or ``{"text": ...}`` (other
        keys, like an ``id`` or ``metadata``, are passed through). Raw text is matched to the current
        wiki: exactly or nearly equal to a *past* version of a section means the agent holds an old
        copy ("the 2023 version of X; X changed on ..."), even when the agent's store was built
        months ago.
        """
        out: list[dict[str, Any]] = []
        pending: list[int] = []
        for i, chunk in enumerate(chunks):
            if not isinstance(chunk, dict):
                raise ValueError(f"chunk {i}: expected an object with section_id, path+heading or text")
            res = self._check_known(chunk)
            out.append(res if res is not None else {})
            if res is None:
                pending.append(i)
        if pending:
            texts = [str(chunks[i].get("text") or "") for i in pending]
            vecs = self.embed(texts)
            for j, i in enumerate(pending):
                out[i] = self._check_text(chunks[i], texts[j], vecs[j])
        return out

    def _annotated(self, chunk: dict[str, Any], section: dict[str, Any] | None, match: str, verdict: str | None = None,
                   reasons: list[dict[str, Any]] | None = None, newer: dict[str, Any] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
        res: dict[str, Any] = {"chunk": chunk, "match": match}
        if section is not None:
            r = self._result(section, 1.0)
            res.update({k: v for k, v in r.to_json().items() if k not in ("text", "score")})
            res["verdict"] = verdict or r.verdict
            res["reasons"] = (reasons or []) + r.reasons if verdict else r.reasons
            res["newer"] = newer or r.newer
        else:
            res.update({"verdict": verdict or "ok", "reasons": reasons or [], "newer": newer, "section_id": None})
        res.update(extra or {})
        return res

    def _check_known(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        sid = chunk.get("section_id")
        if sid:
            sec = self.by_id.get(sid)
            if sec is not None:
                return self._annotated(chunk, sec, "section_id")
            return self._gone(chunk, sid)
        if chunk.get("path"):
            sec = self._by_path_heading(str(chunk["path"]), str(chunk.get("heading") or ""))
            if sec is not None:
                return self._annotated(chunk, sec, "path")
            if not chunk.get("text"):
                return self._annotated(chunk, None, "none", "warn", [{
                    "kind": "unknown_section", "level": "warning", "name": "unknown-section",
                    "message": f"no section {chunk.get('heading')!r} on {chunk['path']} in the wiki now"}])
        text = chunk.get("text")
        if not text:
            raise ValueError("a chunk needs section_id, path (+ heading) or text")
        from .model import text_hash

        h = text_hash(str(text))
        live = self.by_body.get(h)
        if live is not None:
            return self._annotated(chunk, live, "exact")
        rows = list(self.store.db.query(
            "select * from section_versions where body_hash = ? order by valid_from desc", [h]))
        if rows:
            return self._old_version(chunk, rows[0], "exact")
        return None

    def _by_path_heading(self, path: str, heading: str) -> dict[str, Any] | None:
        norm = lambda x: re.sub(r"[\s*_`]+", " ", x).strip().lower()  # noqa: E731
        best = None
        for r in self.by_path.get(path, []):
            if not heading or norm(r["heading"]) == norm(heading) or norm(" > ".join(r["heading_path"])) == norm(heading):
                if best is None or (heading and r["line_start"] < best["line_start"]):
                    best = r
                if not heading:
                    break
        return best

    def _gone(self, chunk: dict[str, Any], sid: str) -> dict[str, Any]:
        rows = list(self.store.db.query(
            "select * from section_versions where section_id = ? order by valid_from desc limit 1", [sid]))
        if not rows:
            return self._annotated(chunk, None, "none", "warn", [{
                "kind": "unknown_section", "level": "warning", "name": "unknown-section",
                "message": f"section {sid} is not in this wiki"}])
        return self._old_version(chunk, rows[0], "section_id")

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
        diff = "\n".join(difflib.unified_diff(
            (v.get("text") or "").split("\n"), cur["text"].split("\n"), "then", "now", lineterm="", n=1))
        msg = (f"this is the {(v['valid_from'] or '?')[:10]} version of {where}; it changed on "
               f"{(v['valid_to'] or '?')[:10]}" + (f" (commit {v['ended_by_commit'][:10]})" if v.get("ended_by_commit") else ""))
        newer = {"path": cur["path"], "heading": cur["heading"], "heading_path": cur["heading_path"],
                 "section_id": cur["id"], "changed_at": cur["changed_at"], "source": cur["source"]}
        return self._annotated(chunk, cur, match, "block", [{
            "kind": "superseded", "level": "error", "name": "old-version", "message": msg,
            "evidence": {"diff": diff[:4000], "version": version}}], newer,
            {"version": version})

    def _check_text(self, chunk: dict[str, Any], text: str, vec: np.ndarray) -> dict[str, Any]:
        from .claims import lexical_similarity

        scores, keys = self.index.search(vec[None, :], 5)
        best = None
        for key, sc in zip(keys[0], scores[0]):
            sec = self.sections.get(int(key))
            if sec is None:
                continue
            lex = lexical_similarity(text, sec["text"])
            if lex >= 0.9:
                return self._annotated(chunk, sec, "near", extra={"similarity": round(float(sc), 4)})
            # an older wording of this section, or of one that was removed from its page
            for v in self.store.db.query(
                    "select * from section_versions where document_id = ? and valid_to is not null",
                    [sec["document_id"]]):
                if lexical_similarity(text, v["text"] or "") >= 0.85:
                    return self._old_version(chunk, v, "near")
            if best is None and float(sc) >= 0.8:
                best = (sec, float(sc))
        if best is not None:
            sec, sc = best
            r = self._result(sec, sc)
            if r.verdict != "ok":
                return self._annotated(chunk, sec, "nearest", extra={"similarity": round(sc, 4)})
        return self._annotated(chunk, None, "none", extra={"similarity": round(float(scores[0][0]), 4) if len(scores[0]) else None})

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
            with self.store.transaction():
                self.store.db.conn.executemany(
                    "insert into guard_events (at, section_id, verdict, replaces) values (?, ?, ?, ?)", rows)
        except Exception:  # noqa: BLE001 - exposure is best effort; a read-only store must still serve
            pass


def guard_runs_json(query: str, policy: str, results: Iterable[Result]) -> dict[str, Any]:
    return {"version": 1, "query": query, "policy": policy, "results": [r.to_json() for r in results]}


__all__ = ["Guard", "GuardConfig", "POLICIES", "Result", "guard_runs_json"]
