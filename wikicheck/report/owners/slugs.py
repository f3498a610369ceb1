"""The file name of each owner's report: readable, safe on every filesystem, stable and unique."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

SLUG_MAX = 48  # the readable part of a report's file name; "owner-" + 48 + "-" + 8-char hash + ".html" = 68


def _slug_hash(owner: str) -> str:
    return hashlib.sha1(owner.encode("utf-8")).hexdigest()[:8]


def _readable_slug(owner: str) -> tuple[str, bool]:
    """The readable part of an owner's file name, and whether it lost what tells owners apart
    (letters with no ASCII form, a cut at SLUG_MAX, nothing left): then a hash is appended."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", owner.casefold()) if not unicodedata.combining(c))
    lost = any(c.isalnum() and not c.isascii() for c in folded)  # e.g. CJK, which folds to nothing
    full = re.sub(r"[^a-z0-9]+", "-", folded.removeprefix("@").replace("@", "-at-")).strip("-")
    if not full:
        return "owner", True
    if len(full) > SLUG_MAX:
        cut = full[:SLUG_MAX]
        full = (cut.rsplit("-", 1)[0] if "-" in cut[SLUG_MAX // 2:] else cut).strip("-")
        lost = True
    return full, lost


def owner_file_slugs(owners: Iterable[str]) -> dict[str, str]:
    """The file name (without extension) of each owner's report: ``owner-<slug>``.

    Readable (``@acme/payments-team`` -> ``owner-acme-payments-team``, ``Zoë Ünïcode`` ->
    ``owner-zoe-unicode``), safe on every filesystem (lower-case ASCII letters, digits and ``-``
    only, at most 68 characters with the extension, never a reserved name), stable (a function of
    the owner, plus a hash of it where needed) and unique: when the readable part is cut, lost
    letters, or is shared by two owners, each of them gets ``-<8 hex digits of sha1(owner)>``.
    """
    keys = sorted(set(owners))
    base: dict[str, tuple[str, bool]] = {k: _readable_slug(k) for k in keys}
    count: dict[str, int] = {}
    for b, _ in base.values():
        count[b] = count.get(b, 0) + 1
    out: dict[str, str] = {}
    for k in keys:
        b, lost = base[k]
        out[k] = "owner-" + (f"{b}-{_slug_hash(k)}" if lost or count[b] > 1 else b)
    if len(set(out.values())) < len(out):  # a readable slug equal to another's slug-and-hash: full hashes
        for k in keys:
            out[k] = f"owner-{base[k][0]}-{hashlib.sha1(k.encode('utf-8')).hexdigest()}"
    return out
