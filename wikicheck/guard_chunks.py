"""The retrieval guard on an agent's own chunks: each matched to a section of the current wiki, or to an
earlier version of one (Guard.check_chunks)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .guard_policy import _EPS, Verdicts, has_text
from .guard_rows import GuardSections
from .index import VectorIndex
from .store import Store
from .vocabulary import VERDICT_RANK

_HEADING_LINE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


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


def _unknown(chunk: dict[str, Any], message: str) -> dict[str, Any]:
    return {"chunk": chunk, "match": "none", "verdict": "warn", "reasons": [{
        "kind": "unknown_section", "level": "warning", "name": "unknown-section", "message": message}],
        "newer": None, "section_id": None}


class ChunkMatcher:
    """Chunks to verdicts, over the sections a Guard loaded and the history in its store."""

    def __init__(self, store: Store, index: VectorIndex, rows: GuardSections, verdicts: Verdicts,
                 embed: Callable[[list[str]], np.ndarray]):
        self.store, self.index, self.rows, self.verdicts, self.embed = store, index, rows, verdicts, embed

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
            r = self.verdicts.result(section, 1.0)
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

    def _check_known(self, chunk: dict[str, Any], c: _Chunk) -> dict[str, Any] | None:
        """Match by id, path and heading, or exact text; None when only a similarity search can tell."""
        if c.section_id:
            sec = self.rows.by_id(c.section_id)
            if sec is not None:
                return self._confirm(chunk, c, sec, "section_id")
            # a section that is gone: its text may live on elsewhere (current first), else it is its last version
            live = self._prefer([s for h in c.hashes for s in self.rows.with_body(h)], c)
            if live is not None:
                return self._current(chunk, live, "exact")
            last = self.store.latest_version(c.section_id)
            if last:
                return self._old_version(chunk, last, "section_id")
            if not c.text and not c.path:
                return _unknown(chunk, f"section {c.section_id} is not in this wiki")
        if c.path:
            sec = self._by_path(c)
            if sec is not None:
                return self._confirm(chunk, c, sec, "path")
            if not c.text:
                return _unknown(chunk, f"no section {c.heading!r} on {c.path} in the wiki now")
        if not c.text:
            raise ValueError("a chunk needs section_id, path (+ heading) or text")
        if not c.body:
            return None  # headings only: nothing to compare word for word
        # the current wiki first: a live section with exactly this text
        live = self._prefer([s for h in c.hashes for s in self.rows.with_body(h)], c)
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
        return min(sections, key=lambda s: (not self._heading_matches(s, c), VERDICT_RANK[self.verdicts.judge(s)[0]]))

    def _by_path(self, c: _Chunk) -> dict[str, Any] | None:
        """The live section a chunk's path (+ heading, or + the heading its text starts with) names."""
        assert c.path is not None
        secs = self.rows.at_path(c.path)
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
            from .lexical import lexical_similarity

            best = max(((lexical_similarity(c.body, s["text"]), s) for s in secs if has_text(s)),
                       key=lambda t: t[0], default=None)
            return best[1] if best is not None and best[0] >= 0.9 else None
        return secs[0]

    def _by_path_heading(self, path: str, heading: str) -> dict[str, Any] | None:
        best = None
        for r in self.rows.at_path(path):
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
        from .lexical import lexical_similarity

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

        cur = self.rows.by_id(v["section_id"])
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
        target = (self.verdicts.content_sections(cur) or [cur])[0]
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
        from .lexical import lexical_similarity

        body = c.body or (c.text or "")
        variants = c.variants or [body]
        scores, keys = self.index.search(vec[None, :], 10)
        got = self.rows.many(int(key) for key in keys[0] if int(key) >= 0)
        hits = [(got[int(key)], float(sc)) for key, sc in zip(keys[0], scores[0])
                if int(key) in got and has_text(got[int(key)])]

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
            r = self.verdicts.result(near[0], near[1])
            if r.verdict != "ok":
                return self._annotated(chunk, near[0], "nearest", extra={"similarity": round(near[1], 4)})
        return self._annotated(chunk, None, "none", extra={"similarity": round(hits[0][1], 4) if hits else None})
