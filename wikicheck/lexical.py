"""How alike two texts are in their words: tokens, multiset Dice, the share a diff marks changed,
containment, and the sentences one says that the other has nothing like.

Apart from claims.py on purpose: claim extraction is cached by a hash of claims.py's source, and
nothing here changes what a text claims."""

from __future__ import annotations

import re

# the sentence split of claims.py's instructions (sentence ends, or line breaks)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")


_TOKEN = re.compile(r"[A-Za-z0-9_$][\w.$/-]*")


def tokens(text: str) -> list[str]:
    return [t.lower().rstrip(".,:;") for t in _TOKEN.findall(text)]


def lexical_similarity(a: str, b: str) -> float:
    """Share of word tokens the two texts have in common (multiset Dice): 1.0 for the same words."""
    ta, tb = tokens(a), tokens(b)
    if not ta and not tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    return _dice(ta, tb)


def changed_share(a: str, b: str) -> float:
    """Share of word tokens a diff of `a` against `b` marks as changed (1 - difflib's ratio over the
    token sequences): reordered and reworded sentences count, as they do for a reviewer reading the
    diff. 0.0 for the same words in the same order."""
    import difflib

    ta, tb = tokens(a), tokens(b)
    if not ta and not tb:
        return 0.0
    return 1.0 - difflib.SequenceMatcher(None, ta, tb, autojunk=False).ratio()


def sentences(text: str) -> list[str]:
    """The sentences (and lines) of `text`, as new_sentences splits them."""
    return [x.strip() for x in _SENT.split(text) if x.strip()]


def new_sentences(old: str, new: str, min_tokens: int = 4, reworded: float = 0.5) -> list[str]:
    """Sentences of `new` that say something `old` does not say at all: at least `min_tokens` words,
    and no sentence of `old` shares as much as `reworded` of its words (a reworded or re-wrapped
    sentence has a counterpart; an added step, or a warning, has none)."""
    olds = [t for t in (tokens(x) for x in _SENT.split(old)) if t]
    out = []
    for sent in _SENT.split(new):
        tn = tokens(sent)
        if len(tn) < min_tokens:
            continue
        if not any(_dice(tn, to) >= reworded for to in olds):
            out.append(sent.strip())
    return out


def _dice(a: list[str], b: list[str]) -> float:
    """Multiset Dice of two non-empty token lists: the measure of lexical_similarity."""
    from collections import Counter

    common = sum((Counter(a) & Counter(b)).values())
    return 2 * common / (len(a) + len(b))


def containment(part: str, whole: str) -> float:
    """Share of `part`'s word tokens that `whole` also has (multiset): 1.0 when nothing in `part` is new."""
    from collections import Counter

    tp = Counter(tokens(part))
    if not tp:
        return 1.0
    tw = Counter(tokens(whole))
    return sum((tp & tw).values()) / sum(tp.values())
