"""What every source kind shares: candidates, skip warnings, and bytes -> Document."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from ..dates import iso, parse_date
from ..formats import FORMATS
from ..model import Document, Provenance
from ..parse.frontmatter import split_front_matter
from ..parse.html import html_metadata

MARKDOWN_EXT = (".md", ".markdown")
HTML_EXT = (".html", ".htm")
# every extension a crawl reads, in the order the "no pages found" message lists them (#12)
PAGE_EXT = MARKDOWN_EXT + HTML_EXT + tuple(e for f in FORMATS.values() for e in f.EXTENSIONS)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

# front matter keys, first match wins
DATE_KEYS = ("updated", "last_updated", "last_modified", "date")
REVIEW_BY_KEYS = ("review_by", "expires")


class SkipFile(Exception):
    """A file the crawl passes over, with a one-line reason naming the file and the fix."""


@dataclass
class Candidate:
    """A page a source found. `load(warn)` is only called when `fingerprint` differs from the store's."""

    path: str
    fingerprint: str
    load: Callable[[Callable[[str], None]], Document]


@dataclass
class HistoryEvent:
    """One change to one page in a source with history (a git commit touching a file)."""

    path: str
    text: str | None  # None: the page was deleted at this point
    provenance: Provenance
    renamed_from: str | None = None  # the page's previous path, when the source says it was renamed
    similarity: int | None = None  # the source's rename score (git: 0-100)
    problem: str | None = None  # this version could not be read (the event is a warning, not a change)


@dataclass
class ScanResult:
    candidates: list[Candidate] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    failed: int = 0  # pages that could not be fetched (http)
    # files passed over for their extension, by extension ("" for none): what a crawl that found no
    # page says it skipped (#12)
    skipped: dict[str, int] = field(default_factory=dict)
    # http: what this scan learnt per URL (validators, fingerprints, links); the crawler stores it
    # after the pages are saved and hands it back to the next scan
    cache: dict[str, dict[str, Any]] | None = None
    # pages this scan saw change address, (old path, new path): an http page whose URL redirects or
    # canonicalises elsewhere now, or that is gone while the same page appeared at a new URL. The crawler
    # records each as a rename (Store.record_rename), and reports the old page renamed, not removed.
    renames: list[tuple[str, str]] = field(default_factory=list)


class Source(Protocol):
    name: str
    root: str
    kind: str

    def scan(self) -> ScanResult: ...

    def history(self, since: str | None) -> tuple[Iterator[HistoryEvent], str | None]: ...


# .txt files that are a tool's input, not a page anyone reads for advice
_NOT_TEXT_PAGES = re.compile(r"(^|/)(requirements[\w.-]*|constraints[\w.-]*|cmakelists|robots|license|licence|copying"
                             r"|notice|authors|contributors|dependencies|version)\.txt$")


def kind_of(path: str) -> str | None:
    low = path.lower()
    if _NOT_TEXT_PAGES.search(low):
        return None
    if low.endswith(MARKDOWN_EXT):
        return "markdown"
    if low.endswith(HTML_EXT):
        return "html"
    for kind, fmt in FORMATS.items():
        if low.endswith(fmt.EXTENSIONS):
            return kind
    return None


def decode_page(path: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Bytes -> text, or SkipFile with a reason and a fix."""
    if len(data) > max_bytes:
        raise SkipFile(
            f"{path}: skipped, {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
            "(split the page, or raise crawl.max-file-bytes in wikicheck.toml)"
        )
    if not data.strip():
        raise SkipFile(f"{path}: skipped, the file is empty")
    if b"\x00" in data[:8192]:
        raise SkipFile(f"{path}: skipped, binary file (NUL bytes) with a page extension; rename or remove it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SkipFile(
            f"{path}: skipped, not valid UTF-8 (byte {e.start}); re-save it as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def fingerprint_bytes(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def build_document(
    source: str,
    path: str,
    text: str,
    fingerprint: str,
    *,
    mtime: float | None,
    size: int,
    warn: Callable[[str], None],
    provenance: Provenance | None = None,
    url: str | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Document:
    """A Document with page metadata, and a timestamp from the best source available.

    `provenance` (from git, or a wiki engine's own page metadata) wins; otherwise front matter,
    then HTML metadata, then the file's mtime.
    """
    kind = kind_of(path) or "html"
    meta: dict[str, Any] = {}
    title = None
    if kind == "markdown":
        meta, _, err = split_front_matter(text)
        if err:
            warn(f"{path}: {err}; fix the YAML between the --- lines")
    elif kind in FORMATS:
        parsed = FORMATS[kind].parse(text)  # reST: the docinfo fields (:owner:, :updated:) play front matter
        meta = dict(parsed.meta)
        if parsed.problem:
            warn(f"{path}: {parsed.problem}")
    else:
        meta = html_metadata(text)
        title = meta.get("title")
    if extra_meta:
        meta = {**meta, **{k: v for k, v in extra_meta.items() if v is not None}}
    title = meta.get("title") or title
    if provenance is None or not provenance.changed_at:
        provenance = _fallback_provenance(kind, meta, mtime, provenance)
    return Document(
        source=source,
        path=path,
        kind=kind,
        text=text,
        fingerprint=fingerprint,
        provenance=provenance,
        meta=meta,
        title=str(title) if title else None,
        url=url,
        mtime=mtime,
        size=size,
    )


def _fallback_provenance(kind: str, meta: dict[str, Any], mtime: float | None, prev: Provenance | None) -> Provenance:
    author = str(meta["author"]) if meta.get("author") else (prev.author if prev else None)
    version = prev.commit if prev else None
    if kind != "html":  # front matter, or what a format has for it (reST docinfo)
        for key in DATE_KEYS:
            d = parse_date(meta.get(key))
            if d:
                return Provenance(d, author, version, "front_matter")
    else:
        d = parse_date(meta.get("updated"))
        if d:
            return Provenance(d, author, version, "html_meta")
    if prev and prev.timestamp_source == "http_header" and prev.changed_at:
        return prev
    if mtime is not None:
        return Provenance(iso(mtime), author, version, "mtime")
    return Provenance(None, author, version, None)
