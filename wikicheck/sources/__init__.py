"""Source kinds. A new kind is one module here plus one line in SOURCES."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SourceNotFound
from .base import Candidate, HistoryEvent, ScanResult, SkipFile, Source
from .folder import FolderSource
from .git import GitSource, is_git_root
from .http import HttpSource

SOURCES = {"folder": FolderSource, "git": GitSource, "http": HttpSource}

__all__ = ["SOURCES", "Candidate", "HistoryEvent", "ScanResult", "SkipFile", "Source", "open_source", "default_name"]


def default_name(spec: str) -> str:
    if re.match(r"^[a-z]+://", spec):
        return re.sub(r"[^\w.-]+", "-", spec.split("://", 1)[1]).strip("-")
    return Path(spec).resolve().name or "root"


def detect_kind(spec: str) -> str:
    if re.match(r"^https?://", spec):
        return "http"
    if re.match(r"^[a-z][a-z0-9+.-]*://", spec):
        raise SourceNotFound(f"{spec}: only http(s) URLs and local paths can be crawled")
    p = Path(spec)
    if not p.exists():
        raise SourceNotFound(f"{spec}: no such file or directory; check the path")
    return "git" if is_git_root(p) else "folder"


def open_source(spec: str, *, name: str | None = None, kind: str | None = None, **options: object) -> Source:
    """Open a source by path or URL; the kind is detected unless given."""
    kind = kind or detect_kind(spec)
    if kind not in SOURCES:
        raise SourceNotFound(f"{spec}: unknown source kind {kind!r} (known: {', '.join(sorted(SOURCES))})")
    return SOURCES[kind](spec, name or default_name(spec), **options)  # type: ignore[no-any-return]
