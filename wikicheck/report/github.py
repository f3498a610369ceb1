"""GitHub Actions workflow commands: one annotation per finding."""

from __future__ import annotations

from typing import Any, TextIO

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _escape(s).replace(":", "%3A").replace(",", "%2C")


def format_findings(findings: list[dict[str, Any]], summary: dict[str, Any], out: TextIO) -> None:
    for f in findings:
        msg = f["message"]
        if f.get("newer"):
            msg += f" → use {f['newer']['path']} §{f['newer']['heading']}"
        title = f"{f['rule']} {f['name']}"
        out.write(f"::{_LEVEL[f['level']]} file={_prop(f['path'])},line={f.get('line') or 1},title={_prop(title)}::{_escape(msg)}\n")
