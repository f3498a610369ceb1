"""The stable, versioned JSON contract: {"version": 1, "findings": [...], "summary": {...}}."""

from __future__ import annotations

import json
from typing import Any, TextIO

VERSION = 1


def format_findings(findings: list[dict[str, Any]], summary: dict[str, Any], out: TextIO) -> None:
    json.dump({"version": VERSION, "findings": findings, "summary": summary}, out, indent=2, sort_keys=True, default=str)
    out.write("\n")


def format_findings_lines(findings: list[dict[str, Any]], summary: dict[str, Any], out: TextIO) -> None:
    for f in findings:
        out.write(json.dumps(f, sort_keys=True, default=str) + "\n")
