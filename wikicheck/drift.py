"""Drift analysis: which sections are superseded, contradicted or obsolete, and by what.

Three kinds of evidence, strongest first:

* **Lineage.** A section whose text equals (or nearly equals) a *past* version of a section on
  another page, which has since changed in substance or been removed. The history says which text
  is older, whatever the file dates say.
* **Copied pages.** Two pages that are the same runbook (matching titles, sections that align by
  heading) but whose aligned sections state different claims (commands, hosts, flags, ports,
  paths, quantities). The older one, by the date of its last *substantive* change, is superseded.
  The direction is voted over the whole page: a page is copied as a whole, so one section touched
  later by a cosmetic edit does not turn a stale copy into the current page.
* **Contradictions.** Sections of different pages on the same topic (nearest neighbours in the
  faiss index) that give a conflicting value for the same setting (a flag, a port, a timeout) or
  opposite instructions. The older one is contradicted by the newer.

Candidate pairs come from k nearest neighbours in embedding space; nothing is compared all-pairs.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from .claims import (
    ClaimDiff,
    _overlap,
    containment,
    diff_claims,
    extract_claims,
    lexical_similarity,
    tokens,
)
from .history import HistoryOptions, SectionHistory
from .store import Store


@dataclass
class DriftOptions:
    k: int = 10
    min_similarity: float = 0.6  # cosine for a neighbour to be a candidate at all
    min_aligned: float = 0.5  # share of the smaller page's sections that align with the other page
    near_copy: float = 0.85  # lexical similarity for "nearly equal" to a past version
    lineage_min_tokens: int = 12
    min_days_apart: float = 1.0
    prose_change: float = 0.85  # below this lexical similarity, prose counts as changed (claims settled the direction)
    rewrite: float = 0.6  # below this, a prose rewrite counts on its own (dates settled the direction)
    min_conflicts: int = 2  # conflicting settings it takes to call two pages contradictory
    move_window_days: float = 7.0  # text removed here and added there this close in time moved (wikicheck.history)


@dataclass
class Hit:
    rule: str  # "superseded" | "lineage" | "contradicted" | "duplicate"
    kind: str  # finding kind: superseded | contradicted | obsolete | duplicate
    section_id: str
    newer_id: str | None
    message: str
    evidence: dict[str, Any]
    level: str | None = None  # None: the rule's configured level
    key: str = ""


@dataclass
class _Sec:
    row: dict[str, Any]
    i: int  # row in the vector matrix, -1 without a vector
    eff: str | None = None


# words that say what kind of page it is, not what it is about: "Northbound Stale Alert" and
# "NorthboundStale" are the same runbook
_TITLE_STOP = {
    "the", "a", "an", "of", "and", "for", "to", "in", "on", "how", "howto", "runbook", "runbooks", "playbook",
    "alert", "alerts", "guide", "procedure", "procedures", "notes", "note", "page", "doc", "docs", "sop", "wiki",
    "copy", "old", "draft", "legacy", "archived", "deprecated", "team", "readme", "index", "faq",
}
# folders and file names that say where a page sits, not what it is about
_PATH_STOP = {"services", "service", "teams", "runbooks", "alerts", "content", "pages", "docs", "readme", "index",
              "wiki", "oncall", "playbooks", "playbook", "operator", "manual", "user", "guide", "src", "site"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


_WORD = re.compile(r"[0-9]+(?:\.[0-9]+)+|[A-Za-z0-9]+")  # a version ("2.1", "v2.5") is one word


def title_words(title: str) -> set[str]:
    words = set()
    for w in _WORD.findall(_CAMEL.sub(" ", title or "")):
        w = w.lower()
        if len(w) > 1 and w not in _TITLE_STOP:
            words.add(w[:-1] if len(w) > 4 and w.endswith("s") else w)
    return words


_DECORATION = re.compile(r"^\s*[^:]{1,40}:\s+(?=\S)|\[[^\]]*\]|\((?:old|copy|archived?|deprecated|draft|legacy|[^)]{0,30}team)\)|\s+[-–—|]\s+.*$", re.I)


_QUALIFIER = re.compile(r"\s*\([^()]{1,40}\)\s*$")  # "Teams (Office 365 Connectors)": a qualifier after the name


def title_keys(title: str) -> set[str]:
    """Ways to recognise the same runbook title: "Checkout: Restart PgBouncer", "Restart PgBouncer (old)",
    "Teams (Office 365 Connectors)" for "Teams"."""
    keys = set()
    bare = _DECORATION.sub(" ", title)
    for t in {title, bare, _QUALIFIER.sub("", bare)}:
        words = title_words(t)
        if words:
            keys.add(" ".join(sorted(words)))
            keys.add(re.sub(r"[^a-z0-9]", "", t.lower()))
    keys.discard("")
    return keys


def _norm_heading(h: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", h.lower()).strip()


# neighbours fetched beyond k, so that a tie at the k-th place is broken the same way on every run
TIE_MARGIN = 8


class Drift:
    def __init__(self, store: Store, model_id: str, options: DriftOptions | None = None, index: Any = None):
        self.store = store
        self.index = index  # a loaded VectorIndex that matches the store, or None
        self.opt = options or DriftOptions()
        self.model_id = model_id
        rows = store.sections()
        keys, vecs = store.live_vectors(model_id)
        pos = {int(k): i for i, k in enumerate(keys)}
        self.vecs = vecs
        self.secs: dict[str, _Sec] = {r["id"]: _Sec(r, pos.get(r["key"], -1)) for r in rows}
        self.by_key = {s.row["key"]: s for s in self.secs.values()}
        self.by_doc: dict[str, list[_Sec]] = defaultdict(list)
        for s in self.secs.values():
            self.by_doc[s.row["document_id"]].append(s)
        self.docs = {d["id"]: d for d in store.documents("known_from = 'crawl'")}  # removed ones too
        self.keys = keys
        self._versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._by_body: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._by_doc_versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._past_titles: dict[str, set[str]] = defaultdict(set)
        self._vrow: dict[int, dict[str, Any]] = {}
        for v in store.all_versions():
            self._versions[v["section_id"]].append(v)
            self._vrow[v["id"]] = v
            self._by_body[v["body_hash"]].append(v)
            self._by_doc_versions[v["document_id"]].append(v)
            if v["valid_to"] is not None:
                hp = json.loads(v["heading_path"])
                if len(hp) == 1:
                    self._past_titles[v["document_id"]].add(hp[0])
        self._vtext: dict[int, str] = {}
        # text-level history: renames, moves, splits and merges link a section to its earlier addresses
        self.history = SectionHistory(
            (v for vs in self._versions.values() for v in vs), store.renames(), self.vtext,
            HistoryOptions(window_days=self.opt.move_window_days, near=self.opt.near_copy,
                           min_tokens=self.opt.lineage_min_tokens))
        self._ancestry: dict[str, set[int]] = {}
        self._body_pages: dict[str, int] | None = None
        self._live_by_body: dict[str, list[_Sec]] | None = None
        self._words: dict[str, set[str]] = {}
        self._origins: dict[str, str | None] = {}
        self._made_from: dict[tuple[str, str], str] = {}  # page pair -> the page the other was made from
        self._votes: dict[tuple[str, str], tuple[list[tuple[_Sec, _Sec, Any]], int]] = {}
        self._by_title: dict[str, set[str]] | None = None  # live pages by title key
        self._chain: dict[str, list[dict[str, Any]]] = {}
        self._neigh: dict[str, list[tuple[str, float]]] | None = None
        self._pairs: dict[tuple[str, str], list[tuple[_Sec, _Sec]]] | None = None
        self._title_keys: dict[str, set[str]] = {}
        self._page_claim_cache: dict[str, dict[tuple[str, str], list[tuple[Any, _Sec]]]] = {}

    # ------------------------------------------------------------------ helpers

    def same_runbook(self, a: str, b: str) -> bool:
        """Two pages are the same runbook when their titles match once team prefixes and tags are dropped.

        A page's current title counts against the other's current or past titles (a copy keeps the
        title of the version it was made from), never two past titles against each other (pages made
        from one template share the template's first title). And a page that was made from the other
        and then given a title of its own is a sibling of it, not a copy."""
        ca, cb = self._keys(a), self._keys(b)
        if ca & cb:
            return True
        if ca & self._keys(b, past=True) and not self._derived(b, a):
            return True
        if cb & self._keys(a, past=True) and not self._derived(a, b):
            return True
        return False

    def siblings(self, a: str, b: str) -> bool:
        """Pages named for different subjects that each describe their own: one README per service,
        one page per alert. `services/checkout-api/README.md` speaks of checkout and never of
        payments, `services/payments-api/README.md` the other way round: what their texts differ in
        is their own names, so they are siblings of one template, not a copy and its source."""
        pa, pb = self._path_words(a), self._path_words(b)
        ida, idb = pa - pb, pb - pa
        if not ida or not idb:
            return False
        wa, wb = self._page_words(a), self._page_words(b)
        return bool(ida & wa) and not (ida & wb) and bool(idb & wb) and not (idb & wa)

    def _doc_path(self, doc_id: str) -> str:
        d = self.docs.get(doc_id)
        if d is not None:
            return str(d["path"])
        vs = self._by_doc_versions.get(doc_id)
        return str(vs[-1]["path"]) if vs else ""

    def _path_words(self, doc_id: str) -> set[str]:
        key = "path:" + doc_id
        if key not in self._words:
            path = self._doc_path(doc_id).rsplit(".", 1)[0]
            self._words[key] = {w for w in title_words(re.sub(r"[/_.-]+", " ", path)) if len(w) > 2} - _PATH_STOP
        return self._words[key]

    def _page_words(self, doc_id: str) -> set[str]:
        """Every word of a page as it is now (or, for a page that is gone, as it last was)."""
        key = "text:" + doc_id
        if key not in self._words:
            live = self.by_doc.get(doc_id)
            if live:
                texts = [t.row["heading"] + "\n" + t.row["text"] for t in live]
            else:
                last: dict[str, dict[str, Any]] = {}
                for v in self._by_doc_versions.get(doc_id, []):
                    last[v["section_id"]] = v
                texts = [" ".join(json.loads(v["heading_path"])) + "\n" + self.vtext(v["id"]) for v in last.values()]
            words: set[str] = set()
            for t in texts:
                words |= title_words(t)
            self._words[key] = words
        return self._words[key]

    def _keys(self, doc_id: str, past: bool = False) -> set[str]:
        """Title keys of a page: its current title (and H1), or with `past` the titles it had before."""
        cache = self._title_keys
        ck = ("past:" if past else "") + doc_id
        if ck not in cache:
            keys: set[str] = set()
            if past:
                for hp in self._past_titles.get(doc_id, ()):
                    keys |= title_keys(hp)
            else:
                # a declared title (front matter, <title>) says which runbook this is; the H1 only
                # when there is none (a page copied from another often keeps the other's H1)
                d = self.docs.get(doc_id) or {}
                if d.get("title"):
                    keys |= title_keys(str(d["title"]))
                else:
                    head = self._title_section(doc_id)
                    if head is not None:
                        keys |= title_keys(str(head.row["heading"]))
            cache[ck] = keys
        return cache[ck]

    def _origin(self, x: str) -> str | None:
        """The page `x` was made from, when its history says so: at its first commit, every section it
        had with text said word for word what one other page said just before (each of those texts
        on that page alone: boilerplate many pages say is no one page's), and together they are more
        than a stub. None when no page did (or the page was written on its own)."""
        if x in self._origins:
            return self._origins[x]
        xs = self._by_doc_versions.get(x, [])
        found: str | None = None
        if xs:
            t0 = min(v["valid_from"] or "" for v in xs)
            born = [v for v in xs if (v["valid_from"] or "") == t0 and tokens(self.vtext(v["id"]))]
            if sum(len(tokens(self.vtext(v["id"]))) for v in born) < 5:
                born = []
            votes: dict[str, int] = defaultdict(int)
            own = 0  # sections with text of its own (boilerplate that many pages say is no one's)
            for v in born:
                hv = self.history.v.get(v["id"])
                if hv is not None and hv.links_in:
                    continue  # the text moved here (a rename, a move): the page's own earlier address
                # within one source: two systems' clocks (a commit date, a wiki page's own date) cannot
                # say which page was made from which
                docs = {w["document_id"] for w in self._by_body.get(v["body_hash"], [])
                        if w["document_id"] != x and w["source"] == v["source"] and (w["valid_from"] or "") < t0
                        and (w["valid_to"] is None or w["valid_to"] >= t0)}
                if len(docs) > 1:
                    continue  # text many pages said ("TODO", a template line) is no one page's
                own += 1
                if docs:
                    votes[docs.pop()] += 1
            if votes:
                # a copy is made whole: every section of its own it was born with said what the source
                # said; a page written anew that repeats some sections of another (a migration of the
                # current text next to an old copy) was not made from it
                doc, n = max(votes.items(), key=lambda kv: (kv[1], kv[0]))
                if n == own:
                    found = doc
        self._origins[x] = found
        return found

    def _derived(self, x: str, y: str) -> bool:
        """True when page `x` was made from page `y`: when `x` first appeared, some of its sections
        said what `y`'s sections said at that moment (specific text, not a line of boilerplate)."""
        xs = self._by_doc_versions.get(x, [])
        if not xs:
            return False
        t0 = min(v["valid_from"] or "" for v in xs)
        born = [v for v in xs if (v["valid_from"] or "") == t0]
        # what `y` said just before: pages written in one commit are siblings, neither made from the other
        then = [v for v in self._by_doc_versions.get(y, [])
                if (v["valid_from"] or "") < t0 and (v["valid_to"] is None or v["valid_to"] >= t0)]
        if not then:
            return False
        bodies = {v["body_hash"] for v in then}
        for v in born:
            text = self.vtext(v["id"])
            if len(tokens(text)) < self.opt.lineage_min_tokens:
                continue
            if v["body_hash"] in bodies or any(lexical_similarity(text, self.vtext(w["id"])) >= self.opt.near_copy
                                               for w in then):
                return True
        return False

    def _title_section(self, doc_id: str) -> _Sec | None:
        """The section whose heading is the page's title: its H1, or on a page without one (docs
        sites that render the title from front matter or start at ##) its first top-level heading."""
        secs = [t for t in self.by_doc.get(doc_id, []) if t.row["level"] >= 1 and t.row["heading"]]
        if not secs:
            return None
        top = min(t.row["level"] for t in secs)
        first = min(secs, key=lambda t: t.row["line_start"])
        return first if first.row["level"] == top else None

    def title(self, doc_id: str) -> str:
        d = self.docs.get(doc_id) or {}
        if d.get("title"):
            return str(d["title"])
        head = self._title_section(doc_id)
        if head is not None:
            return str(head.row["heading"])
        return re.sub(r"[-_]", " ", str(d.get("path", "")).rsplit("/", 1)[-1].rsplit(".", 1)[0])

    def vtext(self, vid: int) -> str:
        if vid not in self._vtext:
            self._vtext[vid] = self.store.version_text(vid)
        return self._vtext[vid]

    def neighbours(self) -> dict[str, list[tuple[str, float]]]:
        """k nearest neighbours of every live section, from the index on disk when it matches the
        store (exact below the HNSW threshold, a graph above), else from an index built here."""
        if self._neigh is not None:
            return self._neigh
        import faiss

        from .index import HNSW_THRESHOLD

        out: dict[str, list[tuple[str, float]]] = defaultdict(list)
        n = len(self.keys)
        if n:
            # more than k: identical texts have identical vectors, and which of a tie the search
            # returns at the cut depends on the BLAS blocking of the moment (threads, load). Ties are
            # broken below by section id, on similarities rounded below float noise
            k = min(self.opt.k + 1 + TIE_MARGIN, n)
            x = np.ascontiguousarray(self.vecs, dtype="float32")
            if self.index is not None and self.index.index.ntotal == n:
                sims, found = self.index.search(x, k)  # ids are section keys
            else:
                if n <= HNSW_THRESHOLD:
                    index = faiss.IndexFlatIP(x.shape[1])
                else:
                    index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
                    index.hnsw.efConstruction = 64
                    index.hnsw.efSearch = 64
                index.add(x)
                sims, pos = index.search(x, k)
                found = np.where(pos >= 0, self.keys[np.clip(pos, 0, n - 1)], -1)
            for i in range(n):
                mine = int(self.keys[i])
                me = self.by_key[mine].row["id"]
                got = [(self.by_key[int(key)].row["id"], float(sim)) for key, sim in zip(found[i], sims[i])
                       if int(key) >= 0 and int(key) != mine and int(key) in self.by_key]
                got.sort(key=lambda t: (-round(t[1], 5), t[0]))
                out[me].extend(got[:self.opt.k])
        self._neigh = out
        return out

    def cos(self, a: _Sec, b: _Sec) -> float:
        if a.i < 0 or b.i < 0:
            return 0.0
        return float(self.vecs[a.i] @ self.vecs[b.i])

    def claims(self, s: _Sec):  # type: ignore[no-untyped-def]
        return extract_claims(s.row["text"])

    def eff_date(self, s: _Sec) -> str | None:
        """When the section last changed in substance: cosmetic edits (wording, notes, links) don't count."""
        if s.eff is not None:
            return s.eff
        vs = self.chain(s.row["id"])
        if not vs:
            s.eff = s.row["changed_at"]
            return s.eff
        cur = vs[-1]
        for prev in reversed(vs[:-1]):
            if prev["valid_to"] is None:
                continue
            d = diff_claims(extract_claims(self.vtext(prev["id"])), extract_claims(self.vtext(cur["id"])))
            if d.substantive:
                break
            cur = prev
        s.eff = cur["valid_from"] or s.row["changed_at"]
        return s.eff

    def ancestry(self, section_id: str) -> set[int]:
        """Version ids of this section's text at its own and at its earlier addresses."""
        if section_id not in self._ancestry:
            self._ancestry[section_id] = self.history.ancestry(section_id)
        return self._ancestry[section_id]

    def chain(self, section_id: str) -> list[dict[str, Any]]:
        """This section's versions, oldest first, preceded by those at its earlier addresses (a
        renamed page, a moved section): one history, whatever the path was at the time."""
        if section_id in self._chain:
            return self._chain[section_id]
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        sid: str | None = section_id
        upto: int | None = None
        while sid is not None and sid not in seen:
            seen.add(sid)
            own = self._versions.get(sid, [])
            if upto is not None:
                own = own[: next((i + 1 for i, v in enumerate(own) if v["id"] == upto), len(own))]
            out[:0] = own
            sid = upto = None
            if own:
                first = self.history.v.get(own[0]["id"])
                preds = [self.history.v[p] for p, how in (first.links_in if first else [])
                         if how in ("rename", "same", "near")]
                if preds:
                    p = max(preds, key=lambda x: x.valid_to or "")
                    sid, upto = p.section_id, p.id
        self._chain[section_id] = out
        return out

    def _evidence(self, old: _Sec, new: _Sec, diff: ClaimDiff, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "claims": diff.to_json(),
            "old": {"changed_at": old.row["changed_at"], "substantive_change": self.eff_date(old),
                    "commit": old.row["commit"], "author": old.row["author"]},
            "new": {"changed_at": new.row["changed_at"], "substantive_change": self.eff_date(new),
                    "commit": new.row["commit"], "author": new.row["author"], "path": new.row["path"],
                    "heading": new.row["heading"]},
            **extra,
        }

    # ------------------------------------------------------------------ analysis

    def analyse(self, enabled: set[str] | None = None) -> list[Hit]:
        """One verdict per section: the strongest evidence among the enabled analyses.

        `enabled` names the analyses whose rules are switched on ("lineage", "superseded",
        "contradicted", "duplicate"); None means all."""
        on = enabled if enabled is not None else {"lineage", "superseded", "contradicted", "duplicate"}
        hits: dict[str, Hit] = {}

        def wanted(h: Hit) -> bool:
            return ("duplicate" in on) if h.kind == "duplicate" else (h.rule in on)

        if "lineage" in on or "duplicate" in on:
            for h in self.lineage():
                if wanted(h):
                    hits.setdefault(h.section_id, h)
        if "superseded" in on or "duplicate" in on:
            for h in self.copied_pages():
                if not wanted(h):
                    continue
                prev = hits.get(h.section_id)
                if prev is None or (prev.kind == "duplicate" and h.kind != "duplicate"):
                    hits[h.section_id] = h
        if "contradicted" in on:
            for h in self.contradictions(set(k for k, v in hits.items() if v.kind != "duplicate")):
                hits.setdefault(h.section_id, h)
        return sorted(hits.values(), key=lambda h: (self.secs[h.section_id].row["path"], self.secs[h.section_id].row["line_start"]))

    # lineage ---------------------------------------------------------

    def lineage(self) -> list[Hit]:
        out: list[Hit] = []
        neigh = self.neighbours()
        live_ids = set(self.secs)
        for s in self.secs.values():
            text = s.row["text"]
            ntok = len(tokens(text))
            if ntok < self.opt.lineage_min_tokens:
                continue
            doc = s.row["document_id"]
            cands: dict[int, tuple[dict[str, Any], float]] = {}
            for v in self._by_body.get(s.row["body_hash"], []):
                if v["document_id"] != doc:
                    cands[v["id"]] = (v, 1.0)
            near_docs = set()
            for nid, sim in neigh.get(s.row["id"], []):
                if sim < self.opt.min_similarity:
                    continue
                t = self.secs[nid]
                if t.row["document_id"] == doc:
                    continue
                near_docs.add(t.row["document_id"])
                for v in self._versions.get(nid, []):
                    if v["id"] not in cands:
                        cands[v["id"]] = (v, -1.0)
            # sections that are gone from a neighbouring page can only be reached through its history
            for d in near_docs:
                for v in self._doc_versions(d):
                    if v["section_id"] not in live_ids and v["id"] not in cands:
                        cands[v["id"]] = (v, -1.0)
            scored: list[tuple[float, dict[str, Any]]] = []
            my_claims = self.claims(s)
            for vid, (v, lex) in cands.items():
                if lex < 0:
                    lex = lexical_similarity(text, self.vtext(vid))
                    if lex < self.opt.near_copy:
                        continue
                d = diff_claims(my_claims, extract_claims(self.vtext(vid)))
                scored.append((lex - 0.05 * (len(d.old_only) + len(d.new_only) + 2 * len(d.conflicts)), v))
            if not scored:
                continue
            # the closest texts; several can tie (the source and other copies of it say the same):
            # judge each, and keep the strongest verdict (a copy of a text that changed at its source
            # is stale whatever other copies of it exist)
            top = max(sc for sc, _ in scored)
            ties = sorted((x for x in scored if x[0] >= top - 1e-9), key=lambda x: (x[1]["valid_from"] or "", x[1]["id"]))
            found = [h for h in (self._lineage_hit(s, v, ntok) for _, v in ties) if h is not None]
            if found:
                out.append(min(found, key=lambda h: _STRENGTH.get(h.kind, 9)))
        return out

    def _doc_versions(self, doc_id: str) -> list[dict[str, Any]]:
        return self._by_doc_versions.get(doc_id, [])

    def _lineage_hit(self, s: _Sec, v: dict[str, Any], ntok: int) -> Hit | None:
        sid = s.row["id"]
        anc = self.ancestry(sid)
        if v["id"] in anc:
            return None  # this section's own text at an earlier address: a rename, a move, a revert
        # a section that said this (or nearly this) before the other one did is the original, not the
        # copy; at the same moment, one commit that gives two pages the same text is a shared edit
        vt = None
        mine = []
        for x in anc:
            xr = self._vrow[x]
            if xr["body_hash"] in (s.row["body_hash"], v["body_hash"]):
                mine.append(xr["valid_from"])
                continue
            if v["valid_from"] and (xr["valid_from"] or "") <= v["valid_from"]:
                vt = vt if vt is not None else self.vtext(v["id"])
                if lexical_similarity(self.vtext(x), vt) >= self.opt.near_copy:
                    mine.append(xr["valid_from"])
        if mine and v["valid_from"] and min(x or "" for x in mine) <= v["valid_from"]:
            return None
        vdoc = v["document_id"]
        siblings = self.siblings(s.row["document_id"], vdoc)
        same_page = self.same_runbook(s.row["document_id"], vdoc)
        exact = v["body_hash"] == s.row["body_hash"]
        # templated runbooks repeat short boilerplate sections; only a matching page or a long,
        # specific text makes equal text evidence of copying
        if not same_page and not (exact and ntok >= 3 * self.opt.lineage_min_tokens):
            return None
        if not same_page and len({w["document_id"] for w in self._by_body.get(v["body_hash"], [])}) > 2:
            return None  # a template's text that many runbooks carried: one of them moving on says nothing of the rest
        since = v["valid_from"]
        where = f"{v['path']} §{' > '.join(json.loads(v['heading_path'])[-1:]) or '(top)'}"
        # where that text lives now: its own section, or wherever a rename or a move took it
        homes = [h for h, _ in self.history.homes(v["id"], self.secs) if h != sid]
        origin: _Sec | None = None
        if homes:
            origin = max((self.secs[h] for h in homes), key=lambda t: (self.cos(s, t), t.row["id"]))
        if v["valid_to"] is None:
            if origin is None or origin.row["id"] != v["section_id"]:
                return None
            pair = (min(s.row["document_id"], vdoc), max(s.row["document_id"], vdoc))
            if pair in self.page_pairs():
                return None  # copied pages: the page-level direction decides which one is the copy
            # a copy of a current section: flag the copy (the later of the two), and only when the two
            # say the same thing; different claims are the copied-page rule's business
            if (self.eff_date(s) or "", s.row["path"]) < (self.eff_date(origin) or "", origin.row["path"]):
                return None
            if diff_claims(self.claims(s), self.claims(origin)).substantive:
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
            origin = self._successor(v)
        if origin is not None and origin.row["id"] != sid:
            # two copies of one runbook: the page that is ahead as a whole (its commands and values are
            # the newer ones) is not a stale copy of the other because one of its sections reads like
            # an older version of the other's (a note or a review line the other page added later)
            if self.newer_page(s.row["document_id"], origin.row["document_id"]) == s.row["document_id"]:
                return None
            if origin.row["document_id"] != vdoc:  # the text moved to another page since
                where = f"{where} (now {origin.row['path']} §{origin.row['heading'] or '(top)'})"
            cur_claims = self.claims(origin)
            d_src = diff_claims(extract_claims(self.vtext(v["id"])), cur_claims)
            d_me = diff_claims(self.claims(s), cur_claims)
            # the history shows a copy of an older text; the source then changed a command, a value
            # or a setting, or was rewritten beyond a near copy of what it said (a new procedure in
            # prose is still a new procedure)
            # (prose alone only where the history shows this page was made from that one, and only a
            # rewrite: text taken out or replaced, not a note added to what was there)
            rewritten = (self._origin(s.row["document_id"]) == vdoc
                         and lexical_similarity(self.vtext(v["id"]), origin.row["text"]) < self.opt.near_copy
                         and lexical_similarity(s.row["text"], origin.row["text"]) < self.opt.near_copy
                         and containment(self.vtext(v["id"]), origin.row["text"]) < 0.9)
            if not ((d_src.substantive and d_me.substantive) or rewritten):
                # the text is still good (only the wording moved on). The guard hands the agent the
                # current wording where the history or the pages say which is the copy; without that (a
                # repository without history) the "older" wording may be the current page's
                sure = (self._origin(s.row["document_id"]) == vdoc
                        or self.newer_page(s.row["document_id"], origin.row["document_id"]) == origin.row["document_id"])
                return Hit("lineage", "duplicate", s.row["id"], origin.row["id"],
                           f"copy of an older wording of {where}; it changed on {_day(v['valid_to'])} in wording only",
                           {"match": "exact" if exact else "near", "source_version": _vjson(v),
                            "claims": d_me.to_json(), "gives_place": sure}, key=origin.row["id"])
            msg = (f"{'identical' if exact else 'nearly identical'} to {where} as of {_day(since)}"
                   f"{_commit(v['commit'])}; that section changed on {_day(v['valid_to'])}{_commit(v['ended_by_commit'])}"
                   f": {_summary(d_me)}")
            ev = self._evidence(s, origin, d_me, {"match": "exact" if exact else "near", "source_version": _vjson(v),
                                                  "history": self._why_not_own(s, v)})
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
                       f"which is current ({where} was removed on {_day(v['valid_to'])})",
                       {"match": "exact" if exact else "near", "source_version": _vjson(v)}, key=t.row["id"])
        page = self.docs.get(vdoc)
        newer = None
        if page and page.get("removed_at") is None:
            best = max(self.by_doc.get(vdoc, []), key=lambda t: self.cos(s, t), default=None)
            newer = best.row["id"] if best is not None and tokens(best.row["text"]) else None
        gone = "page was removed" if not page or page.get("removed_at") else "section was removed from its page"
        msg = (f"{'identical' if exact else 'nearly identical'} to {where} as of {_day(since)}{_commit(v['commit'])}; "
               f"that {gone} on {_day(v['valid_to'])}{_commit(v['ended_by_commit'])}")
        return Hit("lineage", "obsolete", s.row["id"], newer, msg,
                   {"match": "exact" if exact else "near", "source_version": _vjson(v), "removed_at": v["valid_to"],
                    "history": self._why_not_own(s, v)},
                   key=v["section_id"])

    def _why_not_own(self, s: _Sec, v: dict[str, Any] | None, other: _Sec | None = None) -> dict[str, Any]:
        """From the history: why the flagged text is not simply the current home of its own content.

        Its own history (every address its text had: renames and moves included) never passes
        through the other section, so the two are different sections; and the flagged one has
        carried its text since before the other section last changed."""
        mine = sorted((self._vrow[x] for x in self.ancestry(s.row["id"])), key=lambda x: (x["valid_from"] or "", x["id"]))
        first = mine[0] if mine else None
        earlier = sorted({self._vrow[x]["path"] for x in self.ancestry(s.row["id"])} - {s.row["path"]})
        out: dict[str, Any] = {
            "this_text_since": first["valid_from"] if first else s.row["changed_at"],
            "this_text_first_commit": first["commit"] if first else None,
            "earlier_addresses": earlier,
        }
        if v is not None:
            out["other_version_ended"] = v["valid_to"]
            out["reason"] = ("the other section said this and then changed; this section's text did not come "
                             "here by a rename or a move of that section (no link in the history)")
        elif other is not None:
            out["other_changed"] = self.eff_date(other)
            out["reason"] = ("the two pages are one runbook by title and share text, but neither page's history "
                             "passes through the other: they are two copies, and this one is older")
        return out

    def _live_with_text(self, s: _Sec, v: dict[str, Any]) -> list[_Sec]:
        """Live sections other than `s` (and other than its earlier addresses) that carry `v`'s text."""
        if self._live_by_body is None:
            self._live_by_body = defaultdict(list)
            for t in self.secs.values():
                self._live_by_body[t.row["body_hash"]].append(t)
        out = [t for t in self._live_by_body.get(v["body_hash"], []) if t.row["id"] != s.row["id"]]
        if out:
            return out
        text = None
        for nid, sim in self.neighbours().get(s.row["id"], []):
            if sim < self.opt.min_similarity:
                continue
            text = text if text is not None else self.vtext(v["id"])
            t = self.secs[nid]
            if lexical_similarity(text, t.row["text"]) >= self.opt.near_copy:
                out.append(t)
        return out

    def _successor(self, v: dict[str, Any]) -> _Sec | None:
        """The live section that took over a section id that is gone: same heading on the same page.

        A page whose title (H1) changed gives all its sections new ids; they are not removed."""
        hp = json.loads(v["heading_path"])
        if not hp:
            return None
        secs = self.by_doc.get(v["document_id"], [])
        want = _norm_heading(hp[-1])
        for t in secs:
            thp = t.row["heading_path"]
            if thp and _norm_heading(thp[-1]) == want and len(thp) == len(hp):
                return t
        # a heading that was extended ("Diagnosis" -> "Diagnosis (platform team)")
        words = set(want.split())
        for t in secs:
            thp = t.row["heading_path"]
            if thp and len(thp) == len(hp) and words and words <= set(_norm_heading(thp[-1]).split()):
                return t
        # or the same text under another heading
        text = self.vtext(v["id"])
        for t in secs:
            if lexical_similarity(text, t.row["text"]) >= self.opt.near_copy:
                return t
        return None

    # copied pages ----------------------------------------------------

    def page_pairs(self) -> dict[tuple[str, str], list[tuple[_Sec, _Sec]]]:
        """Pages that are the same runbook, with their sections aligned."""
        if self._pairs is not None:
            return self._pairs
        neigh = self.neighbours()
        cand: set[tuple[str, str]] = set()
        for sid, ns in neigh.items():
            a = self.secs[sid].row["document_id"]
            for nid, sim in ns:
                b = self.secs[nid].row["document_id"]
                if a != b and sim >= self.opt.min_similarity:
                    cand.add((min(a, b), max(a, b)))
        pairs: dict[tuple[str, str], list[tuple[_Sec, _Sec]]] = {}
        for a, b in sorted(cand):
            # one runbook by title (a title with words added is not enough: alert names extend each
            # other, "KubePersistentVolumeFillingUp" and "KubePersistentVolumeInodesFillingUp")
            if not self.same_runbook(a, b):
                continue
            aligned = self._align(self.by_doc[a], self.by_doc[b])
            smaller = min(len(self.by_doc[a]), len(self.by_doc[b]))
            if not smaller or len(aligned) / smaller < self.opt.min_aligned:
                continue
            if self._moved_between(a, b) or self.siblings(a, b):
                continue  # text moved from one to the other, or two pages of one template about their own subjects
            oa, ob = self._origin(a), self._origin(b)
            if oa == b or ob == a:
                self._made_from[(a, b)] = b if oa == b else a
            if (oa is not None and oa != b and ob != oa) or (ob is not None and ob != a and oa != ob):
                # a page the history shows was made from a third page answers to that page, not to
                # another page with the same title (that pair, with its source, is judged on its own)
                continue
            if not self._copy_evidence(a, b, aligned):
                continue  # the same name and skeleton, but nothing says one's text came from the other
            pairs[(a, b)] = aligned
        self._pairs = pairs
        return pairs

    def _moved_between(self, a: str, b: str) -> bool:
        """True when text of one page moved to the other (a rename that left a stub behind, a
        section moved across): the history links them, so neither is a stale copy of the other."""
        for x, y in ((a, b), (b, a)):
            theirs = {v["section_id"] for v in self._by_doc_versions.get(y, [])}
            for s in self.by_doc.get(x, []):
                if any(self._vrow[i]["section_id"] in theirs for i in self.ancestry(s.row["id"])):
                    return True
        return False

    def _title_pages(self) -> dict[str, set[str]]:
        """Live pages by title key."""
        if self._by_title is None:
            self._by_title = defaultdict(set)
            for doc in self.by_doc:
                for key in self._keys(doc):
                    self._by_title[key].add(doc)
        return self._by_title

    def _pages_with_body(self) -> dict[str, int]:
        """How many live pages carry each section body: text on three or more is boilerplate."""
        if self._body_pages is None:
            docs: dict[str, set[str]] = defaultdict(set)
            for t in self.secs.values():
                docs[t.row["body_hash"]].add(t.row["document_id"])
            self._body_pages = {h: len(d) for h, d in docs.items()}
        return self._body_pages

    def _copy_evidence(self, a: str, b: str, aligned: list[tuple[_Sec, _Sec]]) -> bool:
        """Evidence that one page's text came from the other, beyond a shared title and skeleton:
        an aligned section that says the same specific thing on both (not boilerplate that many
        pages repeat), or a history in which one page was made from the other."""
        pages = self._pages_with_body()
        for x, y in aligned:
            if len(tokens(x.row["text"])) < self.opt.lineage_min_tokens or len(tokens(y.row["text"])) < self.opt.lineage_min_tokens:
                continue
            if x.row["body_hash"] == y.row["body_hash"]:
                if pages.get(x.row["body_hash"], 0) <= 2:
                    return True
            elif lexical_similarity(x.row["text"], y.row["text"]) >= self.opt.near_copy:
                return True
        if self._derived(a, b) or self._derived(b, a):
            return True
        # a specific title (three words or more) that these two pages carry and no other page does
        # names one runbook, whatever has been rewritten on either since
        for key in self._keys(a) & self._keys(b):
            if " " in key and len(key.split()) >= 3 and len(self._title_pages().get(key, ())) == 2:
                return True
        # no section is the same any more, but the two pages say mostly the same words, section by
        # section, under one title: an old copy of a page that has since been edited all over (only
        # with the same current title; template siblings are ruled out before this)
        if a and b and self._keys(a) & self._keys(b) and aligned:
            sims = [lexical_similarity(x.row["text"], y.row["text"]) for x, y in aligned
                    if tokens(x.row["text"]) and tokens(y.row["text"])]
            return bool(sims) and sum(sims) / len(sims) >= 0.5
        return False

    def _diverged(self, a: _Sec, b: _Sec) -> bool:
        """True when `a` once said what `b` says now, and moved away from it by its own later edits."""
        for v in self._versions.get(a.row["id"], [])[:-1]:
            if lexical_similarity(self.vtext(v["id"]), b.row["text"]) >= 0.95:
                return True
        return False

    def _align(self, xs: list[_Sec], ys: list[_Sec]) -> list[tuple[_Sec, _Sec]]:
        def key(s: _Sec) -> tuple[str, ...]:
            hp = s.row["heading_path"]
            # the H1 is the page title, which copies often prefix with a team name
            rest = tuple(_norm_heading(h) for h in hp[1:]) if s.row["level"] >= 1 and hp else ()
            return (str(s.row["level"] == 1 and len(hp) == 1), *rest, str(s.row["ordinal"]))

        ymap: dict[tuple[str, ...], _Sec] = {}
        for y in ys:
            ymap.setdefault(key(y), y)
        out = []
        used = set()
        rest_x = []
        for x in xs:
            y = ymap.get(key(x))  # type: ignore[assignment]  # None is tested next
            if y is not None and y.row["id"] not in used:
                out.append((x, y))
                used.add(y.row["id"])
            else:
                rest_x.append(x)
        rest_y = [y for y in ys if y.row["id"] not in used]
        for x in rest_x:  # renamed headings: the closest remaining section, if close
            best = max(rest_y, key=lambda y: self.cos(x, y), default=None)
            if best is not None and self.cos(x, best) >= 0.85:
                out.append((x, best))
                rest_y.remove(best)
        return out

    def _page_votes(self, pair: tuple[str, str]) -> tuple[list[tuple[_Sec, _Sec, Any]], int]:
        """Aligned sections of a copied-page pair with their claim differences, and the page vote:
        > 0 when the second page is newer, by the dates of the sections whose claims differ."""
        if pair not in self._votes:
            diffs: list[tuple[_Sec, _Sec, Any]] = []
            votes = 0
            for x, y in self.page_pairs().get(pair, []):
                if x.row["body_hash"] == y.row["body_hash"]:
                    diffs.append((x, y, None))
                    continue
                d = diff_claims(self.claims(x), self.claims(y))
                diffs.append((x, y, d))
                if d.substantive:
                    ex, ey = self.eff_date(x) or "", self.eff_date(y) or ""
                    votes += (ex < ey) - (ex > ey)
            self._votes[pair] = (diffs, votes)
        return self._votes[pair]

    def newer_page(self, a: str, b: str) -> str | None:
        """Of two pages that are copies of one runbook, the one that is ahead (None: not a pair, or
        nothing settles it). A page made from the other is never ahead of its source."""
        pair = (min(a, b), max(a, b))
        if pair not in self.page_pairs():
            return None
        source = self._made_from.get(pair)
        if source is not None:
            return source if self._page_votes(pair)[1] == 0 else None
        votes = self._page_votes(pair)[1]
        return None if votes == 0 else (pair[1] if votes > 0 else pair[0])

    def copied_pages(self) -> list[Hit]:
        out: list[Hit] = []
        for pair in self.page_pairs():
            # the history shows one page was made from the other: the source is never the stale copy
            # of the page made from it, whatever dates later cosmetic edits gave that copy
            source = self._made_from.get(pair)
            diffs, votes = self._page_votes(pair)
            if not votes:
                # no claim settles the direction: take the dates, if every differing section agrees
                signs = {((self.eff_date(x) or "") < (self.eff_date(y) or "")) - ((self.eff_date(x) or "") > (self.eff_date(y) or ""))
                         for x, y, d in diffs if d is not None}
                if len(signs) == 1:
                    votes_dates = signs.pop()
                else:
                    votes_dates = 0
            else:
                votes_dates = votes
            # +votes: page b is newer
            for x, y, d in diffs:
                if d is None:
                    # identical: a duplicate on the older page (the copy that will go stale), or on the
                    # later copy when nothing settles which page is older
                    if source is not None:
                        first, second = (x, y) if x.row["document_id"] == source else (y, x)
                    elif votes_dates:
                        second, first = (x, y) if votes_dates > 0 else (y, x)
                    else:
                        first, second = (x, y) if (self.eff_date(x) or "") <= (self.eff_date(y) or "") else (y, x)
                    if tokens(second.row["text"]):
                        out.append(Hit("superseded", "duplicate", second.row["id"], first.row["id"],
                                       f"identical to {first.row['path']} §{first.row['heading'] or '(top)'}",
                                       {"match": "exact"}, key=first.row["id"]))
                    continue
                lex = lexical_similarity(x.row["text"], y.row["text"])
                # a rewrite in prose only counts once the page's direction is settled by claims: a note
                # added to a copy must never make the copy look like the newer page
                ex, ey = self.eff_date(x) or "", self.eff_date(y) or ""
                direction = votes if votes else (ex < ey) - (ex > ey)
                if direction == 0:
                    continue
                old, new = (x, y) if direction > 0 else (y, x)
                if not d.substantive:
                    # prose or links only: stale when the newer page was rewritten or re-linked, once the
                    # page's direction is settled; never when either side was edited on its own (a team
                    # note, a review line, a fixed link) after saying the same thing as the other
                    links = any(c.type == "url" for c in d.old_only + d.new_only)
                    if votes_dates == 0 or (lex >= self.opt.prose_change and not links):
                        continue
                    # without any claim on the page to settle it, only a real rewrite counts, never a
                    # reworded sentence: "never raised when the two say the same thing"
                    if not votes and lex >= self.opt.rewrite:
                        continue
                    direction = votes_dates
                    old, new = (x, y) if votes_dates > 0 else (y, x)
                    # the older side moved away by itself: its own note or fix, not staleness. The newer
                    # side moving away is the update itself, but only when claims settled the direction
                    if self._diverged(old, new) or (not votes and self._diverged(new, old)):
                        continue
                    if len(tokens(new.row["text"])) < 3:
                        continue  # the newer page has nothing here: no advice to supersede the copy with
                if source is not None and old.row["document_id"] == source:
                    continue
                dd = d if direction > 0 else diff_claims(self.claims(y), self.claims(x))
                msg = (f"superseded by {new.row['path']} §{new.row['heading'] or '(top)'} "
                       f"(changed {_day(self.eff_date(new))}; this copy {_day(self.eff_date(old))}): {_summary(dd)}")
                ev = self._evidence(old, new, dd, {"match": "page copy", "lexical_similarity": round(lex, 3),
                                                   "page_votes": abs(votes), "history": self._why_not_own(old, None, new)})
                out.append(Hit("superseded", "superseded", old.row["id"], new.row["id"], msg, ev, key=new.row["id"]))
        return out

    # contradictions ----------------------------------------------------

    def _same_topic(self, a: str, b: str) -> bool:
        """The page titles share their main words: "Refund batch runs" and "Refund processing"."""
        wa, wb = title_words(self.title(a)), title_words(self.title(b))
        if not wa or not wb:
            return False
        return len(wa & wb) / min(len(wa), len(wb)) >= 0.5

    def contradictions(self, skip: set[str]) -> list[Hit]:
        """Pages on the same topic that give conflicting values for the same settings.

        Compared page against page (the values of a setting can sit in differently named sections),
        for page pairs found through nearest-neighbour sections. One conflicting number is weak
        evidence: it takes two conflicting settings, or one conflicting flag of the same program,
        or opposite instructions."""
        out: list[Hit] = []
        copies = set(self.page_pairs())
        cand: set[tuple[str, str]] = set()
        for sid, ns in self.neighbours().items():
            a = self.secs[sid].row["document_id"]
            for nid, sim in ns:
                b = self.secs[nid].row["document_id"]
                if a != b and sim >= self.opt.min_similarity:
                    pair = (min(a, b), max(a, b))
                    if pair not in copies:
                        cand.add(pair)
        for a, b in sorted(cand):
            if not self._same_topic(a, b) or self._moved_between(a, b) or self.siblings(a, b):
                continue
            ea, eb = self._page_eff(a), self._page_eff(b)
            if not ea or not eb or _days_between(ea, eb) < max(self.opt.min_days_apart, 30):
                continue
            old_doc, new_doc = (a, b) if ea < eb else (b, a)
            conflicts = self._page_conflicts(old_doc, new_doc)
            strong = [c for c in conflicts if c[0].type in ("flag", "instruction")]
            if len(conflicts) < self.opt.min_conflicts and not strong:
                continue
            by_section: dict[str, list[tuple[Any, Any, _Sec]]] = defaultdict(list)
            conflicts.sort(key=lambda c: (c[0].type, c[0].key, c[0].value, c[1].value))
            for old_c, new_c, old_s, new_s in conflicts:
                by_section[old_s.row["id"]].append((old_c, new_c, new_s))
            for sid, items in by_section.items():
                if sid in skip:
                    continue
                old = self.secs[sid]
                new = max((n for _, _, n in items), key=lambda n: sum(1 for *_, m in items if m is n))
                dd = ClaimDiff([], [], [(o, n) for o, n, _ in items])
                msg = (f"contradicted by {new.row['path']} §{new.row['heading'] or '(top)'} "
                       f"(changed {_day(self.eff_date(new))}): {_summary(dd)}")
                ev = self._evidence(old, new, dd, {"match": "same topic", "page_conflicts": len(conflicts),
                                                   "similarity": round(self.cos(old, new), 3),
                                                   "history": {**self._why_not_own(old, None, new), "reason": (
                                                       "pages on one topic that disagree; neither page's history passes "
                                                       "through the other (no rename or move links them), and this one "
                                                       "changed in substance first")}})
                out.append(Hit("contradicted", "contradicted", sid, new.row["id"], msg, ev, key=new.row["id"]))
        return out

    def _page_eff(self, doc_id: str) -> str | None:
        dates = [self.eff_date(s) for s in self.by_doc.get(doc_id, [])]
        known = [d for d in dates if d]
        return max(known) if known else None

    def _page_claims(self, doc_id: str) -> dict[tuple[str, str], list[tuple[Any, _Sec]]]:
        cache = self._page_claim_cache
        if doc_id not in cache:
            m: dict[tuple[str, str], list[tuple[Any, _Sec]]] = defaultdict(list)
            for s in self.by_doc.get(doc_id, []):
                for c in self.claims(s):
                    if c.type in ("flag", "port", "quantity", "instruction") and c.key:
                        m[(c.type, c.key if c.type != "instruction" else "")].append((c, s))
            cache[doc_id] = m
        return cache[doc_id]

    def _page_conflicts(self, old_doc: str, new_doc: str) -> list[tuple[Any, Any, _Sec, _Sec]]:
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

def _contradiction(a, b) -> bool:  # type: ignore[no-untyped-def]
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


_STRENGTH = {"superseded": 0, "obsolete": 1, "duplicate": 2}


def _vjson(v: dict[str, Any]) -> dict[str, Any]:
    return {"path": v["path"], "heading_path": json.loads(v["heading_path"]), "valid_from": v["valid_from"],
            "valid_to": v["valid_to"], "commit": v["commit"], "ended_by_commit": v["ended_by_commit"]}


def _day(ts: str | None) -> str:
    return (ts or "unknown date")[:10]


def _commit(c: str | None) -> str:
    return f" (commit {c[:10]})" if c else ""


def _days_between(a: str | None, b: str | None) -> float:
    from .dates import to_datetime

    if not a or not b:
        return 0.0
    return abs((to_datetime(b) - to_datetime(a)).total_seconds()) / 86400


def _summary(d: ClaimDiff, limit: int = 3) -> str:
    parts = [f"old `{a.render()}` → new `{b.render()}`" for a, b in d.conflicts[:limit]]
    if len(parts) < limit:
        olds = [c.render() for c in d.old_only if c.type in ("command", "code", "host", "port", "path", "flag", "quantity")]
        news = [c.render() for c in d.new_only if c.type in ("command", "code", "host", "port", "path", "flag", "quantity")]
        if olds or news:
            parts.append("old: " + (", ".join(f"`{o}`" for o in olds[:2]) or "—") + "; newer: " +
                         (", ".join(f"`{n}`" for n in news[:2]) or "—"))
    if not parts:
        olds = [c.render() for c in d.old_only]
        news = [c.render() for c in d.new_only]
        if olds or news:
            parts.append("old: " + (", ".join(f"`{o}`" for o in olds[:2]) or "—") + "; newer: " +
                         (", ".join(f"`{n}`" for n in news[:2]) or "—"))
        else:
            parts.append("the newer section was rewritten")
    return "; ".join(parts)
