"""Output formats for findings. A new format is one module here plus one entry in FORMATTERS.

Each formatter is a pure function ``(findings, summary, out) -> None``; findings are the JSON
objects of the versioned contract (``Finding.to_json()``).
"""

from __future__ import annotations

from typing import Any, Callable, TextIO

from . import github, json_, sarif, text

Formatter = Callable[[list[dict[str, Any]], dict[str, Any], TextIO], None]

FORMATTERS: dict[str, Formatter] = {
    "text": text.format_findings,
    "json": json_.format_findings,
    "jsonl": json_.format_findings_lines,
    "sarif": sarif.format_findings,
    "github": github.format_findings,
}

__all__ = ["FORMATTERS", "Formatter"]
