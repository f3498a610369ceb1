"""Readable findings, grouped by page, like a linter."""

from __future__ import annotations

import re
from typing import Any, TextIO

# C0 and C1 control characters but tab: a heading carrying ESC sequences must not retitle the
# reader's terminal window or clear the screen
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object) -> str:
    """Text from the wiki as it may be printed to a terminal: control characters shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def format_findings(findings: list[dict[str, Any]], summary: dict[str, Any], out: TextIO) -> None:
    out = _SafeOut(out)  # type: ignore[assignment]
    by_path: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_path.setdefault(f"{f['path']}", []).append(f)
    for path, fs in by_path.items():
        out.write(f"{path}\n")
        for f in fs:
            new = " (new)" if f.get("new") else ""
            heading = f"§{f['heading']}: " if f.get("heading") else ""
            out.write(f"  {f.get('line') or 1}:1  {f['level']:<7}  {heading}{f['message']}  ({f['rule']} {f['name']}){new}\n")
            if f.get("newer"):
                n = f["newer"]
                out.write(f"           → use {n['path']} §{n['heading'] or '(top)'} (changed {(n.get('changed_at') or '?')[:10]})\n")
        out.write("\n")
    lv = summary.get("by_level", {})
    out.write(
        f"{summary.get('findings', len(findings))} findings: {lv.get('error', 0)} errors, {lv.get('warning', 0)} warnings, "
        f"{lv.get('info', 0)} info; {summary.get('new', 0)} new since {_since(summary)}, {summary.get('resolved', 0)} resolved"
        f"{', ' + str(summary['suppressed']) + ' suppressed' if summary.get('suppressed') else ''}\n"
    )


def _since(summary: dict[str, Any]) -> str:
    """What "new" counts from: the last recorded run, named, since a plain check is not one (#12)."""
    base = summary.get("baseline_run")
    return f"the last recorded run (#{base})" if base else "the last run"


class _SafeOut:
    """A text stream whose writes have control characters escaped, newlines kept."""

    def __init__(self, out: TextIO):
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write("\n".join(safe(line) for line in text.split("\n")))
