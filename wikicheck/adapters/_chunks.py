"""What the adapters share: turn Guard verdicts on chunks into keep / replace / drop decisions."""

from __future__ import annotations

from typing import Any

from ..guard import Guard


def decide(guard: Guard, chunks: list[dict[str, Any]], policy: str) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """For each chunk: ("keep" | "replace" | "drop", annotation, replacement section or None).

    With policy "block", a blocked chunk is replaced by the newer section it points to (when that one
    is not blocked itself), else dropped; "annotate" and "demote" keep everything.
    """
    out = []
    for ann in guard.check_chunks(chunks):
        if ann["verdict"] != "block" or policy != "block":
            out.append(("keep", ann, None))
            continue
        newer = ann.get("newer")
        sec = guard.by_id.get(newer["section_id"]) if newer else None
        if sec is not None and guard.judge(sec)[0] != "block":
            out.append(("replace", ann, sec))
        else:
            out.append(("drop", ann, None))
    return out


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
