"""Split a Document into Sections: heading path, anchor, line span, plain text, hashes and provenance.

The page's headings and blocks come from its reader: markdown.py, html.py, or the format's module in
wikicheck.formats (reStructuredText, plain text).
"""

from __future__ import annotations

from typing import Callable

from ..formats import FORMATS, Parsed
from ..model import Document, Provenance, Section, section_hashes, stable_id
from .anchors import slugify, unique_anchor
from .blocks import Block, Heading
from .frontmatter import split_front_matter
from .html import html_structure
from .markdown import markdown_structure

DEFAULT_MAX_LEVEL = 4  # deeper headings (H5, H6) stay inside their parent section


def iter_sections(doc: Document, max_level: int = DEFAULT_MAX_LEVEL,
                  front_matter_error: Callable[[str], None] | None = None) -> list[Section]:
    """Split a document into sections (a list, in page order). `front_matter_error` is told what is
    wrong with a markdown page's front matter, if anything (the page is split without it)."""
    body_start = 0
    if doc.kind == "html":
        headings, blocks, nlines = html_structure(doc.text, max_level)
    elif doc.kind in FORMATS:
        headings, blocks, nlines = _format_structure(FORMATS[doc.kind].parse(doc.text), max_level, doc.text)
    else:
        _, body_start, err = split_front_matter(doc.text)  # the preamble starts after the front matter
        if err and front_matter_error is not None:
            front_matter_error(err)
        headings, blocks, nlines = markdown_structure(doc.text, max_level, body_start)
    return _assemble(doc, headings, blocks, nlines, body_start)


def _format_structure(parsed: Parsed, max_level: int, text: str) -> tuple[list[Heading], list[Block], int]:
    """A format module's headings and blocks; a heading deeper than `max_level` stays in its parent's text."""
    headings = [Heading(line, level, title) for line, level, title in parsed.headings if level <= max_level]
    blocks = [Block(line, body, col) for line, col, body in parsed.blocks]
    blocks += [Block(line, title) for line, level, title in parsed.headings if level > max_level]
    blocks.sort(key=lambda b: (b.line, b.col))
    return headings, blocks, len(text.split("\n"))


def _assemble(doc: Document, headings: list[Heading], blocks: list[Block], nlines: int,
              body_start: int = 0) -> list[Section]:
    raw_lines = doc.text.split("\n")
    starts = [(h.line, h.col) for h in headings]
    # the preamble before the first heading is a section only when it has text
    spans: list[tuple[Heading | None, tuple[int, int], tuple[int, int]]] = []
    first = starts[0] if starts else (nlines, 0)
    spans.append((None, (body_start, 0), first))
    for i, hd in enumerate(headings):
        stop = starts[i + 1] if i + 1 < len(starts) else (nlines, 0)
        spans.append((hd, (hd.line, hd.col), stop))

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    seen_paths: dict[tuple[str, ...], int] = {}
    anchors: dict[str, int] = {}
    doc_id = doc.id
    bi = 0
    for h, start_pos, end_pos in spans:
        (start, _), (end, _) = start_pos, end_pos
        body: list[str] = []
        while bi < len(blocks) and (blocks[bi].line, blocks[bi].col) < end_pos:
            if (blocks[bi].line, blocks[bi].col) >= start_pos:
                body.append(blocks[bi].text)
            bi += 1
        text = "\n\n".join(t for t in body if t.strip())
        if h is None:
            if not text.strip():
                continue
            heading, level, hpath = "", 0, []
        else:
            while stack and stack[-1][0] >= h.level:
                stack.pop()
            stack.append((h.level, h.text))
            heading, level, hpath = h.text, h.level, [t for _, t in stack]
        key = tuple(hpath)
        ordinal = seen_paths.get(key, 0)
        seen_paths[key] = ordinal + 1
        anchor = unique_anchor(slugify(heading), anchors) if heading else ""
        # trim trailing blank lines from the span
        last = max(end, start + 1)  # a section that shares its line with the next (minified HTML)
        while last > start + 1 and last - 1 < len(raw_lines) and not raw_lines[last - 1].strip():
            last -= 1
        content_hash, body_hash = section_hashes(hpath, text)
        sections.append(
            Section(
                id=stable_id(doc.source, doc.path, *hpath, ordinal),
                document_id=doc_id,
                source=doc.source,
                path=doc.path,
                heading=heading,
                heading_path=hpath,
                level=level,
                ordinal=ordinal,
                line_start=start + 1,
                line_end=max(start + 1, last),
                text=text,
                raw="\n".join(raw_lines[start:last]),
                anchor=anchor,
                content_hash=content_hash,
                body_hash=body_hash,
                provenance=_section_provenance(doc, start, last),
            )
        )
    return sections


def _section_provenance(doc: Document, start: int, end: int) -> Provenance:
    """Newest commit among the section's lines (git blame), else the page's provenance."""
    lp = doc.line_provenance
    if not lp:
        return Provenance(**vars(doc.provenance))
    best: Provenance | None = None
    for p in lp[start:end]:
        if p.changed_at and (best is None or p.changed_at > best.changed_at):  # type: ignore[operator]
            best = p
    return Provenance(**vars(best)) if best else Provenance(**vars(doc.provenance))

