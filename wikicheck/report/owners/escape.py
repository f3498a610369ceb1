"""Everything that comes from a document, made safe to print: Markdown escaping and code spans,
finding messages for Markdown and HTML, and links that are only http(s) URLs or relative paths."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit


def safe_url(url: Any) -> str | None:
    """An http(s) URL or a relative path; anything else (javascript:, data:, //host) is no link."""
    if not isinstance(url, str) or not url.strip():
        return None
    u = url.strip()
    if any(ord(c) < 0x20 for c in u) or "\\" in u:
        return None
    parts = urlsplit(u)
    if parts.scheme:
        return u if parts.scheme.lower() in ("http", "https") and parts.netloc else None
    if u.startswith("//") or ":" in u.split("/", 1)[0]:
        return None
    return u


class MdSafe(str):
    """Markdown a template built itself (code spans): printed as is."""


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md_escape(value: Any) -> str:
    """Plain text for Markdown: one line, every character that could start markup or HTML escaped."""
    if isinstance(value, MdSafe):
        return value
    s = re.sub(r"\s+", " ", "" if value is None else str(value))
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_code(value: Any) -> MdSafe:
    """A code span that holds any text: a fence longer than any run of backticks inside."""
    s = " ".join(("" if value is None else str(value)).split())
    if not s:
        return MdSafe("")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return MdSafe(f"{fence}{pad}{s}{pad}{fence}")


_TICKED = re.compile(r"(`[^`\n]+`)")


def md_message(value: Any) -> MdSafe:
    """A finding message: its `code` spans as code spans, the rest escaped."""
    parts = _TICKED.split("" if value is None else str(value))
    return MdSafe("".join(md_code(p[1:-1]) if _TICKED.fullmatch(p) else md_escape(p) for p in parts))


def html_message(value: Any) -> Any:
    """A finding message for HTML: escaped, its `code` spans in <code>."""
    from markupsafe import Markup, escape

    parts = _TICKED.split("" if value is None else str(value))
    return Markup("").join(Markup("<code>%s</code>") % p[1:-1] if _TICKED.fullmatch(p) else escape(p) for p in parts)


def md_link(text: Any, url: Any) -> MdSafe:
    u = safe_url(url)
    if not u:
        return MdSafe(md_escape(text))
    return MdSafe(f"[{md_escape(text)}](<{u.replace('<', '%3C').replace('>', '%3E').replace(' ', '%20')}>)")
