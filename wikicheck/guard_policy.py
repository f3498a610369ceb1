"""The retrieval guard's verdicts and policies: what a section's findings make of it, and what the
agent is handed instead of a blocked section (Guard delegates here; see wikicheck.guard).

Policies:
* ``annotate``: keep the ranking, label every result;
* ``demote``: blocked results go below every other result, warned ones below the ok ones;
* ``block`` (default): blocked results are removed; the newer section they point to takes their
  place, marked ``replaces``, once (no duplicates).

Order: results come by score (the similarity shown) except where a result says why not: a
replacement keeps the rank of the result it replaces (``replaces``), and the demote policy puts
results with a worse verdict lower (``demoted``); such a result carries ``out_of_order``, the
reason, whenever its score does not fall between its neighbours'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import env_flag
from .guard_rows import GuardSections, has_text
from .index import VectorIndex
from .owners import OwnerResolver
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


def shown_level(verdict: str, reasons: list[dict[str, Any]]) -> str:
    """The tag a result is shown with: its verdict, except that a warning that only info findings
    make is shown as "info" (#12: an info finding was shown as WARN). The note a replacement carries
    about the section it replaces is not one of its own findings."""
    if verdict != "warn":
        return verdict
    levels = [r.get("level") for r in reasons if r.get("kind") != "replacement"]
    return "info" if levels and all(lv == "info" for lv in levels) else "warn"


class Verdicts:
    """Verdicts of the sections a Guard loaded, the three policies, and the walk to a newer section.

    In memory: which findings (their ids, in the order of Store.latest_findings) concern each
    section and each page. The findings themselves, the sections and the pages are read from the
    guard's snapshot for the results at hand (`rows`), a bounded number of findings cached."""

    _CACHE = 20000  # findings kept decoded between queries

    def __init__(self, config: GuardConfig, index: VectorIndex, rows: GuardSections,
                 by_section: dict[str, list[int]], by_document: dict[str, list[int]], owners: OwnerResolver):
        self.config, self.index, self.rows = config, index, rows
        self.by_section, self.by_document = by_section, by_document
        self.owners = owners
        self._findings: dict[int, dict[str, Any]] = {}

    def findings(self, ids: list[int]) -> list[dict[str, Any]]:
        """The findings with these ids, in this order."""
        missing = [i for i in ids if i not in self._findings]
        if missing:
            if len(self._findings) + len(missing) > self._CACHE:
                self._findings.clear()
            self._findings.update(self.rows.reader.findings_by_ids(missing))
        return [self._findings[i] for i in ids if i in self._findings]

    def judge(self, section: dict[str, Any]) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
        """(verdict, reasons, newer) of one section."""
        ids = self.by_section.get(section["id"], []) + self.by_document.get(section["document_id"], [])
        findings = self.findings(ids) if ids else []
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

    def result(self, section: dict[str, Any], score: float) -> Result:
        verdict, reasons, newer = self.judge(section)
        owner = self.owners.for_section(section, self.rows.document(section["document_id"])).as_text()
        return Result(section, score, verdict, reasons, newer, owner=owner)

    def apply_policy(self, raw: list[tuple[dict[str, Any], float]], k: int, policy: str,
                     qvec: np.ndarray | None = None) -> list[Result]:
        results = [self.result(s, sc) for s, sc in raw if has_text(s)]
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
        page = self.rows.of_document(section["document_id"])
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
            sec = self.rows.by_id(newer.get("section_id"))
            if sec is None or sec["id"] in visited:
                return None
            visited.add(sec["id"])
            nxt = None
            for cand in self.content_sections(sec, qvec):
                res = self.result(cand, self._score(cand, qvec, score))
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
