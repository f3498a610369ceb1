"""Copied pages (WC201 superseded, and WC204 duplicate for their identical sections).

Two pages that are the same runbook (matching titles, sections that align by heading) but whose
aligned sections state different claims (commands, hosts, flags, ports, paths, quantities). The
older one, by the date of its last *substantive* change, is superseded. The direction is voted over
the whole page: a page is copied as a whole, so one section touched later by a cosmetic edit does
not turn a stale copy into the current page.

The page pairs and their direction are also what lineage and contradictions defer to.
"""

from __future__ import annotations

from collections import defaultdict

from ..claims import ClaimDiff, diff_claims
from ..lexical import changed_share, lexical_similarity, new_sentences, tokens
from .align import align, split_off, title_section
from .core import Corpus, Hit, Sec, day, summary
from .identity import PageIdentity


class CopiedPages:
    def __init__(self, corpus: Corpus, identity: PageIdentity):
        self.c = corpus
        self.ident = identity
        self._made_from: dict[tuple[str, str], str] = {}  # page pair -> the page the other was made from
        self._votes: dict[tuple[str, str], tuple[list[tuple[Sec, Sec, ClaimDiff | None]], int]] = {}
        self._by_title: dict[str, set[str]] | None = None  # live pages by title key
        self._body_pages: dict[str, int] | None = None
        self._pairs: dict[tuple[str, str], list[tuple[Sec, Sec]]] | None = None

    def page_pairs(self) -> dict[tuple[str, str], list[tuple[Sec, Sec]]]:
        """Pages that are the same runbook, with their sections aligned."""
        if self._pairs is not None:
            return self._pairs
        c, ident = self.c, self.ident
        neigh = c.neighbours()
        cand: set[tuple[str, str]] = set()
        for sid, ns in neigh.items():
            a = c.secs[sid].row["document_id"]
            for nid, sim in ns:
                b = c.secs[nid].row["document_id"]
                if a != b and sim >= c.opt.min_similarity:
                    cand.add((min(a, b), max(a, b)))
        pairs: dict[tuple[str, str], list[tuple[Sec, Sec]]] = {}
        for a, b in sorted(cand):
            # one runbook by title (a title with words added is not enough: alert names extend each
            # other, "KubePersistentVolumeFillingUp" and "KubePersistentVolumeInodesFillingUp")
            if not ident.same_runbook(a, b):
                continue
            aligned = align(c, c.by_doc[a], c.by_doc[b])
            smaller = min(len(c.by_doc[a]), len(c.by_doc[b]))
            if not smaller or len(aligned) / smaller < c.opt.min_aligned:
                continue
            if ident.moved_between(a, b) or ident.siblings(a, b):
                continue  # text moved from one to the other, or two pages of one template about their own subjects
            oa, ob = ident.origin(a), ident.origin(b)
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

    def _title_pages(self) -> dict[str, set[str]]:
        """Live pages by title key."""
        if self._by_title is None:
            self._by_title = defaultdict(set)
            for doc in self.c.by_doc:
                for key in self.ident.keys(doc):
                    self._by_title[key].add(doc)
        return self._by_title

    def _pages_with_body(self) -> dict[str, int]:
        """How many live pages carry each section body: text on three or more is boilerplate."""
        if self._body_pages is None:
            docs: dict[str, set[str]] = defaultdict(set)
            for t in self.c.secs.values():
                docs[t.row["body_hash"]].add(t.row["document_id"])
            self._body_pages = {h: len(d) for h, d in docs.items()}
        return self._body_pages

    def _copy_evidence(self, a: str, b: str, aligned: list[tuple[Sec, Sec]]) -> bool:
        """Evidence that one page's text came from the other, beyond a shared title and skeleton:
        an aligned section that says the same specific thing on both (not boilerplate that many
        pages repeat), or a history in which one page was made from the other."""
        opt, ident = self.c.opt, self.ident
        pages = self._pages_with_body()
        for x, y in aligned:
            if len(tokens(x.row["text"])) < opt.lineage_min_tokens or len(tokens(y.row["text"])) < opt.lineage_min_tokens:
                continue
            if x.row["body_hash"] == y.row["body_hash"]:
                if pages.get(x.row["body_hash"], 0) <= 2:
                    return True
            elif lexical_similarity(x.row["text"], y.row["text"]) >= opt.near_copy:
                return True
        if ident.derived(a, b) or ident.derived(b, a):
            return True
        # a specific title (three words or more) that these two pages carry and no other page does
        # names one runbook, whatever has been rewritten on either since
        for key in ident.keys(a) & ident.keys(b):
            if " " in key and len(key.split()) >= 3 and len(self._title_pages().get(key, ())) == 2:
                return True
        # no section is the same any more, but the two pages say mostly the same words in the sections
        # that align, under one title: an old copy of a page that has since been edited all over (only
        # with the same current title; template siblings are ruled out before this). Counted over
        # words, not sections: a long procedure that kept most of its words weighs more than a
        # two-line summary that was rewritten
        if a and b and ident.keys(a) & ident.keys(b) and aligned:
            both = [(x.row["text"], y.row["text"]) for x, y in aligned if tokens(x.row["text"]) and tokens(y.row["text"])]
            return bool(both) and lexical_similarity("\n".join(t for t, _ in both), "\n".join(t for _, t in both)) >= 0.5
        return False

    def _diverged(self, a: Sec, b: Sec) -> bool:
        """True when `a` once said what `b` says now, and moved away from it by its own later edits."""
        for v in self.c.versions.get(a.row["id"], [])[:-1]:
            if lexical_similarity(self.c.vtext(v["id"]), b.row["text"]) >= 0.95:
                return True
        return False

    def is_split(self, old: Sec, new: Sec) -> bool:
        """True when `new`'s page gave part of what `old` says a heading of its own (align.split_off)."""
        doc, other = new.row["document_id"], old.row["document_id"]
        aligned = self.page_pairs().get((min(doc, other), max(doc, other)))
        return split_off(self.c, old, new, aligned)

    def _page_votes(self, pair: tuple[str, str]) -> tuple[list[tuple[Sec, Sec, ClaimDiff | None]], int]:
        """Aligned sections of a copied-page pair with their claim differences, and the page vote:
        > 0 when the second page is newer, by the dates of the sections whose claims differ."""
        if pair not in self._votes:
            diffs: list[tuple[Sec, Sec, ClaimDiff | None]] = []
            votes = 0
            for x, y in self.page_pairs().get(pair, []):
                if x.row["body_hash"] == y.row["body_hash"]:
                    diffs.append((x, y, None))
                    continue
                if self.is_split(x, y) or self.is_split(y, x):
                    continue  # the same text under more headings on one page: no difference to vote on
                d = diff_claims(self.c.claims(x), self.c.claims(y))
                diffs.append((x, y, d))
                if d.substantive:
                    ex, ey = self.c.eff_date(x) or "", self.c.eff_date(y) or ""
                    votes += (ex < ey) - (ex > ey)
            self._votes[pair] = (diffs, votes)
        return self._votes[pair]

    def ahead_by_claims(self, a: str, b: str) -> str | None:
        """Of two pages that are copies of one runbook, the one whose differing claims (commands,
        values, settings) are the newer ones, whatever the history says of which page was made from
        which; None when no claim differs, or the two are not such a pair."""
        pair = (min(a, b), max(a, b))
        if pair not in self.page_pairs():
            return None
        votes = self._page_votes(pair)[1]
        return None if votes == 0 else (pair[1] if votes > 0 else pair[0])

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

    def _prose_direction(self, x: Sec, y: Sec, d: ClaimDiff, lex: float, votes: int, votes_dates: int) -> int:
        """For two aligned sections that differ in prose or links only: +1 when `y` supersedes `x`, -1
        for the other way, 0 when the difference is not a change that supersedes either."""
        c = self.c
        # stale when the newer page was rewritten or re-linked, once the page's direction is settled;
        # never when either side was edited on its own (a team note, a review line, a fixed link) after
        # saying the same thing as the other
        links = any(cl.type == "url" for cl in d.old_only + d.new_only)
        if votes_dates == 0 or (changed_share(x.row["text"], y.row["text"]) <= c.opt.prose_changed_share and not links):
            return 0
        # without any claim on the page to settle it, only a real rewrite, or a sentence one side says
        # and the other has nothing like (a step added, advice dropped) counts, never a reworded
        # sentence: "never raised when the two say the same thing". A note that either side added on
        # its own is ruled out just below (_diverged: it said what the other says)
        if not votes and lex >= c.opt.rewrite and not (
                new_sentences(x.row["text"], y.row["text"]) or new_sentences(y.row["text"], x.row["text"])):
            return 0
        old, new = (x, y) if votes_dates > 0 else (y, x)
        # the older side moved away by itself: its own note or fix, not staleness. The newer side moving
        # away is the update itself, but only when claims settled the direction
        if self._diverged(old, new) or (not votes and self._diverged(new, old)):
            return 0
        if len(tokens(new.row["text"])) < 3:
            # the newer page says nothing here. Under a step's heading, that is advice taken out of the
            # runbook, which the copy still gives. Under the page's title it is not: that is where a
            # copy says what it is ("Copy of the platform runbook, kept for the checkout on-call"), and
            # where nothing tells a note apart from a step without the page's history
            if len(tokens(old.row["text"])) < 3 or title_section(old) or title_section(new):
                return 0
        return votes_dates

    def copied_pages(self) -> list[Hit]:
        c = self.c
        eff = c.eff_date
        out: list[Hit] = []
        for pair in self.page_pairs():
            # the history shows one page was made from the other: the source is never the stale copy
            # of the page made from it, whatever dates later cosmetic edits gave that copy
            source = self._made_from.get(pair)
            diffs, votes = self._page_votes(pair)
            if not votes:
                # no claim settles the direction: take the dates, if every differing section agrees
                signs = {((eff(x) or "") < (eff(y) or "")) - ((eff(x) or "") > (eff(y) or ""))
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
                        first, second = (x, y) if (eff(x) or "") <= (eff(y) or "") else (y, x)
                    if tokens(second.row["text"]):
                        out.append(Hit("superseded", "duplicate", second.row["id"], first.row["id"],
                                       f"identical to {first.row['path']} §{first.row['heading'] or '(top)'}",
                                       {"match": "exact"}, key=first.row["id"]))
                    continue
                lex = lexical_similarity(x.row["text"], y.row["text"])
                # a rewrite in prose only counts once the page's direction is settled by claims: a note
                # added to a copy must never make the copy look like the newer page
                ex, ey = eff(x) or "", eff(y) or ""
                direction = votes if votes else (ex < ey) - (ex > ey)
                if direction == 0:
                    continue
                old, new = (x, y) if direction > 0 else (y, x)
                if not d.substantive:
                    settled = self._prose_direction(x, y, d, lex, votes, votes_dates)
                    if settled == 0:
                        # not a change that supersedes, but where the claims on the rest of the page
                        # settle which page is the older copy, its wording gives place to the newer one
                        hit = _older_wording(x, y, votes, source, lex)
                        if hit is not None:
                            out.append(hit)
                        continue
                    direction = settled
                    old, new = (x, y) if settled > 0 else (y, x)
                if source is not None and old.row["document_id"] == source:
                    continue
                dd = d if direction > 0 else diff_claims(c.claims(y), c.claims(x))
                what = summary(dd) if tokens(new.row["text"]) else "the newer page took this text out"
                msg = (f"superseded by {new.row['path']} §{new.row['heading'] or '(top)'} "
                       f"(changed {day(eff(new))}; this copy {day(eff(old))}): {what}")
                ev = c.evidence(old, new, dd, {"match": "page copy", "lexical_similarity": round(lex, 3),
                                               "page_votes": abs(votes), "history": c.why_not_own(old, None, new)})
                out.append(Hit("superseded", "superseded", old.row["id"], new.row["id"], msg, ev, key=new.row["id"]))
        return out


def _older_wording(x: Sec, y: Sec, votes: int, source: str | None, lex: float) -> Hit | None:
    """A duplicate on the older page's section when the claims elsewhere on the page settled which
    page is the older copy (never dates alone, never against the history): the two say the same
    thing in other words, and the guard hands the agent the newer wording, as lineage does for a
    copy of an older wording."""
    if not votes:
        return None
    old, new = (x, y) if votes > 0 else (y, x)
    if (source is not None and old.row["document_id"] == source) or len(tokens(new.row["text"])) < 3:
        return None
    return Hit("superseded", "duplicate", old.row["id"], new.row["id"],
               f"older wording of {new.row['path']} §{new.row['heading'] or '(top)'}, on a page that is an "
               f"older copy of that one (its commands or values are the older ones)",
               {"match": "page copy", "lexical_similarity": round(lex, 3), "page_votes": abs(votes),
                "gives_place": True}, key=new.row["id"])
