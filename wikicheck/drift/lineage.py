"""Lineage (WC203 copy-lineage, and WC204 duplicate for copies of current text).

A section whose text equals (or nearly equals) a *past* version of a section on another page,
which has since changed in substance or been removed. The history says which text is older,
whatever the file dates say.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ..claims import diff_claims
from ..lexical import changed_share, containment, lexical_similarity, tokens
from .align import title_section
from .core import Corpus, Hit, Sec, day, summary
from .identity import PageIdentity, norm_heading
from .pages import CopiedPages
from .steps import StepChanges

# of the verdicts on the closest texts, the one that is kept
_STRENGTH = {"superseded": 0, "obsolete": 1, "duplicate": 2}


class Lineage:
    def __init__(self, corpus: Corpus, identity: PageIdentity, pages: CopiedPages):
        self.c = corpus
        self.ident = identity
        self.pages = pages
        self._live_by_body: dict[str, list[Sec]] | None = None
        self.steps = StepChanges(corpus, identity)

    def lineage(self) -> list[Hit]:
        c = self.c
        out: list[Hit] = []
        neigh = c.neighbours()
        live_ids = set(c.secs)
        for s in c.secs.values():
            text = s.row["text"]
            ntok = len(tokens(text))
            doc = s.row["document_id"]
            # a short text is evidence of copying only where the history shows its page was made from
            # the other page as a whole (ident.origin): then it is compared with that page alone
            only_from = None
            if ntok < c.opt.lineage_min_tokens:
                only_from = self.ident.origin(doc) if ntok else None
                if only_from is None:
                    continue
            cands: dict[int, tuple[dict[str, Any], float]] = {}
            for v in c.by_body.get(s.row["body_hash"], []):
                if v["document_id"] != doc:
                    cands[v["id"]] = (v, 1.0)
            near_docs = set()
            for nid, sim in neigh.get(s.row["id"], []):
                if sim < c.opt.min_similarity:
                    continue
                t = c.secs[nid]
                if t.row["document_id"] == doc:
                    continue
                near_docs.add(t.row["document_id"])
                for v in c.versions.get(nid, []):
                    if v["id"] not in cands:
                        cands[v["id"]] = (v, -1.0)
            # sections that are gone from a neighbouring page can only be reached through its history
            for d in near_docs:
                for v in c.doc_versions.get(d, []):
                    if v["section_id"] not in live_ids and v["id"] not in cands:
                        cands[v["id"]] = (v, -1.0)
            if only_from is not None:
                cands = {vid: x for vid, x in cands.items() if x[0]["document_id"] == only_from}
            close: list[tuple[float, dict[str, Any]]] = []
            for vid, (v, lex) in cands.items():
                if lex < 0:
                    lex = lexical_similarity(text, c.vtext(vid))
                    if lex < c.opt.near_copy:
                        continue
                close.append((lex, v))
            if not close:
                continue
            scored: list[tuple[float, dict[str, Any]]] = close
            if len(close) > 1:  # the claims only rank several close texts: one is the closest whatever they say
                my_claims = c.claims(s)
                scored = []
                for lex, v in close:
                    diff = diff_claims(my_claims, c.text_claims(c.vtext(v["id"])))
                    scored.append((lex - 0.05 * (len(diff.old_only) + len(diff.new_only) + 2 * len(diff.conflicts)), v))
            # the closest texts; several can tie (the source and other copies of it say the same):
            # judge each, and keep the strongest verdict (a copy of a text that changed at its source
            # is stale whatever other copies of it exist)
            top = max(sc for sc, _ in scored)
            ties = sorted((x for x in scored if x[0] >= top - 1e-9), key=lambda x: (x[1]["valid_from"] or "", x[1]["id"]))
            found = [h for h in (self._lineage_hit(s, v, ntok) for _, v in ties) if h is not None]
            if found:
                out.append(min(found, key=lambda h: _STRENGTH.get(h.kind, 9)))
        return out

    def _lineage_hit(self, s: Sec, v: dict[str, Any], ntok: int) -> Hit | None:
        c, ident, pages = self.c, self.ident, self.pages
        sid = s.row["id"]
        anc = c.ancestry(sid)
        if v["id"] in anc:
            return None  # this section's own text at an earlier address: a rename, a move, a revert
        # a section that said this (or nearly this) before the other one did is the original, not the
        # copy; at the same moment, one commit that gives two pages the same text is a shared edit
        vt = None
        mine = []
        for x in anc:
            xr = c.vrow[x]
            if xr["body_hash"] in (s.row["body_hash"], v["body_hash"]):
                mine.append(xr["valid_from"])
                continue
            if v["valid_from"] and (xr["valid_from"] or "") <= v["valid_from"]:
                vt = vt if vt is not None else c.vtext(v["id"])
                if lexical_similarity(c.vtext(x), vt) >= c.opt.near_copy:
                    mine.append(xr["valid_from"])
        if mine and v["valid_from"] and min(x or "" for x in mine) <= v["valid_from"]:
            return None
        vdoc = v["document_id"]
        siblings = ident.siblings(s.row["document_id"], vdoc)
        same_page = ident.same_runbook(s.row["document_id"], vdoc)
        exact = v["body_hash"] == s.row["body_hash"]
        # templated runbooks repeat short boilerplate sections; only a matching page or a long,
        # specific text makes equal text evidence of copying
        if not same_page and not (exact and ntok >= 3 * c.opt.lineage_min_tokens):
            return None
        if not same_page and len({w["document_id"] for w in c.by_body.get(v["body_hash"], [])}) > 2:
            return None  # a template's text that many runbooks carried: one of them moving on says nothing of the rest
        since = v["valid_from"]
        where = f"{v['path']} §{' > '.join(json.loads(v['heading_path'])[-1:]) or '(top)'}"
        # where that text lives now: its own section, or wherever a rename or a move took it
        homes = [h for h, _ in c.history.homes(v["id"], c.secs) if h != sid]
        origin: Sec | None = None
        if homes:
            origin = max((c.secs[h] for h in homes), key=lambda t: (c.cos(s, t), t.row["id"]))
        if v["valid_to"] is None:
            if origin is None or origin.row["id"] != v["section_id"]:
                return None
            pair = (min(s.row["document_id"], vdoc), max(s.row["document_id"], vdoc))
            if pair in pages.page_pairs():
                return None  # copied pages: the page-level direction decides which one is the copy
            # a copy of a current section: flag the copy (the later of the two), and only when the two
            # say the same thing; different claims are the copied-page rule's business
            if (c.eff_date(s) or "", s.row["path"]) < (c.eff_date(origin) or "", origin.row["path"]):
                return None
            if diff_claims(c.claims(s), c.claims(origin)).substantive:
                return None
            # the same text on another runbook (a step two runbooks share): a fact for the owners, but
            # not a reason to hand an agent the other runbook in its place
            return Hit("lineage", "duplicate", s.row["id"], origin.row["id"],
                       f"{'identical' if exact else 'nearly identical'} to {where}, which is current",
                       {"match": "exact" if exact else "near", "source_version": _vjson(v),
                        "same_runbook": bool(same_page and not siblings)}, level=None,
                       key=origin.row["id"])
        if siblings:
            # pages of one template about their own subjects: the other page moving on says nothing
            # about this one (a word-for-word copy of a current section above is still a duplicate)
            return None
        if origin is None:
            origin = _successor(c, v)
        if origin is not None and origin.row["id"] != sid:
            # two copies of one runbook: the page that is ahead as a whole (its commands and values are
            # the newer ones) is not a stale copy of the other because one of its sections reads like
            # an older version of the other's (a note or a review line the other page added later)
            if pages.newer_page(s.row["document_id"], origin.row["document_id"]) == s.row["document_id"]:
                return None
            if pages.is_split(s, origin):
                return None  # the source page only gave part of this text a heading of its own since
            if origin.row["document_id"] != vdoc:  # the text moved to another page since
                where = f"{where} (now {origin.row['path']} §{origin.row['heading'] or '(top)'})"
            cur_claims = c.claims(origin)
            d_src = diff_claims(c.text_claims(c.vtext(v["id"])), cur_claims)
            d_me = diff_claims(c.claims(s), cur_claims)
            # the history shows a copy of an older text; the source then changed a command, a value
            # or a setting, or was rewritten beyond a near copy of what it said (a new procedure in
            # prose is still a new procedure)
            # (prose alone only where the history shows this page was made from that one, and only a
            # rewrite: text taken out or replaced, not a note added to what was there)
            # (the cheap tests first: the two diffs are the costly ones)
            made_from = ident.origin(s.row["document_id"]) == vdoc
            rewritten = (made_from
                         and containment(c.vtext(v["id"]), origin.row["text"]) < 0.9
                         and changed_share(c.vtext(v["id"]), origin.row["text"]) > c.opt.prose_changed_share
                         and changed_share(s.row["text"], origin.row["text"]) > c.opt.prose_changed_share)
            steps: tuple[list[str], list[str]] = ([], [])
            raw: tuple[list[str], list[str]] | None = None  # the sentences added and taken out, unfiltered
            if not ((d_src.substantive and d_me.substantive) or rewritten) and made_from:
                # a step the source added since (or advice it took out) is a change of substance too.
                # But a note added to one of two copies reads the same in either direction: the history
                # of a wiki migrated after its team copies shows the current page "made from" a copy
                # that later got its team's note. So where the claims on the rest of the two pages do
                # not put the source ahead, only a sentence of this runbook's own counts: not one that
                # other runbooks say too (a team's note, a review line, the channel to ask in), and
                # never under the page's title, where a copy says what it is
                steps = raw = self.steps.changes(c.vtext(v["id"]), origin.row["text"], s.row["text"])
                if (steps[0] or steps[1]) and pages.ahead_by_claims(
                        s.row["document_id"], origin.row["document_id"]) != origin.row["document_id"]:
                    if title_section(s) or title_section(origin):
                        steps = ([], [])
                    else:
                        both = (s.row["document_id"], origin.row["document_id"])
                        steps = ([x for x in steps[0] if not self.steps.template_line(x, both)],
                                 [x for x in steps[1] if not self.steps.template_line(x, both)])
            if not ((d_src.substantive and d_me.substantive) or rewritten or steps[0] or steps[1]):
                # the text is still good (only the wording moved on). The guard hands the agent the
                # current wording where the history or the pages say which is the copy; without that (a
                # repository without history) the "older" wording may be the current page's
                sure = (made_from
                        or pages.newer_page(s.row["document_id"], origin.row["document_id"]) == origin.row["document_id"])
                return Hit("lineage", "duplicate", s.row["id"], origin.row["id"],
                           f"copy of an older wording of {where}; it changed on {day(v['valid_to'])} in wording only",
                           {"match": "exact" if exact else "near", "source_version": _vjson(v),
                            "claims": d_me.to_json(), "gives_place": sure}, key=origin.row["id"])
            what = summary(d_me)
            if not d_me.substantive and not (steps[0] or steps[1]):
                # superseded for a claim of the source or a rewrite: the message still names a sentence
                steps = raw if raw is not None else self.steps.changes(c.vtext(v["id"]), origin.row["text"], s.row["text"])
            if not d_me.substantive and (steps[0] or steps[1]):
                what = (f"the newer section adds \"{_clip(steps[0][0])}\"" if steps[0]
                        else f"the newer section no longer says \"{_clip(steps[1][0])}\"")
            msg = (f"{'identical' if exact else 'nearly identical'} to {where} as of {day(since)}"
                   f"{_commit(v['commit'])}; that section changed on {day(v['valid_to'])}{_commit(v['ended_by_commit'])}"
                   f": {what}")
            ev = c.evidence(s, origin, d_me, {"match": "exact" if exact else "near", "source_version": _vjson(v),
                                              "history": c.why_not_own(s, v)})
            return Hit("lineage", "superseded", s.row["id"], origin.row["id"], msg, ev, key=origin.row["id"])
        if origin is not None:
            return None
        # the text was deleted from its page (or the page was deleted), and went nowhere. That makes
        # a copy obsolete only when it is a copy of that runbook: a section two runbooks share is not
        # wrong for one of them because the other dropped it
        if not same_page:
            return None
        # the same text elsewhere at HEAD: this is a duplicate of that live section, not obsolete
        for t in self._live_with_text(s, v):
            return Hit("lineage", "duplicate", sid, t.row["id"],
                       f"{'identical' if exact else 'nearly identical'} to {t.row['path']} §{t.row['heading'] or '(top)'}, "
                       f"which is current ({where} was removed on {day(v['valid_to'])})",
                       {"match": "exact" if exact else "near", "source_version": _vjson(v)}, key=t.row["id"])
        page = c.docs.get(vdoc)
        newer = None
        if page and page.get("removed_at") is None:
            best = max(c.by_doc.get(vdoc, []), key=lambda t: c.cos(s, t), default=None)
            newer = best.row["id"] if best is not None and tokens(best.row["text"]) else None
        gone = "page was removed" if not page or page.get("removed_at") else "section was removed from its page"
        msg = (f"{'identical' if exact else 'nearly identical'} to {where} as of {day(since)}{_commit(v['commit'])}; "
               f"that {gone} on {day(v['valid_to'])}{_commit(v['ended_by_commit'])}")
        return Hit("lineage", "obsolete", s.row["id"], newer, msg,
                   {"match": "exact" if exact else "near", "source_version": _vjson(v), "removed_at": v["valid_to"],
                    "history": c.why_not_own(s, v)},
                   key=v["section_id"])

    def _live_with_text(self, s: Sec, v: dict[str, Any]) -> list[Sec]:
        """Live sections other than `s` (and other than its earlier addresses) that carry `v`'s text."""
        c = self.c
        if self._live_by_body is None:
            self._live_by_body = defaultdict(list)
            for t in c.secs.values():
                self._live_by_body[t.row["body_hash"]].append(t)
        out = [t for t in self._live_by_body.get(v["body_hash"], []) if t.row["id"] != s.row["id"]]
        if out:
            return out
        text = None
        for nid, sim in c.neighbours().get(s.row["id"], []):
            if sim < c.opt.min_similarity:
                continue
            text = text if text is not None else c.vtext(v["id"])
            t = c.secs[nid]
            if lexical_similarity(text, t.row["text"]) >= c.opt.near_copy:
                out.append(t)
        return out


def _vjson(v: dict[str, Any]) -> dict[str, Any]:
    return {"path": v["path"], "heading_path": json.loads(v["heading_path"]), "valid_from": v["valid_from"],
            "valid_to": v["valid_to"], "commit": v["commit"], "ended_by_commit": v["ended_by_commit"]}


def _commit(c: str | None) -> str:
    return f" (commit {c[:10]})" if c else ""


def _clip(sentence: str, limit: int = 120) -> str:
    one = " ".join(sentence.split())
    return one if len(one) <= limit else one[: limit - 1].rstrip() + "…"


def _successor(c: Corpus, v: dict[str, Any]) -> Sec | None:
    """The live section that took over a section id that is gone: same heading on the same page.

    A page whose title (H1) changed gives all its sections new ids; they are not removed."""
    hp = json.loads(v["heading_path"])
    if not hp:
        return None
    secs = c.by_doc.get(v["document_id"], [])
    want = norm_heading(hp[-1])
    for t in secs:
        thp = t.row["heading_path"]
        if thp and norm_heading(thp[-1]) == want and len(thp) == len(hp):
            return t
    # a heading that was extended ("Diagnosis" -> "Diagnosis (platform team)")
    words = set(want.split())
    for t in secs:
        thp = t.row["heading_path"]
        if thp and len(thp) == len(hp) and words and words <= set(norm_heading(thp[-1]).split()):
            return t
    # or the same text under another heading
    text = c.vtext(v["id"])
    for t in secs:
        if lexical_similarity(text, t.row["text"]) >= c.opt.near_copy:
            return t
    return None
