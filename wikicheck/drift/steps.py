"""Steps: the sentences a source added since a copy was made, or took out, and whether a sentence is
a step of one runbook or a template line that many runbooks carry (a team's note, a review line)."""

from __future__ import annotations

from collections import Counter

from ..lexical import REWORDED, dice, new_sentences, sentences, tokens
from .core import Corpus
from .identity import PageIdentity


class StepChanges:
    def __init__(self, corpus: Corpus, identity: PageIdentity):
        self.c = corpus
        self.ident = identity
        self._sentences: list[tuple[str, Counter[str], int]] | None = None  # (page, its words, how many)

    @staticmethod
    def changes(then: str, now: str, mine: str) -> tuple[list[str], list[str]]:
        """Sentences the source added since `then` that the copy (`mine`) lacks, and sentences it took
        out that the copy still says: a step added or advice dropped, not a reworded sentence."""
        added = [x for x in new_sentences(then, now) if new_sentences(mine, x)]
        dropped = [x for x in new_sentences(now, then) if not new_sentences(mine, x)]
        return added, dropped

    def template_line(self, sentence: str, runbook: tuple[str, str]) -> bool:
        """True when two or more other runbooks say `sentence` in nearly the same words (half of them
        shared, the measure of new_sentences): a team's note or a review line is a template line, a
        step of this runbook is not. A runbook counts once with its copies, and this runbook's pages
        (`runbook`, and their copies) not at all: a step two runbooks share is still a step."""
        c = self.c
        if self._sentences is None:
            self._sentences = []
            for t in c.secs.values():
                for x in sentences(t.row["text"]):
                    tx = tokens(x)
                    if tx:
                        self._sentences.append((t.row["document_id"], Counter(tx), len(tx)))
        want = Counter(tokens(sentence))
        n = sum(want.values())
        if not n:
            return False
        others: set[str] = set()
        for doc, have, m in self._sentences:
            if doc in others or doc in runbook or 3 * m < n or 3 * n < m:
                continue
            if dice(want, have) < REWORDED:
                continue
            if any(self.ident.same_runbook(doc, r) for r in (*runbook, *others)):
                continue  # a copy of this runbook, or of a runbook already counted
            others.add(doc)
            if len(others) >= 2:
                return True
        return False
