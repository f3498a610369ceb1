"""Contradictions (WC202 contradicted).

Sections of different pages on the same topic (nearest neighbours in the faiss index) that give a
conflicting value for the same setting (a flag, a port, a timeout) or opposite instructions. The
older one is contradicted by the newer. Copied pages are left to wikicheck.drift.pages.
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..claims import Claim, ClaimDiff, _overlap
from .core import Corpus, Hit, Sec, day, summary
from .identity import PageIdentity, title_words
from .pages import CopiedPages


class Contradictions:
    def __init__(self, corpus: Corpus, identity: PageIdentity, pages: CopiedPages):
        self.c = corpus
        self.ident = identity
        self.pages = pages
        self._page_claim_cache: dict[str, dict[tuple[str, str], list[tuple[Claim, Sec]]]] = {}

    def _same_topic(self, a: str, b: str) -> bool:
        """The page titles share their main words: "Refund batch runs" and "Refund processing"."""
        wa, wb = title_words(self.ident.title(a)), title_words(self.ident.title(b))
        if not wa or not wb:
            return False
        return len(wa & wb) / min(len(wa), len(wb)) >= 0.5

    def contradictions(self, skip: set[str]) -> list[Hit]:
        """Pages on the same topic that give conflicting values for the same settings.

        Compared page against page (the values of a setting can sit in differently named sections),
        for page pairs found through nearest-neighbour sections. One conflicting number is weak
        evidence: it takes two conflicting settings, or one conflicting flag of the same program,
        or opposite instructions."""
        c, ident = self.c, self.ident
        out: list[Hit] = []
        copies = set(self.pages.page_pairs())
        cand: set[tuple[str, str]] = set()
        for sid, ns in c.neighbours().items():
            a = c.secs[sid].row["document_id"]
            for nid, sim in ns:
                b = c.secs[nid].row["document_id"]
                if a != b and sim >= c.opt.min_similarity:
                    pair = (min(a, b), max(a, b))
                    if pair not in copies:
                        cand.add(pair)
        for a, b in sorted(cand):
            if not self._same_topic(a, b) or ident.moved_between(a, b) or ident.siblings(a, b):
                continue
            ea, eb = self._page_eff(a), self._page_eff(b)
            if not ea or not eb or _days_between(ea, eb) < max(c.opt.min_days_apart, 30):
                continue
            old_doc, new_doc = (a, b) if ea < eb else (b, a)
            conflicts = self._page_conflicts(old_doc, new_doc)
            strong = [x for x in conflicts if x[0].type in ("flag", "instruction")]
            if len(conflicts) < c.opt.min_conflicts and not strong:
                continue
            by_section: dict[str, list[tuple[Claim, Claim, Sec]]] = defaultdict(list)
            conflicts.sort(key=lambda x: (x[0].type, x[0].key, x[0].value, x[1].value))
            for old_c, new_c, old_s, new_s in conflicts:
                by_section[old_s.row["id"]].append((old_c, new_c, new_s))
            for sid, items in by_section.items():
                if sid in skip:
                    continue
                old = c.secs[sid]
                new = max((n for _, _, n in items), key=lambda n: sum(1 for *_, m in items if m is n))
                dd = ClaimDiff([], [], [(o, n) for o, n, _ in items])
                msg = (f"contradicted by {new.row['path']} §{new.row['heading'] or '(top)'} "
                       f"(changed {day(c.eff_date(new))}): {summary(dd)}")
                ev = c.evidence(old, new, dd, {"match": "same topic", "page_conflicts": len(conflicts),
                                               "similarity": round(c.cos(old, new), 3),
                                               "history": {**c.why_not_own(old, None, new), "reason": (
                                                   "pages on one topic that disagree; neither page's history passes "
                                                   "through the other (no rename or move links them), and this one "
                                                   "changed in substance first")}})
                out.append(Hit("contradicted", "contradicted", sid, new.row["id"], msg, ev, key=new.row["id"]))
        return out

    def _page_eff(self, doc_id: str) -> str | None:
        dates = [self.c.eff_date(s) for s in self.c.by_doc.get(doc_id, [])]
        known = [d for d in dates if d]
        return max(known) if known else None

    def _page_claims(self, doc_id: str) -> dict[tuple[str, str], list[tuple[Claim, Sec]]]:
        cache = self._page_claim_cache
        if doc_id not in cache:
            m: dict[tuple[str, str], list[tuple[Claim, Sec]]] = defaultdict(list)
            for s in self.c.by_doc.get(doc_id, []):
                for c in self.c.claims(s):
                    if c.type in ("flag", "port", "quantity", "instruction") and c.key:
                        m[(c.type, c.key if c.type != "instruction" else "")].append((c, s))
            cache[doc_id] = m
        return cache[doc_id]

    def _page_conflicts(self, old_doc: str, new_doc: str) -> list[tuple[Claim, Claim, Sec, Sec]]:
        po, pn = self._page_claims(old_doc), self._page_claims(new_doc)
        out = []
        for key in sorted(set(po) & set(pn)):
            if key[0] == "instruction":
                for oc, os_ in po[key]:
                    for nc, ns in pn[key]:
                        # across two pages: opposite polarity about the same thing (three or more
                        # content words in common, most of the shorter sentence)
                        if oc.key != nc.key and _overlap(oc.value, nc.value) >= 0.6 and _shared(oc.value, nc.value) >= max(
                                3, 0.4 * max(len(oc.value.split()), len(nc.value.split()))):
                            out.append((oc, nc, os_, ns))
                continue
            ov = {c.value for c, _ in po[key]}
            nv = {c.value for c, _ in pn[key]}
            # one value on each side, and they differ: a setting that changed
            if len(ov) == 1 and len(nv) == 1 and ov != nv and all(v for v in ov | nv):
                oc, os_ = po[key][0]
                nc, ns = pn[key][0]
                if _contradiction(oc, nc):
                    out.append((oc, nc, os_, ns))
        return out


def _contradiction(a: Claim, b: Claim) -> bool:
    """Conflicting values that are a real disagreement, not two unrelated settings."""
    if a.type == "flag":
        flag = a.key.split()[-1]
        # a file the reader supplies (`--cert /path/to/cert.pem`, `--config ./my-cm.yaml`) is an
        # example argument, not a setting two pages can disagree on
        if _FILE_ARG.search(_arg(a.value)) or _FILE_ARG.search(_arg(b.value)):
            return False
        # nor is a name the reader picks (`--recipient slack:my-channel`): settings are numbers,
        # durations, sizes, versions or switches
        if not (_SETTING.search(_arg(a.value)) and _SETTING.search(_arg(b.value))):
            return False
        return flag.startswith("--") and len(flag) > 4 and " " in a.key
    if a.type == "quantity":
        return bool(a.key) and a.key not in _UNIT_KEYS
    return a.type in ("port", "instruction")


def _arg(value: object) -> str:
    """The value given to a flag: the last word of `prog --flag value`."""
    parts = str(value).split()
    return parts[-1] if parts else ""


def _shared(a: str, b: str) -> int:
    return len(set(str(a).split()) & set(str(b).split()))


_SETTING = re.compile(r"\d|^(true|false|yes|no|on|off|enabled?|disabled?|always|never|none)$", re.I)
_FILE_ARG = re.compile(r"/|\\|\.[A-Za-z][A-Za-z0-9]{0,4}$|^<.*>$")
_UNIT_KEYS = {"ms", "s", "m", "h", "d", "w", "%", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "bytes"}


def _days_between(a: str | None, b: str | None) -> float:
    from ..dates import to_datetime

    if not a or not b:
        return 0.0
    return abs((to_datetime(b) - to_datetime(a)).total_seconds()) / 86400
