"""Source kinds. A new kind is one module here plus one line in SOURCES."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SourceNotFound, WikicheckError
from .base import Candidate, HistoryEvent, ScanResult, SkipFile, Source
from .folder import FolderSource
from .git import GitSource, is_tracked_folder
from .http import HttpSource

SOURCES = {"folder": FolderSource, "git": GitSource, "http": HttpSource}

__all__ = ["SOURCES", "Candidate", "HistoryEvent", "ScanResult", "SkipFile", "Source", "check_kind_switch",
           "dates_from", "default_name", "detect_kind", "kind_hint", "open_source"]

# where each kind's dates come from, for `wikicheck status` (#12: a folder's mtimes are today on a fresh clone)
DATES = {
    "folder": "front matter or HTML metadata, else file modification time",
    "git": "git commits (the newest among a section's lines); uncommitted edits: file modification time",
    "http": "the wiki's page metadata, HTML metadata or Last-Modified header, else none",
}


def default_name(spec: str) -> str:
    if re.match(r"^[a-z]+://", spec):
        return re.sub(r"[^\w.-]+", "-", spec.split("://", 1)[1]).strip("-")
    return Path(spec).resolve().name or "root"


def detect_kind(spec: str) -> str:
    """http for an http(s) URL; git for a git repository or a folder of one that git tracks; else folder."""
    if re.match(r"^https?://", spec):
        return "http"
    if re.match(r"^[a-z][a-z0-9+.-]*://", spec):
        raise SourceNotFound(f"{spec}: only http(s) URLs and local paths can be crawled")
    p = Path(spec)
    if not p.exists():
        raise SourceNotFound(f"{spec}: no such file or directory; check the path")
    # a folder git tracks is dated by its commits, also a sub-folder of the repository (#12)
    return "git" if is_tracked_folder(p) else "folder"


def open_source(spec: str, *, name: str | None = None, kind: str | None = None, **options: object) -> Source:
    """Open a source by path or URL; the kind is detected unless given."""
    kind = kind or detect_kind(spec)
    if kind not in SOURCES:
        raise SourceNotFound(f"{spec}: unknown source kind {kind!r} (known: {', '.join(sorted(SOURCES))})")
    return SOURCES[kind](spec, name or default_name(spec), **options)  # type: ignore[no-any-return]


def dates_from(kind: str) -> str:
    """Where the pages of a source of this kind get their dates, in words."""
    return DATES.get(kind, f"unknown (source kind {kind!r})")


def kind_hint(kind: str, root: str) -> str | None:
    """What to do about a folder source that git tracks (crawled before #12, or with --kind folder): its
    dates are file times, today on a fresh clone, while git has the real ones. None when nothing to say."""
    if kind != "folder" or not is_tracked_folder(root):
        return None
    return f"git tracks {root}; to date its pages by their commits instead, crawl it into a new --index (kind detected)"


def check_kind_switch(name: str, root: str, was: str, kind: str, *, forced: bool) -> None:
    """Refuse to crawl a folder source as git or a git source as a folder: the store would mix file dates
    with commit dates in one history (a version from today closed by a commit of 2022). Raises WikicheckError."""
    if was == kind or {was, kind} != {"folder", "git"}:
        return
    why = f"--kind {kind}" if forced else ("git tracks it" if kind == "git" else "git does not track it")
    raise WikicheckError(
        f'source "{name}" is a {was} source in this index, and {root} would be crawled as {kind} now ({why}): '
        f"crawl it into a new --index to make it a {kind} source, or give --kind {was} to keep it a {was} source")
