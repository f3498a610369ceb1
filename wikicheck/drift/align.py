"""Aligning the sections of two copies of one runbook, and the questions asked of an alignment."""

from __future__ import annotations

from ..lexical import lexical_similarity
from .core import Corpus, Sec
from .identity import norm_heading


def align(c: Corpus, xs: list[Sec], ys: list[Sec]) -> list[tuple[Sec, Sec]]:
    """Sections of two copies of one runbook paired by heading path (the H1 apart: copies often
    prefix it with a team's name), then a heading one copy extended, then the closest remaining
    section by cosine, if close."""
    def key(s: Sec) -> tuple[str, ...]:
        hp = s.row["heading_path"]
        # the H1 is the page title, which copies often prefix with a team name
        rest = tuple(norm_heading(h) for h in hp[1:]) if s.row["level"] >= 1 and hp else ()
        return (str(s.row["level"] == 1 and len(hp) == 1), *rest, str(s.row["ordinal"]))

    ymap: dict[tuple[str, ...], Sec] = {}
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
    # a heading one copy extended ("Impact" -> "Impact (Foundations)", a team's name appended): the
    # one remaining section under the same parents whose heading's words contain the other's
    for x in list(rest_x):
        ext = [y for y in rest_y if _extended_heading(x, y)]
        if len(ext) == 1 and sum(_extended_heading(z, ext[0]) for z in rest_x) == 1:
            out.append((x, ext[0]))
            rest_y.remove(ext[0])
            rest_x.remove(x)
    for x in rest_x:  # renamed headings: the closest remaining section, if close
        best = max(rest_y, key=lambda y: c.cos(x, y), default=None)
        if best is not None and c.cos(x, best) >= 0.85:
            out.append((x, best))
            rest_y.remove(best)
    return out


def split_off(c: Corpus, old: Sec, new: Sec, aligned: list[tuple[Sec, Sec]] | None) -> bool:
    """True when `new`'s page gave part of what `old` says a heading of its own: `old` reads as
    `new` followed by the sections right after it that have no counterpart on `old`'s page (an
    "Impact" paragraph that went under "## Impact"), and not as `new` alone. The advice is all
    still there; only the headings moved."""
    if old.row["body_hash"] == new.row["body_hash"]:
        return False
    doc, other = new.row["document_id"], old.row["document_id"]
    if aligned is None:  # not a page pair: align the two pages for this question alone
        aligned = align(c, c.by_doc.get(doc, []), c.by_doc.get(other, []))
    matched = {t.row["id"] for duo in aligned for t in duo}
    secs = sorted(c.by_doc.get(doc, []), key=lambda t: t.row["line_start"])
    at = next((i for i, t in enumerate(secs) if t.row["id"] == new.row["id"]), None)
    if at is None:
        return False
    extra = []
    for t in secs[at + 1:]:
        if t.row["id"] in matched:
            break
        extra.append(t.row["text"])
    if not extra:
        return False
    merged = "\n\n".join([new.row["text"], *extra])
    near = c.opt.near_copy
    return lexical_similarity(old.row["text"], merged) >= near > lexical_similarity(old.row["text"], new.row["text"])


def title_section(s: Sec) -> bool:
    """The text under a page's title (H1), where a page says what it is."""
    return s.row["level"] <= 1 and len(s.row["heading_path"] or []) <= 1


def _extended_heading(a: Sec, b: Sec) -> bool:
    """Two sections at the same place under the same parent headings, where one's own heading is the
    other's with words added (never two titles: a page's H1 is matched on its own)."""
    ha, hb = a.row["heading_path"] or [], b.row["heading_path"] or []
    if a.row["level"] != b.row["level"] or len(ha) != len(hb) or len(ha) < 2:
        return False
    if [norm_heading(h) for h in ha[1:-1]] != [norm_heading(h) for h in hb[1:-1]]:
        return False
    wa, wb = set(norm_heading(ha[-1]).split()), set(norm_heading(hb[-1]).split())
    return bool(wa) and bool(wb) and wa != wb and (wa <= wb or wb <= wa)
