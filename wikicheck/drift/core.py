"""The corpus drift analysis reads: live sections with their vectors and nearest neighbours, every
section version, text-level history (renames, moves), and the dates of substantive changes.

Shared by the three analyses (wikicheck.drift.lineage, .pages, .contradictions); it answers no
question of its own.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..claims import (
    EXTRACTOR,
    Claim,
    ClaimDiff,
    claims_from_json,
    claims_to_json,
    diff_claims,
    extract_claims,
    text_hash,
)
from ..history import HistoryOptions, SectionHistory
from ..store import Store


@dataclass
class DriftOptions:
    k: int = 10
    min_similarity: float = 0.6  # cosine for a neighbour to be a candidate at all
    min_aligned: float = 0.5  # share of the smaller page's sections that align with the other page
    near_copy: float = 0.85  # lexical similarity for "nearly equal" to a past version
    lineage_min_tokens: int = 12
    min_days_apart: float = 1.0
    prose_changed_share: float = 0.15  # prose counts as changed when a diff marks more than this share of its words
    rewrite: float = 0.6  # below this, a prose rewrite counts on its own (dates settled the direction)
    min_conflicts: int = 2  # conflicting settings it takes to call two pages contradictory
    move_window_days: float = 7.0  # text removed here and added there this close in time moved (wikicheck.history)
    # HNSW search breadth for the neighbours of every section (an index of more than HNSW_THRESHOLD
    # sections; below it the search is exact): the same whether the index on disk is searched or one
    # is built here, and a third of the guard's (index.HNSW_EF_SEARCH), which answers one query at a time
    ef_search: int = 64


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
class Sec:
    row: dict[str, Any]
    i: int  # row in the vector matrix, -1 without a vector
    eff: str | None = None


# neighbours fetched beyond k, so that a tie at the k-th place is broken the same way on every run
TIE_MARGIN = 8


class Corpus:
    def __init__(self, store: Store, model_id: str, options: DriftOptions | None = None, index: Any = None,
                 sections: list[dict[str, Any]] | None = None, executor: Any = None):
        """`sections`: the store's live sections (Store.sections()) when the caller has read them
        already (the check has): read only, never changed here. `executor`: where the bulk steps run
        (the neighbour search and claim extraction; ray_engine.RayCheckWork), None for here."""
        self.store = store
        self.executor = executor
        self.index = index  # a loaded VectorIndex that matches the store, or None
        self.opt = options or DriftOptions()
        self.model_id = model_id
        rows = store.sections() if sections is None else sections
        keys, vecs = store.live_vectors(model_id)
        pos = {int(k): i for i, k in enumerate(keys)}
        self.vecs = vecs
        self.secs: dict[str, Sec] = {r["id"]: Sec(r, pos.get(r["key"], -1)) for r in rows}
        self.by_key = {s.row["key"]: s for s in self.secs.values()}
        self.by_doc: dict[str, list[Sec]] = defaultdict(list)
        for s in self.secs.values():
            self.by_doc[s.row["document_id"]].append(s)
        self.docs = {d["id"]: d for d in store.documents("known_from = 'crawl'")}  # removed ones too
        self.keys = keys
        self.versions: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by section id
        self.by_body: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.doc_versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.past_titles: dict[str, set[str]] = defaultdict(set)
        self.vrow: dict[int, dict[str, Any]] = {}
        for v in store.all_versions():
            self.versions[v["section_id"]].append(v)
            self.vrow[v["id"]] = v
            self.by_body[v["body_hash"]].append(v)
            self.doc_versions[v["document_id"]].append(v)
            if v["valid_to"] is not None:
                hp = json.loads(v["heading_path"])
                if len(hp) == 1:
                    self.past_titles[v["document_id"]].add(hp[0])
        self._vtext: dict[int, str] = {}
        # text-level history: renames, moves, splits and merges link a section to its earlier addresses
        self.history = SectionHistory(
            (v for vs in self.versions.values() for v in vs), store.renames(), self.vtext,
            HistoryOptions(window_days=self.opt.move_window_days, near=self.opt.near_copy,
                           min_tokens=self.opt.lineage_min_tokens))
        self._ancestry: dict[str, set[int]] = {}
        self._chain: dict[str, list[dict[str, Any]]] = {}
        self._neigh: dict[str, list[tuple[str, float]]] | None = None
        self._claims: dict[str, frozenset[Claim]] = {}
        self._claim_cache: dict[str, str] | None = None  # the store's, read on first use
        self.new_claims: dict[str, frozenset[Claim]] = {}  # by text hash: extracted here, not cached yet

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

        from ..index import HNSW_THRESHOLD, search_batch

        out: dict[str, list[tuple[str, float]]] = defaultdict(list)
        n = len(self.keys)
        if n:
            # more than k: identical texts have identical vectors, and which of a tie the search
            # returns at the cut depends on the BLAS blocking of the moment (threads, load). Ties are
            # broken below by section id, on similarities rounded below float noise
            k = min(self.opt.k + 1 + TIE_MARGIN, n)
            # one query per distinct text: sections with the same text have the same vector, and so
            # the same hits (each then leaves itself out below)
            first: dict[str, int] = {}
            query_of = np.empty(n, dtype="int64")
            for i in range(n):
                query_of[i] = first.setdefault(self.by_key[int(self.keys[i])].row["content_hash"], len(first))
            rows = np.zeros(len(first), dtype="int64")
            rows[query_of[::-1]] = np.arange(n - 1, -1, -1)  # the first row of each distinct text
            x = np.ascontiguousarray(self.vecs[rows], dtype="float32")
            if self.index is not None and self.index.index.ntotal == n and self.executor is not None:
                sims, found = self.executor.search(self.index.index, x, k, self.opt.ef_search,
                                                   graph="HNSW" in self.index.manifest.kind)
            elif self.index is not None and self.index.index.ntotal == n:
                sims, found = self.index.search(x, k, ef_search=self.opt.ef_search)  # ids are section keys
            else:
                if n <= HNSW_THRESHOLD:
                    index = faiss.IndexFlatIP(x.shape[1])
                else:
                    index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
                    index.hnsw.efConstruction = 64
                    index.hnsw.efSearch = self.opt.ef_search
                index.add(np.ascontiguousarray(self.vecs, dtype="float32"))
                graph = isinstance(index, faiss.IndexHNSW)
                if self.executor is not None:
                    sims, pos = self.executor.search(index, x, k, self.opt.ef_search if graph else None, graph)
                else:
                    sims, pos = search_batch(index, x, k, graph=graph)
                found = np.where(pos >= 0, self.keys[np.clip(pos, 0, n - 1)], -1)
            by_key = self.by_key
            for i in range(n):
                mine = int(self.keys[i])
                me = by_key[mine].row["id"]
                q = query_of[i]
                got = [(by_key[key].row["id"], float(sim)) for key, sim in zip(found[q].tolist(), sims[q].tolist())
                       if key >= 0 and key != mine and key in by_key]
                got.sort(key=lambda t: (-round(t[1], 5), t[0]))
                out[me].extend(got[:self.opt.k])
        self._neigh = out
        return out

    def cos(self, a: Sec, b: Sec) -> float:
        if a.i < 0 or b.i < 0:
            return 0.0
        return float(self.vecs[a.i] @ self.vecs[b.i])

    def claims(self, s: Sec) -> frozenset[Claim]:
        return self.text_claims(s.row["text"])

    def text_claims(self, text: str) -> frozenset[Claim]:
        """The claims of a text, once per distinct text for this analysis (extract_claims' own cache is
        bounded, and a large corpus would evict and extract the same texts again): from the store's
        claim cache when an earlier check extracted them with this code, else extracted here and
        kept in `new_claims` for save_claims."""
        got = self._claims.get(text)
        if got is None:
            h = text_hash(text)
            raw = self._cached_claims().pop(h, None)  # each text is asked for once: its JSON is not needed again
            if raw is not None:
                got = claims_from_json(raw)
            else:
                got = extract_claims(text)
                self.new_claims[h] = got
            self._claims[text] = got
        return got

    def _cached_claims(self) -> dict[str, str]:
        """The store's claim cache (text hash -> claims JSON), read on first use."""
        if self._claim_cache is None:
            self._claim_cache = self.store.cached_claims(EXTRACTOR)
        return self._claim_cache

    def prefetch_claims(self) -> int:
        """With an executor: the claims of every live text that the claim cache lacks, extracted there
        in bulk (text_claims then finds them, as if extracted here); how many. Without one, nothing:
        text_claims extracts each text when an analysis first asks."""
        if self.executor is None:
            return 0
        cached = self._cached_claims()
        todo: dict[str, str] = {}
        for sec in self.secs.values():
            t = sec.row["text"]
            if t not in self._claims:
                h = text_hash(t)
                if h not in cached and h not in todo:
                    todo[h] = t
        if todo:
            for (h, t), got in zip(todo.items(), self.executor.claims(list(todo.values()))):
                self._claims[t] = got
                self.new_claims[h] = got
        return len(todo)

    def save_claims(self) -> int:
        """Write the claims extracted by this analysis to the store's claim cache; how many."""
        if self.new_claims:
            self.store.put_claims(EXTRACTOR, {h: claims_to_json(c) for h, c in self.new_claims.items()})
        n, self.new_claims = len(self.new_claims), {}
        return n

    def eff_date(self, s: Sec) -> str | None:
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
            d = diff_claims(self.text_claims(self.vtext(prev["id"])), self.text_claims(self.vtext(cur["id"])))
            if d.substantive_edit:
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
            own = self.versions.get(sid, [])
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

    # ------------------------------------------------------------------ evidence

    def evidence(self, old: Sec, new: Sec, diff: ClaimDiff, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "claims": diff.to_json(),
            "old": {"changed_at": old.row["changed_at"], "substantive_change": self.eff_date(old),
                    "commit": old.row["commit"], "author": old.row["author"]},
            "new": {"changed_at": new.row["changed_at"], "substantive_change": self.eff_date(new),
                    "commit": new.row["commit"], "author": new.row["author"], "path": new.row["path"],
                    "heading": new.row["heading"]},
            **extra,
        }

    def why_not_own(self, s: Sec, v: dict[str, Any] | None, other: Sec | None = None) -> dict[str, Any]:
        """From the history: why the flagged text is not simply the current home of its own content.

        Its own history (every address its text had: renames and moves included) never passes
        through the other section, so the two are different sections; and the flagged one has
        carried its text since before the other section last changed."""
        mine = sorted((self.vrow[x] for x in self.ancestry(s.row["id"])), key=lambda x: (x["valid_from"] or "", x["id"]))
        first = mine[0] if mine else None
        earlier = sorted({self.vrow[x]["path"] for x in self.ancestry(s.row["id"])} - {s.row["path"]})
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


def day(ts: str | None) -> str:
    return (ts or "unknown date")[:10]


def summary(d: ClaimDiff, limit: int = 3) -> str:
    parts = [f"old `{a.render()}` → new `{b.render()}`" for a, b in d.conflicts[:limit]]
    # a deprecation notice that only the newer text carries is the first thing a reader must know
    parts += [f"the newer section says `{c.render()}`" for c in d.new_only if c.type == "deprecation"][:1]
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
