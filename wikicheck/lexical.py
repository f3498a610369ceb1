"""How alike two texts are in their words: tokens, multiset Dice, the share a diff marks changed,
containment, and the sentences one says that the other has nothing like.

Apart from claims.py on purpose: claim extraction is cached by a hash of claims.py's source, and
nothing here changes what a text claims."""

from __future__ import annotations

import re
from collections import Counter

# the sentence split of claims.py's instructions (sentence ends, or line breaks)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")


_TOKEN = re.compile(r"[A-Za-z0-9_$][\w.$/-]*")

# the share of its words (multiset Dice) a sentence shares with its counterpart when it is the same
# sentence reworded or re-wrapped, not a new one (new_sentences, and template lines in drift.steps)
REWORDED = 0.5


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


def new_sentences(old: str, new: str, min_tokens: int = 4, reworded: float = REWORDED) -> list[str]:
    """Sentences of `new` that say something `old` does not say: at least `min_tokens` words, and no
    counterpart in `old`. A counterpart shares at least `reworded` of the words (a reworded or
    re-wrapped sentence has one; an added step, or a warning, has none), and counts once: sentences
    are paired most alike first, so a step added beside a sentence it shares its subject with ("Check
    logs of the operator pod." / "Check the operator's RBAC configuration.") is not taken for that
    sentence reworded. A sentence `new` repeats word for word counts once."""
    olds = [t for t in map(tokens, sentences(old)) if t]
    news = [(x, t) for x, t in ((x, tokens(x)) for x in sentences(new)) if t]
    pairs = sorted(((_dice(tn, to), i, j) for i, (_, tn) in enumerate(news) for j, to in enumerate(olds)),
                   key=lambda p: (-p[0], p[1], p[2]))
    paired: set[int] = set()
    used: set[int] = set()
    for d, i, j in pairs:
        if d < reworded:
            break
        if i not in paired and j not in used:
            paired.add(i)
            used.add(j)
    words = [sorted(tn) for _, tn in news]
    out = []
    for i, (sent, tn) in enumerate(news):
        if i in paired or len(tn) < min_tokens:
            continue
        if any(k != i and (k in paired or k < i) and words[k] == words[i] for k in range(len(news))):
            continue  # the same words again in `new`: said once already
        out.append(sent)
    return out


def _dice(a: list[str], b: list[str]) -> float:
    """Multiset Dice of two non-empty token lists: the measure of lexical_similarity."""
    return dice(Counter(a), Counter(b))


def dice(a: Counter[str], b: Counter[str]) -> float:
    """Multiset Dice of two non-empty word counts (a caller comparing one text with many counts each
    text's words once)."""
    return 2 * sum((a & b).values()) / (a.total() + b.total())


def containment(part: str, whole: str) -> float:
    """Share of `part`'s word tokens that `whole` also has (multiset): 1.0 when nothing in `part` is new."""
    tp = Counter(tokens(part))
    if not tp:
        return 1.0
    tw = Counter(tokens(whole))
    return sum((tp & tw).values()) / sum(tp.values())
