"""Inline suppressions: ``<!-- wikicheck: disable-next-line WC101 -->``, ``disable-line``,
``disable-file`` and ``disable`` (the section that holds the comment), as yamllint reads its own."""

from __future__ import annotations

import re
from typing import Any

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)[^`\n]*?\1")
_SUPPRESS = re.compile(r"<!--\s*wikicheck:\s*(disable-next-line|disable-line|disable-file|disable)\b([^>]*?)-->", re.I)


def read_suppressions(text: str) -> tuple[set[str] | None, dict[int, set[str] | None]]:
    """(codes disabled for the whole file, {line: codes}) from wikicheck comments. None means all."""
    file_codes: set[str] | None = set()
    lines: dict[int, set[str] | None] = {}
    all_lines = text.split("\n")
    fence: str | None = None
    for i, line in enumerate(all_lines, 1):
        # a comment shown in a code block or an inline code span is an example, not a suppression
        f = _FENCE.match(line)
        if fence:
            if f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
                fence = None
            continue
        if f:
            fence = f.group(1)
            continue
        for m in _SUPPRESS.finditer(_CODE_SPAN.sub("", line)):
            what, arg = m.group(1).lower(), m.group(2).strip()
            codes = {c.strip() for c in re.split(r"[,\s]+", arg) if c.strip()} or None
            codes = {_canon(c) for c in codes} if codes else None
            if what == "disable-file":
                if codes is None or file_codes is None:
                    file_codes = None
                else:
                    file_codes |= codes
            elif what == "disable-line":
                lines[i] = codes
            elif what == "disable-next-line":
                j = i + 1
                while j <= len(all_lines) and not all_lines[j - 1].strip():
                    j += 1
                lines[j] = codes
            else:  # disable: the section that holds the comment
                lines[-i] = codes
    return file_codes, lines


def _canon(code: str) -> str:
    from .rules import BY_NAME

    r = BY_NAME.get(code.lower())
    return r.CODE if r else code.upper()


def is_suppressed(code: str, line: int, sec: dict[str, Any] | None, file_codes: set[str] | None,
                  line_codes: dict[int, set[str] | None]) -> bool:
    """Whether a finding of rule `code` at `line` (in section `sec`) is suppressed by these comments."""
    if file_codes is None or code in file_codes:
        return True
    if line in line_codes and (line_codes[line] is None or code in line_codes[line]):  # type: ignore[operator]
        return True
    if sec:
        for k, codes in line_codes.items():
            if k < 0 and sec["line_start"] <= -k <= sec["line_end"] and (codes is None or code in codes):
                return True
    return False


__all__ = ["is_suppressed", "read_suppressions"]
