"""Drift analysis: which sections are superseded, contradicted or obsolete, and by what.

Three kinds of evidence, strongest first, one module each:

* **Lineage** (``lineage.py``, WC203). A section whose text equals (or nearly equals) a *past*
  version of a section on another page, which has since changed in substance or been removed. The
  history says which text is older, whatever the file dates say.
* **Copied pages** (``pages.py``, WC201). Two pages that are the same runbook (matching titles,
  sections that align by heading) but whose aligned sections state different claims (commands,
  hosts, flags, ports, paths, quantities). The older one, by the date of its last *substantive*
  change, is superseded. The direction is voted over the whole page: a page is copied as a whole,
  so one section touched later by a cosmetic edit does not turn a stale copy into the current page.
* **Contradictions** (``contradictions.py``, WC202). Sections of different pages on the same topic
  (nearest neighbours in the faiss index) that give a conflicting value for the same setting (a
  flag, a port, a timeout) or opposite instructions. The older one is contradicted by the newer.

Lineage and copied pages also find duplicates (WC204): copies of text that is still current.

What they share: ``core.py`` (the sections, their versions, vectors and neighbours, the dates of
substantive changes) and ``identity.py`` (which runbook a page is: titles, the page it was made
from). The analyses are separate objects over that shared state, not layers of one class: each
says what it reads in its constructor, and lineage and contradictions defer to the page pairs of
``pages.py``. This module only puts them together and picks one verdict per section.

Candidate pairs come from k nearest neighbours in embedding space; nothing is compared all-pairs.
"""

from __future__ import annotations

from typing import Any

from ..store import Store
from .contradictions import Contradictions
from .core import TIE_MARGIN, Corpus, DriftOptions, Hit
from .identity import PageIdentity, title_keys, title_words
from .lineage import Lineage
from .pages import CopiedPages

__all__ = ["TIE_MARGIN", "Drift", "DriftOptions", "Hit", "title_keys", "title_words"]


class Drift(Corpus):
    """The corpus with its three analyses; `analyse` gives one verdict per section."""

    def __init__(self, store: Store, model_id: str, options: DriftOptions | None = None, index: Any = None,
                 sections: list[dict[str, Any]] | None = None, executor: Any = None):
        super().__init__(store, model_id, options, index, sections, executor)
        self.identity = PageIdentity(self)
        self.pages = CopiedPages(self, self.identity)
        self._lineage = Lineage(self, self.identity, self.pages)
        self._contradictions = Contradictions(self, self.identity, self.pages)

    def lineage(self) -> list[Hit]:
        return self._lineage.lineage()

    def copied_pages(self) -> list[Hit]:
        return self.pages.copied_pages()

    def contradictions(self, skip: set[str]) -> list[Hit]:
        return self._contradictions.contradictions(skip)

    def analyse(self, enabled: set[str] | None = None) -> list[Hit]:
        """One verdict per section: the strongest evidence among the enabled analyses.

        `enabled` names the analyses whose rules are switched on ("lineage", "superseded",
        "contradicted", "duplicate"); None means all."""
        on = enabled if enabled is not None else {"lineage", "superseded", "contradicted", "duplicate"}
        hits: dict[str, Hit] = {}
        self.prefetch_claims()  # in bulk on the executor's cluster, when there is one

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
