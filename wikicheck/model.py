"""Plain data objects that flow through the pipeline: Document -> Section -> Finding."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

# Where a section's last-changed timestamp came from, most to least trustworthy.
TIMESTAMP_SOURCES = ("git", "page_meta", "front_matter", "html_meta", "http_header", "mtime")


@dataclass
class Provenance:
    """When a piece of text last changed, who changed it, and how we know."""

    changed_at: str | None = None  # ISO 8601, UTC, seconds precision
    author: str | None = None
    commit: str | None = None  # git commit hash, or page version for wikis
    timestamp_source: str | None = None  # one of TIMESTAMP_SOURCES


@dataclass
class Version:
    """One past (or the current) version of a section, with the dates it was valid."""

    content_hash: str
    text: str
    valid_from: str | None
    valid_to: str | None  # None while it is the current version
    commit: str | None = None
    author: str | None = None


@dataclass
class Document:
    """One page from a source, with its raw text and page-level metadata."""

    source: str
    path: str  # posix path relative to the source root, or URL path for sites
    kind: str  # "markdown" | "html"
    text: str
    fingerprint: str  # hash of the raw bytes or git blob id: unchanged => skip work
    provenance: Provenance = field(default_factory=Provenance)
    meta: dict[str, Any] = field(default_factory=dict)  # front matter / page metadata
    title: str | None = None
    url: str | None = None
    mtime: float | None = None
    size: int = 0
    # git only: one (committer time ISO, author, commit) per line of `text`, from git blame
    line_provenance: list[Provenance] | None = None
    # Sources with page history: past full texts, oldest first, with their provenance.
    history: list[tuple[str, Provenance]] | None = None

    @property
    def id(self) -> str:
        return stable_id(self.source, self.path)


@dataclass
class Section:
    """A heading and the text under it, down to the next heading of the same or higher level."""

    id: str
    document_id: str
    source: str
    path: str
    heading: str
    heading_path: list[str]
    level: int
    ordinal: int  # among sections with the same heading path on the page
    line_start: int  # 1-based, inclusive
    line_end: int
    text: str  # plain text, code blocks verbatim
    raw: str  # the source lines of the section
    anchor: str
    content_hash: str
    body_hash: str
    provenance: Provenance = field(default_factory=Provenance)

    def embedding_input(self) -> str:
        return " > ".join(self.heading_path) + "\n\n" + self.text


def stable_id(*parts: object) -> str:
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return h[:16]


_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Collapse white space, so that re-wrapping or trailing spaces do not count as a change."""
    return _WS.sub(" ", text).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:32]


def section_hashes(heading_path: list[str], text: str) -> tuple[str, str]:
    """(content_hash, body_hash). content_hash covers what gets embedded; body_hash the body alone."""
    body = text_hash(text)
    content = hashlib.sha256((" > ".join(heading_path) + "\x1f" + body).encode()).hexdigest()[:32]
    return content, body
