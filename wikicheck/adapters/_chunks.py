"""What the adapters share: turn Guard verdicts on chunks into keep / replace / drop decisions."""

from __future__ import annotations

from typing import Any

from ..guard import Guard


def decide(guard: Guard, chunks: list[dict[str, Any]], policy: str) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """For each chunk: ("keep" | "replace" | "drop", annotation, replacement section or None).

    With policy "block", a blocked chunk is replaced by the newer section it points to (when that one
    is not blocked itself; a newer heading without text stands for its first subsection with text),
    else dropped; "annotate" and "demote" keep every chunk. Under every policy a section is handed
    over once: a chunk that holds the same section as an earlier chunk (``duplicate_of``), or a
    replacement that is already in the list, is dropped.
    """
    out: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    held: set[str] = set()  # sections already in the list, whole
    for ann in guard.check_chunks(chunks):
        if ann["verdict"] != "block" or policy != "block":
            if ann.get("duplicate_of") is not None or (_whole(ann) and ann["section_id"] in held):
                out.append(("drop", ann, None))
                continue
            if _whole(ann):
                held.add(ann["section_id"])
            out.append(("keep", ann, None))
            continue
        rep = guard.follow_newer(ann.get("newer"))
        if rep is not None and rep.section["id"] not in held:
            held.add(rep.section["id"])
            out.append(("replace", ann, rep.section))
        else:
            out.append(("drop", ann, None))
    return out


def chunk_of(text: str | None, meta: dict[str, Any] | None) -> dict[str, Any]:
    """A framework document as a chunk for Guard.check_chunks: its wikicheck ids and its path and
    heading metadata when present (matched to the current section first), and its text."""
    m = meta or {}
    chunk: dict[str, Any] = {}
    if m.get("section_id"):
        chunk["section_id"] = m["section_id"]
    if m.get("path") and isinstance(m["path"], str):
        chunk["path"] = m["path"]
        if isinstance(m.get("heading"), str) and m["heading"]:
            chunk["heading"] = m["heading"]
    if text:
        chunk["text"] = text
    return chunk or {"text": text or ""}


def _whole(ann: dict[str, Any]) -> bool:
    return bool(ann.get("whole_section") and ann.get("section_id"))


def metadata(ann: dict[str, Any]) -> dict[str, Any]:
    return {
        "wikicheck_verdict": ann["verdict"],
        "wikicheck_reasons": [r.get("message") for r in ann.get("reasons", [])],
        "wikicheck_newer": ann.get("newer"),
        "wikicheck_section_id": ann.get("section_id"),
        "wikicheck_match": ann.get("match"),
        "wikicheck_provenance": ann.get("provenance"),
    }


def section_metadata(sec: dict[str, Any], replaces: str | None) -> dict[str, Any]:
    return {
        "path": sec["path"], "heading": sec["heading"], "section_id": sec["id"],
        "wikicheck_verdict": "ok", "wikicheck_replaces": replaces,
        "wikicheck_provenance": {"changed_at": sec.get("changed_at"), "author": sec.get("author"),
                                 "commit": sec.get("commit"), "timestamp_source": sec.get("timestamp_source")},
    }


# The keys a replacement's metadata takes from the current section: chunk_of reads the first three
# to match a document to the wiki, so they must name the section whose text the document now holds.
SECTION_KEYS = ("path", "heading", "section_id")


def replacement_metadata(original: dict[str, Any] | None, sec: dict[str, Any], ann: dict[str, Any],
                         replaces: str | None) -> dict[str, Any]:
    """The metadata of a document that now holds the current section `sec` in place of a blocked one.

    The replaced document's own keys (``source`` and any other) are kept as they were, so that code
    that reads them keeps working (#12: the LangChain compressor lost ``source``); wikicheck's keys are
    added: ``path``, ``heading`` and ``section_id`` name the current section (they replace the
    original's, which stay in ``wikicheck_original_metadata``), and every other key of wikicheck's
    starts with ``wikicheck_``. ``wikicheck_original_keys`` lists the keys that are the replaced
    document's, ``wikicheck_original_metadata`` holds its metadata whole.
    """
    orig = dict(original or {})
    # a verdict from an earlier pass over the stale document is not one of the replacement's
    kept = {k: v for k, v in orig.items() if not k.startswith("wikicheck_") and k not in SECTION_KEYS}
    meta = {**kept, **section_metadata(sec, replaces)}
    meta["wikicheck_replaced"] = True
    meta["wikicheck_replaced_reasons"] = metadata(ann)["wikicheck_reasons"]
    meta["wikicheck_original_keys"] = sorted(kept)
    meta["wikicheck_original_metadata"] = orig
    return meta
