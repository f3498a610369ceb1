"""Which runbook a page is: its title and title keys, the words of its path and text, the page its
history says it was made from, and whether two pages are one runbook, siblings of one template, or
linked by text that moved between them.

Shared by the three analyses; like the core, it answers no rule's question of its own.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from ..lexical import lexical_similarity, tokens
from .core import Corpus, Sec

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


def norm_heading(h: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", h.lower()).strip()


class PageIdentity:
    def __init__(self, corpus: Corpus):
        self.c = corpus
        self._words: dict[str, set[str]] = {}
        self._origins: dict[str, str | None] = {}
        self._title_keys: dict[str, set[str]] = {}

    def same_runbook(self, a: str, b: str) -> bool:
        """Two pages are the same runbook when their titles match once team prefixes and tags are dropped.

        A page's current title counts against the other's current or past titles (a copy keeps the
        title of the version it was made from), never two past titles against each other (pages made
        from one template share the template's first title). And a page that was made from the other
        and then given a title of its own is a sibling of it, not a copy."""
        ca, cb = self.keys(a), self.keys(b)
        if ca & cb:
            return True
        if ca & self.keys(b, past=True) and not self.derived(b, a):
            return True
        if cb & self.keys(a, past=True) and not self.derived(a, b):
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
        d = self.c.docs.get(doc_id)
        if d is not None:
            return str(d["path"])
        vs = self.c.doc_versions.get(doc_id)
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
            live = self.c.by_doc.get(doc_id)
            if live:
                texts = [t.row["heading"] + "\n" + t.row["text"] for t in live]
            else:
                last: dict[str, dict[str, Any]] = {}
                for v in self.c.doc_versions.get(doc_id, []):
                    last[v["section_id"]] = v
                texts = [" ".join(json.loads(v["heading_path"])) + "\n" + self.c.vtext(v["id"]) for v in last.values()]
            words: set[str] = set()
            for t in texts:
                words |= title_words(t)
            self._words[key] = words
        return self._words[key]

    def keys(self, doc_id: str, past: bool = False) -> set[str]:
        """Title keys of a page: its current title (and H1), or with `past` the titles it had before."""
        cache = self._title_keys
        ck = ("past:" if past else "") + doc_id
        if ck not in cache:
            keys: set[str] = set()
            if past:
                for hp in self.c.past_titles.get(doc_id, ()):
                    keys |= title_keys(hp)
            else:
                # a declared title (front matter, <title>) says which runbook this is; the H1 only
                # when there is none (a page copied from another often keeps the other's H1)
                d = self.c.docs.get(doc_id) or {}
                if d.get("title"):
                    keys |= title_keys(str(d["title"]))
                else:
                    head = self._title_section(doc_id)
                    if head is not None:
                        keys |= title_keys(str(head.row["heading"]))
            cache[ck] = keys
        return cache[ck]

    def origin(self, x: str) -> str | None:
        """The page `x` was made from, when its history says so: at its first commit, every section it
        had with text said word for word what one other page said just before (each of those texts
        on that page alone: boilerplate many pages say is no one page's), and together they are more
        than a stub. None when no page did (or the page was written on its own)."""
        if x in self._origins:
            return self._origins[x]
        c = self.c
        xs = c.doc_versions.get(x, [])
        found: str | None = None
        if xs:
            t0 = min(v["valid_from"] or "" for v in xs)
            born = [v for v in xs if (v["valid_from"] or "") == t0 and tokens(c.vtext(v["id"]))]
            if sum(len(tokens(c.vtext(v["id"]))) for v in born) < 5:
                born = []
            votes: dict[str, int] = defaultdict(int)
            own = 0  # sections with text of its own (boilerplate that many pages say is no one's)
            for v in born:
                hv = c.history.v.get(v["id"])
                if hv is not None and hv.links_in:
                    continue  # the text moved here (a rename, a move): the page's own earlier address
                # within one source: two systems' clocks (a commit date, a wiki page's own date) cannot
                # say which page was made from which
                docs = {w["document_id"] for w in c.by_body.get(v["body_hash"], [])
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

    def derived(self, x: str, y: str) -> bool:
        """True when page `x` was made from page `y`: when `x` first appeared, some of its sections
        said what `y`'s sections said at that moment (specific text, not a line of boilerplate)."""
        c = self.c
        xs = c.doc_versions.get(x, [])
        if not xs:
            return False
        t0 = min(v["valid_from"] or "" for v in xs)
        born = [v for v in xs if (v["valid_from"] or "") == t0]
        # what `y` said just before: pages written in one commit are siblings, neither made from the other
        then = [v for v in c.doc_versions.get(y, [])
                if (v["valid_from"] or "") < t0 and (v["valid_to"] is None or v["valid_to"] >= t0)]
        if not then:
            return False
        bodies = {v["body_hash"] for v in then}
        for v in born:
            text = c.vtext(v["id"])
            if len(tokens(text)) < c.opt.lineage_min_tokens:
                continue
            if v["body_hash"] in bodies or any(lexical_similarity(text, c.vtext(w["id"])) >= c.opt.near_copy
                                               for w in then):
                return True
        return False

    def moved_between(self, a: str, b: str) -> bool:
        """True when text of one page moved to the other (a rename that left a stub behind, a
        section moved across): the history links them, so neither is a stale copy of the other."""
        for x, y in ((a, b), (b, a)):
            theirs = {v["section_id"] for v in self.c.doc_versions.get(y, [])}
            for s in self.c.by_doc.get(x, []):
                if any(self.c.vrow[i]["section_id"] in theirs for i in self.c.ancestry(s.row["id"])):
                    return True
        return False

    def _title_section(self, doc_id: str) -> Sec | None:
        """The section whose heading is the page's title: its H1, or on a page without one (docs
        sites that render the title from front matter or start at ##) its first top-level heading."""
        secs = [t for t in self.c.by_doc.get(doc_id, []) if t.row["level"] >= 1 and t.row["heading"]]
        if not secs:
            return None
        top = min(t.row["level"] for t in secs)
        first = min(secs, key=lambda t: t.row["line_start"])
        return first if first.row["level"] == top else None

    def title(self, doc_id: str) -> str:
        d = self.c.docs.get(doc_id) or {}
        if d.get("title"):
            return str(d["title"])
        head = self._title_section(doc_id)
        if head is not None:
            return str(head.row["heading"])
        return re.sub(r"[-_]", " ", str(d.get("path", "")).rsplit("/", 1)[-1].rsplit(".", 1)[0])
