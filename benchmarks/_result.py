"""What the single-run benchmark scripts (time_check.py, bench_guard_memory.py) share: which tree
they measured, and how they hand over their result row. Imported as a sibling module (the script's
own folder is first on sys.path), never by putting the repository first on the path: these scripts
measure the wikicheck that PYTHONPATH names, which may be another tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def code_dir() -> str:
    """The wikicheck package that was measured (imported by the caller first)."""
    return str(Path(sys.modules["wikicheck"].__file__ or "").parent)


def emit(row: dict[str, Any], json_out: str | None = None, lines_out: str | None = None,
         lines: list[str] | None = None) -> None:
    """Print the row as one JSON line; write it to `json_out`, and `lines` to `lines_out`, when given."""
    print(json.dumps(row), flush=True)
    if lines_out:
        Path(lines_out).write_text("\n".join(lines or []) + "\n")
    if json_out:
        Path(json_out).write_text(json.dumps(row, indent=2))
