"""Plain text pages (.txt): sections from underlined headings ("Restart" over a line of === or ---),
else one section per page under its first non-empty line; indented paragraphs are code."""

from __future__ import annotations

import re

from .base import Parsed, fenced

KIND = "text"
EXTENSIONS = (".txt",)

_ADORNMENT = re.compile(r"^([=\-~^*#+_])\1{2,}[ \t]*$")
_MAX_TITLE = 120  # a longer first line is a sentence, not a title


def parse(text: str) -> Parsed:
    lines = text.split("\n")
    headings = _underlined(lines)
    skip = {i for line, _, _ in headings for i in (line - 1, line, line + 1)
            if 0 <= i < len(lines) and (i == line or _ADORNMENT.match(lines[i]))}
    if not headings:
        first = next((i for i, x in enumerate(lines) if x.strip()), None)
        if first is not None and len(lines[first].strip()) <= _MAX_TITLE:
            headings = [(first, 1, lines[first].strip())]
            skip = {first}
    out = Parsed(headings=headings)
    title = headings[0][2] if headings else next((x.strip() for x in lines if x.strip()), "")
    if title:
        out.meta["title"] = title[:_MAX_TITLE]
    para: list[tuple[int, str]] = []

    def flush() -> None:
        if para:
            start, body = para[0][0], [x for _, x in para]
            if all(x.startswith(("    ", "\t")) for x in body):
                out.blocks.append((start, 1, fenced("\n".join(_dedent(body)))))
            else:
                out.blocks.append((start, 1, " ".join(x.strip() for x in body)))
            para.clear()

    for i, line in enumerate(lines):
        if i in skip or not line.strip():
            flush()
        else:
            para.append((i, line))
    flush()
    return out


def _underlined(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, level, title) of each title underlined with a repeated =-~^*#+_ at least 3 long; levels in
    order of first appearance of each adornment character, as reStructuredText has them."""
    order: list[str] = []
    found = []
    for i in range(len(lines) - 1):
        title, under = lines[i].strip(), lines[i + 1]
        m = _ADORNMENT.match(under)
        if (not m or not title or _ADORNMENT.match(lines[i]) or len(title) > _MAX_TITLE
                or (i > 0 and lines[i - 1].strip() and not _ADORNMENT.match(lines[i - 1]))):
            continue
        if m.group(1) not in order:
            order.append(m.group(1))
        found.append((i, order.index(m.group(1)) + 1, title))
    return found


def _dedent(lines: list[str]) -> list[str]:
    lines = [x.expandtabs(4) for x in lines]
    cut = min(len(x) - len(x.lstrip(" ")) for x in lines)
    return [x[cut:] for x in lines]
