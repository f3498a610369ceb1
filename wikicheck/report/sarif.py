"""SARIF 2.1.0, for code-scanning dashboards. Rules come from the registry; fingerprints are stable."""

from __future__ import annotations

import json
from typing import Any, TextIO

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def format_findings(findings: list[dict[str, Any]], summary: dict[str, Any], out: TextIO) -> None:
    from .. import __version__
    from ..rules import RULES, summary_line

    rules = [
        {"id": code, "name": r.NAME, "shortDescription": {"text": summary_line(r)},
         "fullDescription": {"text": (r.__doc__ or "").strip()},
         "defaultConfiguration": {"level": _LEVEL[r.DEFAULTS.get("level", "warning")]}}
        for code, r in sorted(RULES.items())
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in findings:
        msg = f["message"]
        if f.get("newer"):
            msg += f" (newer: {f['newer']['path']} §{f['newer']['heading']})"
        results.append({
            "ruleId": f["rule"], "ruleIndex": index.get(f["rule"], 0), "level": _LEVEL[f["level"]],
            "message": {"text": msg},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f["path"]},
                                                "region": {"startLine": f.get("line") or 1}}}],
            "partialFingerprints": {"wikicheck/v1": f["fingerprint"]},
            "properties": {"kind": f["kind"], "section_id": f.get("section_id"), "heading": f.get("heading")},
        })
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "wikicheck", "version": __version__,
                                      "informationUri": "https://github.com/wikicheck/wikicheck", "rules": rules}},
                  "results": results}],
    }
    json.dump(doc, out, indent=2, sort_keys=True)
    out.write("\n")
