"""History that follows the text, not the path.

A page renamed, a section moved to another page, a page split in two or two pages merged: in the
store each of these ends some section versions at one address and opens others at another. This
module links the two ends, so that the rules see one piece of text that changed address, not a
section that vanished and a stranger that repeats it.

A version ``v`` *continues as* a version ``w`` (a link ``v -> w``) when

* the text left ``v``'s section: the section ended, or its next version says something else
  (a small edit keeps the text at home; a copy made elsewhere at the same time is a copy, not a move);
* the text is new in ``w``'s section: ``w`` is the section's first version, or its previous version
  said something else (a page that already carried the text was a copy long before);
* the two ends are one change: the same commit, the same crawl (sources without commits), or
  within ``window_days`` of each other (a move done in two commits) when the text left its section
  for good (the section ended, or kept only a stub): a section revised in place keeps its text at
  home, and a page made from it a few days before the revision is a copy, not a move;
* and they carry the same text: the same body, nearly the same words, or one contained in the
  other (a split sends parts of a section away; a merge gathers sections into one).

Renames the source reports itself (git's rename detection, an HTTP redirect or canonical URL)
also link the old page's last versions to the new page's first ones by heading, even where the
rename changed the text.

Everything here is derived from ``section_versions`` and ``renames``: it can always be recomputed
from the store, and nothing is written back.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Container, Iterable

from .dates import to_datetime
from .lexical import tokens


@dataclass
class HistoryOptions:
    window_days: float = 7.0  # a move done in separate commits (or crawls) this far apart is still a move
    near: float = 0.85  # lexical similarity for "the same text"
    contained: float = 0.9  # share of the smaller text's words found in the larger: a split or a merge
    min_tokens: int = 12  # below this many words, only the same body (or a reported rename) links
    max_candidates: int = 400  # texts compared per departure outside its own commit (mass edits)


@dataclass
class _V:
    id: int
    section_id: str
    document_id: str
    source: str
    path: str
    heading_path: list[str]
    body_hash: str
    valid_from: str | None
    valid_to: str | None
    commit: str | None
    ended_by_commit: str | None
    seen_at: str | None
    closed_at: str | None
    t_from: float | None = None
    t_to: float | None = None
    prev: "_V | None" = None
    next: "_V | None" = None
    links_out: list[tuple[int, str]] = field(default_factory=list)  # (version id, how)
    links_in: list[tuple[int, str]] = field(default_factory=list)


def _ts(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return to_datetime(s).timestamp()
    except ValueError:
        return None


def _norm(h: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", h.lower()).strip()


class _Texts:
    """What two versions' texts have in common: their words, counted once per version and kept."""

    def __init__(self, text: Callable[[int], str], options: HistoryOptions):
        self.opt = options
        self._text = text
        self._tok: dict[int, Counter[str]] = {}

    def tokens(self, v: _V) -> Counter[str]:
        if v.id not in self._tok:
            self._tok[v.id] = Counter(tokens(self._text(v.id)))
        return self._tok[v.id]

    def same_text(self, a: _V, b: _V) -> bool:
        if a.body_hash == b.body_hash:
            return True
        ta, tb = self.tokens(a), self.tokens(b)
        na, nb = sum(ta.values()), sum(tb.values())
        if not na or not nb or min(na, nb) / max(na, nb) < self.opt.near * 0.8:
            return False
        return 2 * sum((ta & tb).values()) / (na + nb) >= self.opt.near

    def carries(self, a: _V, b: _V) -> str | None:
        """How `b` carries `a`'s text: "same", "near", "split" (b is a part of a), "merge" (a is a part of b)."""
        if a.body_hash == b.body_hash:
            return "same"
        ta, tb = self.tokens(a), self.tokens(b)
        na, nb = sum(ta.values()), sum(tb.values())
        if min(na, nb) < self.opt.min_tokens:
            return None
        common = sum((ta & tb).values())
        if 2 * common / (na + nb) >= self.opt.near:
            return "near"
        if nb < na and common / nb >= self.opt.contained:
            return "split"
        if na < nb and common / na >= self.opt.contained:
            return "merge"
        return None

    def contained(self, part: _V, whole: _V) -> bool:
        """Most of `part`'s words are still in `whole` (an edit that added a note keeps the text)."""
        if part.body_hash == whole.body_hash:
            return True
        tp, tw = self.tokens(part), self.tokens(whole)
        n = sum(tp.values())
        return not n or sum((tp & tw).values()) / n >= self.opt.contained


class _Linker:
    """Links each version whose text left its section to the versions that took the text in (see
    the module's docstring): moves, splits and merges, and the renames the sources reported."""

    def __init__(self, versions: dict[int, _V], renames: list[dict[str, Any]], texts: _Texts,
                 options: HistoryOptions):
        self.v = versions
        self.renames = renames
        self.texts = texts
        self.opt = options
        self.links = 0

    def _departs(self, v: _V) -> bool:
        """The text of `v` left its section: the section ended, or its next version no longer holds
        that text (an edit that only adds to it, a note, a review line, keeps the text at home)."""
        if v.valid_to is None:
            return False
        return v.next is None or not (self.texts.same_text(v, v.next) or self.texts.contained(v, v.next))

    def _arrives(self, w: _V) -> bool:
        """The text of `w` is new in its section (not the previous text with something added)."""
        return w.prev is None or not (self.texts.same_text(w.prev, w) or self.texts.contained(w, w.prev))

    def _close_in_time(self, v: _V, w: _V) -> bool:
        if v.ended_by_commit and w.commit and v.ended_by_commit == w.commit:
            return True
        if v.closed_at and w.seen_at and v.closed_at == w.seen_at and not w.commit:
            return True  # the same crawl of a source without commits
        if v.t_to is None or w.t_from is None:
            return False
        # two changes days apart are one move only when the text really left: a section that goes on
        # under its heading with a revised text of its own evolved in place, and a page made from it
        # shortly before is a copy that the revision left behind, not where the text moved to
        return abs(w.t_from - v.t_to) <= self.opt.window_days * 86400 and self._left_home(v)

    def _left_home(self, v: _V) -> bool:
        """The section of `v` ended with it, or what followed it there is a stub (under half its
        words: "moved to ...", a link), not a revision of the text."""
        if v.next is None:
            return True
        return sum(self.texts.tokens(v.next).values()) * 2 < sum(self.texts.tokens(v).values())

    def _add(self, v: _V, w: _V, how: str) -> None:
        if any(x == w.id for x, _ in v.links_out):
            return
        v.links_out.append((w.id, how))
        w.links_in.append((v.id, how))
        self.links += 1

    def link(self) -> None:
        departs = [v for v in self.v.values() if self._departs(v)]
        arrivals = [w for w in self.v.values() if self._arrives(w)]
        # reported renames first: the old page's last versions go to the new page's first ones
        self._link_renames()
        # candidates are of the departure's own source (text never moves between sources); how many
        # there are in all sources decides, as it always did, whether a commit is a mass change and
        # whether the time window is small enough to compare (so many sources cost no extra pairs)
        n_commit: dict[str, int] = defaultdict(int)
        n_seen: dict[str, int] = defaultdict(int)
        by_commit: dict[tuple[str, str], list[_V]] = defaultdict(list)
        by_seen: dict[tuple[str, str], list[_V]] = defaultdict(list)
        by_body: dict[tuple[str, str], list[_V]] = defaultdict(list)
        timed = sorted((w for w in arrivals if w.t_from is not None), key=lambda w: w.t_from or 0.0)
        times = [w.t_from or 0.0 for w in timed]
        timed_src: dict[str, list[_V]] = defaultdict(list)
        for w in timed:
            timed_src[w.source].append(w)
        times_src = {src: [w.t_from or 0.0 for w in ws] for src, ws in timed_src.items()}
        by_head: dict[tuple[str, str, str], list[_V]] = defaultdict(list)
        for w in arrivals:
            if w.commit:
                n_commit[w.commit] += 1
                by_commit[(w.source, w.commit)].append(w)
            elif w.seen_at:
                n_seen[w.seen_at] += 1
                by_seen[(w.source, w.seen_at)].append(w)
            by_body[(w.source, w.body_hash)].append(w)
            by_head[(w.source, w.commit or w.seen_at or "", _norm(w.heading_path[-1]) if w.heading_path else "")].append(w)
        win = self.opt.window_days * 86400
        for v in departs:
            if v.links_out:
                continue  # a reported rename took care of it
            cands: dict[int, _V] = {}
            for w in by_body.get((v.source, v.body_hash), ()):
                cands[w.id] = w
            if v.ended_by_commit:
                size = n_commit.get(v.ended_by_commit, 0)
                group = by_commit.get((v.source, v.ended_by_commit), ())
            else:
                size = n_seen.get(v.closed_at or "", 0)
                group = by_seen.get((v.source, v.closed_at or ""), ())
            if size > self.opt.max_candidates:
                # a mass change (a migration, a reformat of every page): compare by heading, not all pairs
                head = _norm(v.heading_path[-1]) if v.heading_path else ""
                group = by_head.get((v.source, v.ended_by_commit or v.closed_at or "", head), ())
            for w in group:
                cands[w.id] = w
            if v.t_to is not None:
                lo = bisect.bisect_left(times, v.t_to - win)
                hi = bisect.bisect_right(times, v.t_to + win)
                if hi - lo <= self.opt.max_candidates:
                    mine, at = timed_src.get(v.source, []), times_src.get(v.source, [])
                    for w in mine[bisect.bisect_left(at, v.t_to - win):bisect.bisect_right(at, v.t_to + win)]:
                        cands[w.id] = w
            found = []
            for w in sorted(cands.values(), key=lambda x: x.id):
                if w.section_id == v.section_id or w.source != v.source or not self._close_in_time(v, w):
                    continue
                how = self.texts.carries(v, w)
                if how:
                    found.append((w, how))
            for w, how in self._specific(v, found):
                self._add(v, w, how)

    def _specific(self, v: _V, found: list[tuple[_V, str]]) -> list[tuple[_V, str]]:
        """The links of one departure that say where its text went. Text that turns up in three
        places or more at once ("TODO", a template paragraph) is boilerplate: it went nowhere in
        particular. A text too short to be anyone's own links only within one commit or crawl, and
        only to the one place that took it."""
        same = [x for x in found if x[1] == "same"]
        if len(same) > 2:
            found = [x for x in found if x[1] != "same"]
        if sum(self.texts.tokens(v).values()) < self.opt.min_tokens:
            one = [(w, how) for w, how in found if self._one_change(v, w)]
            return one if len(one) == 1 else []
        return found

    @staticmethod
    def _one_change(v: _V, w: _V) -> bool:
        if v.ended_by_commit and w.commit:
            return v.ended_by_commit == w.commit
        return bool(v.closed_at and w.seen_at and v.closed_at == w.seen_at and not w.commit)

    def _link_renames(self) -> None:
        by_doc: dict[tuple[str, str], list[_V]] = defaultdict(list)
        for v in self.v.values():
            by_doc[(v.source, v.path)].append(v)
        for r in self.renames:
            old = by_doc.get((r["source"], r["old_path"]), [])
            new = by_doc.get((r["source"], r["new_path"]), [])
            if not old or not new:
                continue
            at = r.get("at") or ""
            # the old page's versions that the rename ended, and the new page's versions it opened
            ends = [v for v in old if v.valid_to is not None and (not at or v.valid_to <= at or
                                                                   (r.get("commit") and v.ended_by_commit == r.get("commit")))]
            last: dict[str, _V] = {}
            for v in ends:
                if v.next is None or v.next.path != v.path or (v.next.valid_from or "") > at:
                    cur = last.get(v.section_id)
                    if cur is None or (v.valid_to or "") > (cur.valid_to or ""):
                        last[v.section_id] = v
            first: dict[str, _V] = {}
            for w in new:
                if w.prev is None:
                    cur = first.get(w.section_id)
                    if cur is None or (w.valid_from or "") < (cur.valid_from or ""):
                        first[w.section_id] = w
            if r.get("commit"):
                last = {k: v for k, v in last.items() if v.ended_by_commit == r["commit"]} or last
                first = {k: w for k, w in first.items() if w.commit == r["commit"]} or first
            unmatched = list(first.values())
            for v in sorted(last.values(), key=lambda x: x.id):
                key = tuple(_norm(h) for h in v.heading_path[1:]) or ("",)
                match = next((w for w in unmatched if (tuple(_norm(h) for h in w.heading_path[1:]) or ("",)) == key
                              and len(w.heading_path) == len(v.heading_path)), None)
                if match is None:
                    match = next((w for w in unmatched if self.texts.carries(v, w)), None)
                if match is not None:
                    unmatched.remove(match)
                    self._add(v, match, "rename")


class SectionHistory:
    """The text-level history of every section in the store: moves, renames, splits and merges.

    It reads the versions and answers the queries; _Linker finds the links once, comparing texts
    with _Texts."""

    def __init__(self, rows: Iterable[dict[str, Any]], renames: Iterable[dict[str, Any]],
                 text: Callable[[int], str], options: HistoryOptions | None = None):
        self.opt = options or HistoryOptions()
        self._texts = _Texts(text, self.opt)
        self.v: dict[int, _V] = {}
        self.by_section: dict[str, list[_V]] = defaultdict(list)
        for r in rows:
            hp = r["heading_path"]
            v = _V(int(r["id"]), r["section_id"], r["document_id"], r["source"], r["path"],
                   json.loads(hp) if isinstance(hp, str) else list(hp or []), r["body_hash"],
                   r["valid_from"], r["valid_to"], r.get("commit"), r.get("ended_by_commit"),
                   r.get("seen_at"), r.get("closed_at"))
            v.t_from, v.t_to = _ts(v.valid_from), _ts(v.valid_to)
            self.v[v.id] = v
            self.by_section[v.section_id].append(v)
        for vs in self.by_section.values():
            vs.sort(key=lambda x: (x.valid_from or "", x.id))
            for a, b in zip(vs, vs[1:]):
                a.next, b.prev = b, a
        self.renames = list(renames)
        linker = _Linker(self.v, self.renames, self._texts, self.opt)
        linker.link()
        self.links = linker.links

    # ------------------------------------------------------------------ text

    def tokens(self, v: _V) -> Counter[str]:
        return self._texts.tokens(v)

    def same_text(self, a: _V, b: _V) -> bool:
        return self._texts.same_text(a, b)

    # ------------------------------------------------------------------ queries

    def versions(self, section_id: str) -> list[_V]:
        return self.by_section.get(section_id, [])

    def ancestry(self, section_id: str) -> set[int]:
        """Ids of every version whose text flowed into this section: its own versions, and before
        them, through moves and renames, the versions at its earlier addresses."""
        seen: set[int] = set()
        stack = [v for v in self.by_section.get(section_id, [])]
        while stack:
            v = stack.pop()
            if v.id in seen:
                continue
            seen.add(v.id)
            for pid, _ in v.links_in:
                p = self.v[pid]
                # the predecessor, and its section's history up to it
                x: _V | None = p
                while x is not None:
                    if x.id not in seen:
                        stack.append(x)
                    x = x.prev
        return seen

    def earlier_addresses(self, section_id: str) -> set[str]:
        """Section ids this section's text lived under before (its own id excluded)."""
        return {self.v[i].section_id for i in self.ancestry(section_id)} - {section_id}

    def homes(self, version_id: int, live: Container[str]) -> list[tuple[str, str]]:
        """Where the text of a version lives now: [(live section id, how it got there)].

        Follows the version's own section forward (its later versions are the same section), and
        links out of it (moves, renames, splits, merges). Empty: the text was deleted."""
        out: list[tuple[str, str]] = []
        seen: set[int] = set()
        start = self.v.get(version_id)
        stack: list[tuple[_V, str]] = [(start, "same section")] if start else []
        while stack:
            v, how = stack.pop()
            if v.id in seen:
                continue
            seen.add(v.id)
            x: _V | None = v
            while x is not None:
                seen.add(x.id)
                for wid, h in x.links_out:
                    stack.append((self.v[wid], h if how == "same section" else how))
                if x.next is None:
                    break
                x = x.next
            assert x is not None
            if x.valid_to is None and x.section_id in live and all(s != x.section_id for s, _ in out):
                out.append((x.section_id, how))
        return out

    def link(self, a: int, b: int) -> str | None:
        """How version `a` continues as version `b`, if it does."""
        return next((h for w, h in self.v[a].links_out if w == b), None) if a in self.v else None


__all__ = ["HistoryOptions", "SectionHistory"]
