"""Split a Document into Sections: heading path, anchor, line span, plain text and hashes.

Markdown goes through markdown-it-py (ATX and setext headings; fenced code stays in its section),
HTML through BeautifulSoup (main content only; nav, header, footer, scripts and styles dropped),
other formats (reStructuredText, plain text) through their module in wikicheck.formats.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

import yaml
from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from markdown_it import MarkdownIt
from markdown_it.parser_block import ParserBlock
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_block import StateBlock
from markdown_it.token import Token

from .dates import parse_date
from .formats import FORMATS, Parsed
from .formats.base import fenced
from .model import Document, Provenance, Section, section_hashes, stable_id

DEFAULT_MAX_LEVEL = 4  # deeper headings (H5, H6) stay inside their parent section


class FrontMatterError(ValueError):
    """Front matter that is not valid YAML mapping."""


# --------------------------------------------------------------------------- front matter

_FM_OPEN = re.compile(r"^---\s*$")
_FM_CLOSE = re.compile(r"^(---|\.\.\.)\s*$")


def split_front_matter(text: str) -> tuple[dict[str, Any], int, str | None]:
    """Return (meta, number of lines the front matter takes, error or None).

    Broken front matter is still stripped (when it is closed), so that its lines never leak into a
    section, and the error is returned for a warning.
    """
    lines = text.split("\n")
    if not lines or not _FM_OPEN.match(lines[0]):
        return {}, 0, None
    for i in range(1, min(len(lines), 500)):
        if _FM_CLOSE.match(lines[i]):
            block = "\n".join(lines[1:i])
            if len(block) > _MAX_FRONT_MATTER_CHARS:  # PyYAML reads ~150 KB a second: never megabytes of it
                return {}, i + 1, (f"front matter is over {_MAX_FRONT_MATTER_CHARS // 1024} KB "
                                   f"({len(block) // 1024} KB); not read, fix or shorten it")
            try:
                # made inside the try: PyYAML's reader rejects control characters as the loader is made
                loader = _FrontMatterLoader(block)
            except yaml.reader.ReaderError as e:
                return {}, i + 1, _unreadable_yaml(block, e)
            try:
                meta = loader.get_single_data() if block.strip() else {}
                if meta is None:
                    meta = {}
                if not isinstance(meta, dict):
                    return {}, i + 1, "front matter is not a mapping of keys to values"
                meta = {str(k): _jsonable(v, [_MAX_META_NODES]) for k, v in meta.items()}
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                where = f" at line {mark.line + 2}" if mark is not None else ""
                return {}, i + 1, f"broken front matter{where}: {getattr(e, 'problem', None) or e}"
            except (ValueError, TypeError, RecursionError) as e:
                return {}, i + 1, f"broken front matter: {e}"
            finally:
                loader.dispose()
            if loader.bad_dates:
                bad = ", ".join(f"`{d}`" for d in loader.bad_dates[:3])
                return meta, i + 1, f"front matter has a date that does not exist ({bad}); kept as text, not used as a date"
            return meta, i + 1, None
    return {}, 0, "front matter opened with --- but never closed; treated as text"


def _unreadable_yaml(block: str, e: yaml.reader.ReaderError) -> str:
    """One line naming the character YAML refuses (a terminal escape, a NUL) and its line in the file."""
    char = e.character if isinstance(e.character, int) else ord(e.character[:1] or b"\0")
    line = block.count("\n", 0, max(0, e.position)) + 2  # the front matter starts on the file's line 2
    return f"broken front matter at line {line}: character U+{char:04X} is not allowed in YAML"


_MAX_FRONT_MATTER_CHARS = 64 * 1024  # real front matter is a few lines; a page's text goes below it
_MAX_META_NODES = 10_000  # values in one page's front matter: far above any real page, far below an alias bomb


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, but an impossible date (`updated: 2024-13-45`) stays text instead of
    raising: one bad value must not cost the page (or a whole crawl) its front matter."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.bad_dates: list[str] = []

    def construct_yaml_timestamp(self, node):  # type: ignore[no-untyped-def]
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            self.bad_dates.append(str(node.value))
            return str(node.value)


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _FrontMatterLoader.construct_yaml_timestamp)


def _jsonable(v: Any, budget: list[int] | None = None) -> Any:
    """Front matter values as JSON-able data. YAML aliases share one object between many places
    (a "billion laughs" bomb is a few hundred bytes); `budget` caps the values copied out."""
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"more than {_MAX_META_NODES} values (a YAML alias bomb?)")
    if isinstance(v, (dt.date, dt.datetime)):
        return parse_date(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x, budget) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, budget) for x in v]
    return v


# --------------------------------------------------------------------------- anchors


def unique_anchor(slug: str, taken: dict[str, int]) -> str:
    """GitHub (github-slugger): count up until the anchor is not taken on the page."""
    anchor = slug
    while anchor in taken:
        taken[slug] += 1
        anchor = f"{slug}-{taken[slug]}"
    taken[anchor] = 0
    return anchor


def slugify(heading: str) -> str:
    """GitHub-style anchor: lower case, punctuation dropped, spaces to hyphens."""
    s = unicodedata.normalize("NFKC", heading).strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


# --------------------------------------------------------------------------- sections


@dataclass
class _Block:
    line: int  # 0-based line in the file where the block starts
    text: str
    col: int = 0  # column, so that blocks on one line (minified HTML) keep their order


@dataclass
class _Heading:
    line: int  # 0-based
    level: int
    text: str
    col: int = 0


def iter_sections(doc: Document, max_level: int = DEFAULT_MAX_LEVEL,
                  front_matter_error: Callable[[str], None] | None = None) -> list[Section]:
    """Split a document into sections (a list, in page order). `front_matter_error` is told what is
    wrong with a markdown page's front matter, if anything (the page is split without it)."""
    body_start = 0
    if doc.kind == "html":
        headings, blocks, nlines = _html_structure(doc.text, max_level)
    elif doc.kind in FORMATS:
        headings, blocks, nlines = _format_structure(FORMATS[doc.kind].parse(doc.text), max_level, doc.text)
    else:
        _, body_start, err = split_front_matter(doc.text)  # the preamble starts after the front matter
        if err and front_matter_error is not None:
            front_matter_error(err)
        headings, blocks, nlines = _markdown_structure(doc.text, max_level, body_start)
    return _assemble(doc, headings, blocks, nlines, body_start)


def _format_structure(parsed: Parsed, max_level: int, text: str) -> tuple[list[_Heading], list[_Block], int]:
    """A format module's headings and blocks; a heading deeper than `max_level` stays in its parent's text."""
    headings = [_Heading(line, level, title) for line, level, title in parsed.headings if level <= max_level]
    blocks = [_Block(line, body, col) for line, col, body in parsed.blocks]
    blocks += [_Block(line, title) for line, level, title in parsed.headings if level > max_level]
    blocks.sort(key=lambda b: (b.line, b.col))
    return headings, blocks, len(text.split("\n"))


def _assemble(doc: Document, headings: list[_Heading], blocks: list[_Block], nlines: int,
              body_start: int = 0) -> list[Section]:
    raw_lines = doc.text.split("\n")
    starts = [(h.line, h.col) for h in headings]
    # the preamble before the first heading is a section only when it has text
    spans: list[tuple[_Heading | None, tuple[int, int], tuple[int, int]]] = []
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


# --------------------------------------------------------------------------- markdown

MAX_NESTING = 200
_CUTS = "wikicheck_nesting_cuts"  # env key: (first line, end line) of each run of lines markdown-it skipped


class _BoundedInlineParser(ParserInline):
    """markdown-it's inline parser, without links and images in a paragraph full of brackets.

    From every "[" markdown-it scans ahead for the label's end, so a paragraph of unclosed brackets costs
    the square of its length (60 KB of "![" took 33 s, a 5 MB page hours). Past a budget of brackets times
    length the paragraph is parsed without the link and image rules: its text is kept, link syntax and all."""

    def parse(self, src: str, md: MarkdownIt, env: Any, tokens: list[Token]) -> list[Token]:
        if src.count("[") * len(src) > _LINK_SCAN_BUDGET:
            return _NO_LINKS.inline.parse(src, md, env, tokens)
        return super().parse(src, md, env, tokens)


_LINK_SCAN_BUDGET = 5_000_000  # "[" x characters: 200 links in a 25 KB paragraph; ~0.3 s at worst


class _NestingAwareBlockParser(ParserBlock):
    """markdown-it's block parser, noting the lines it skips past maxNesting.

    Past that depth markdown-it skips the rest of the quote, or for a list the rest of the page, without a
    word (issue 11, point 8); the lines it skipped are parsed again with their nesting flattened."""

    def tokenize(self, state: StateBlock, startLine: int, endLine: int) -> None:
        if state.level >= state.md.options.maxNesting:  # the same test markdown-it makes before it skips
            line = state.skipEmptyLines(startLine)
            if line < endLine and state.sCount[line] >= state.blkIndent:
                state.env.setdefault(_CUTS, []).append((line, endLine))
        super().tokenize(state, startLine, endLine)


def _markdown_it(links: bool = True) -> MarkdownIt:
    # maxNesting: commonmark stops at 20 levels (a list 10 deep is 20 levels of tokens); 200 keeps any
    # real page whole and stays well inside the recursion limit; deeper lines are flattened
    md = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable("table").enable("strikethrough")
    if not links:
        return md.disable(["link", "image"])
    block, inline = _NestingAwareBlockParser(), _BoundedInlineParser()
    block.ruler = md.block.ruler  # the rules as configured above
    inline.ruler, inline.ruler2 = md.inline.ruler, md.inline.ruler2
    md.block, md.inline = block, inline
    return md


_NO_LINKS = _markdown_it(links=False)
_MD = _markdown_it()


def markdown_tokens(text: str) -> list[Token]:
    """markdown-it's tokens of a page, with the limits every reader of a page needs: nesting past
    200 levels and bracket-heavy paragraphs cost linear time (issue 11), as in the section split."""
    return _MD.parse(text)


def _strip_comments(html: str) -> str:
    """HTML without its <!-- --> comments; an unclosed one is kept. In linear time: the regex
    `<!--.*?-->` scanned to the end of the text from every unclosed "<!--" (200 KB took 164 s)."""
    out: list[str] = []
    i = 0
    while (start := html.find("<!--", i)) >= 0:
        end = html.find("-->", start + 4)
        if end < 0:
            break
        out.append(html[i:start])
        i = end + 3
    out.append(html[i:])
    return "".join(out)

# the container markers at the start of a line: quotes, bullets and numbers, any number of them
_CONTAINERS = re.compile(r"^(?:[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)))+[ \t]*")
_LIST_MARKER = re.compile(r"[-+*]|\d{1,9}[.)]")


def _flatten(line: str) -> str:
    """A line with no indentation and at most one list marker (the innermost): "> > -   - x" is "- x"."""
    m = _CONTAINERS.match(line)
    if not m:
        return line.lstrip(" \t")
    markers = _LIST_MARKER.findall(m.group(0))
    return (markers[-1] + " " if markers else "") + line[m.end():]


def _markdown_structure(text: str, max_level: int, fm_lines: int) -> tuple[list[_Heading], list[_Block], int]:
    lines = text.split("\n")
    headings, blocks = _markdown_blocks(lines[fm_lines:], max_level, fm_lines)
    return headings, blocks, len(lines)


def _markdown_blocks(lines: list[str], max_level: int, offset: int,
                     flatten: bool = True) -> tuple[list[_Heading], list[_Block]]:
    """Headings and blocks of markdown `lines`, which start at line `offset` of the file."""
    env: dict[str, Any] = {}
    headings, blocks = _walk_tokens(_MD.parse("\n".join(lines), env), max_level, offset)
    cuts = _merged(env.get(_CUTS, []))
    for start, end in cuts:
        if flatten:
            more_headings, more_blocks = _markdown_blocks([_flatten(x) for x in lines[start:end]], max_level,
                                                          offset + start, flatten=False)
        else:  # not reached: a flattened line nests a few levels at most; kept line by line all the same
            more_headings, more_blocks = [], [_Block(offset + i, x.strip()) for i, x in
                                             enumerate(lines[start:end], start) if x.strip()]
        headings += more_headings
        blocks += more_blocks
    if cuts:
        headings.sort(key=lambda h: (h.line, h.col))
        blocks.sort(key=lambda b: (b.line, b.col))
    return headings, blocks


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _walk_tokens(tokens: list[Any], max_level: int, fm_lines: int) -> tuple[list[_Heading], list[_Block]]:
    headings: list[_Heading] = []
    blocks: list[_Block] = []
    list_depth = 0
    ordered: list[tuple[bool, int]] = []
    quote = 0
    i = 0
    while i < len(tokens):
        t = tokens[i]
        line = (t.map[0] if t.map else 0) + fm_lines
        if t.type == "heading_open":
            level = int(t.tag[1])
            content = _inline_text(tokens[i + 1]) if i + 1 < len(tokens) else ""
            if level <= max_level and content.strip():
                headings.append(_Heading(line, level, content.strip()))
            else:
                blocks.append(_Block(line, content))
            i += 3
            continue
        if t.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
            ordered.append((t.type == "ordered_list_open", int(t.attrGet("start") or 1)))
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
            ordered.pop()
        elif t.type == "blockquote_open":
            quote += 1
        elif t.type == "blockquote_close":
            quote -= 1
        elif t.type == "list_item_open":
            # the item's first paragraph carries the marker
            pass
        elif t.type in ("fence", "code_block"):
            # code stays verbatim and fenced, so that claims can tell code from prose in the text alone
            blocks.append(_Block(line, fenced(t.content)))
        elif t.type == "html_block":
            stripped = _strip_comments(t.content).strip()
            if stripped:
                blocks.append(_Block(line, html_soup(stripped).get_text(" ", strip=True)))
        elif t.type == "inline" and t.map is not None:
            txt = _inline_text(t)
            prev = tokens[i - 2] if i >= 2 else None
            if list_depth and prev is not None and prev.type == "list_item_open":
                is_ord, start = ordered[-1]
                marker = f"{start}." if is_ord else "-"
                if is_ord:
                    ordered[-1] = (True, start + 1)
                txt = "  " * (list_depth - 1) + f"{marker} {txt}"
            if quote:
                txt = "> " + txt
            if txt.strip():
                blocks.append(_Block(line, txt))
        elif t.type == "tr_open":
            cells = []
            j = i + 1
            while j < len(tokens) and tokens[j].type != "tr_close":
                if tokens[j].type == "inline":
                    cells.append(_inline_text(tokens[j]))
                j += 1
            blocks.append(_Block(line, " | ".join(cells)))
            i = j
        i += 1
    return headings, blocks


def _inline_text(tok: Any) -> str:
    out: list[str] = []
    for c in tok.children or []:
        if c.type == "text":
            out.append(c.content)
        elif c.type == "code_inline":
            out.append(f"`{c.content}`")
        elif c.type == "softbreak":
            out.append(" ")
        elif c.type == "hardbreak":
            out.append("\n")
        elif c.type == "image":
            out.append(c.content or "")
    return "".join(out)


# --------------------------------------------------------------------------- HTML

_DROP = ("script", "style", "nav", "footer", "aside", "noscript", "form", "template", "svg", "button")
_DROP_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search")
_BLOCKS = {
    "p", "li", "pre", "td", "th", "dt", "dd", "blockquote", "figcaption", "caption",
    "h1", "h2", "h3", "h4", "h5", "h6", "div", "section", "article", "ul", "ol", "table",
    "tr", "tbody", "thead", "dl", "main", "details", "summary",
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def html_main(soup: BeautifulSoup) -> Tag:
    """The element that holds the page's main content, with page chrome removed."""
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    root = (
        soup.find("main")
        or soup.find(attrs={"role": "main"})  # type: ignore[call-overload]  # bs4's overloads miss attrs=
        or soup.find("article")
        or soup.find(id="content")
        or soup.body
        or soup
    )
    for tag in root.find_all(_DROP):
        tag.decompose()
    for tag in root.find_all(attrs={"role": list(_DROP_ROLES)}):  # type: ignore[call-overload]
        if not tag.decomposed:
            tag.decompose()
    for tag in root.find_all("header"):
        # a page <header> is chrome; an article header holding the title is content
        if not tag.decomposed and not tag.find(list(_HEADINGS)):
            tag.decompose()
    for tag in root.find_all(class_=re.compile(r"(^|\s)(headerlink|anchor|edit-?link|toc)(\s|$)")):
        if not tag.decomposed:
            tag.decompose()
    return root


_COMMENT_CLOSE = re.compile(r"--!?\s*>")  # what ends a comment for html.parser


def html_soup(text: str) -> BeautifulSoup:
    """BeautifulSoup's html.parser tree of `text`, in linear time.

    html.parser searches to the end of the text for the end of every "<!--" that has none, then takes it
    as text: 60 KB of them took 2 s, a 5 MB page hours (issue 11 fuzz). Each "<!--" past the last comment
    end is given to it as the text it would have made of it ("&lt;!--")."""
    first = text.find("<!--")
    if first < 0:
        return BeautifulSoup(text, "html.parser")
    end = first
    for m in _COMMENT_CLOSE.finditer(text, first):
        end = m.end()
    return BeautifulSoup(text[:end] + text[end:].replace("<!--", "&lt;!--"), "html.parser")


def _html_structure(text: str, max_level: int) -> tuple[list[_Heading], list[_Block], int]:
    soup = html_soup(text)
    root = html_main(soup)
    headings: list[_Heading] = []
    blocks: list[_Block] = []

    def line_of(tag: Tag) -> int:
        return max(0, (getattr(tag, "sourceline", None) or 1) - 1)

    def col_of(tag: Tag) -> int:
        return getattr(tag, "sourcepos", None) or 0

    def flat(el: Tag) -> None:
        # nesting deeper than any real page (a thousand <div>s): its text as one block, nothing lost
        t = " ".join(el.get_text(" ").split())
        if t:
            blocks.append(_Block(line_of(el), t, col_of(el)))

    def walk(el: Tag, depth: int = 0) -> None:
        loose: list[str] = []
        for child in el.children:
            if isinstance(child, NavigableString):
                if child.strip():
                    loose.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADINGS:
                lvl = int(name[1])
                t = _html_inline(child).strip()
                if lvl <= max_level and t:
                    headings.append(_Heading(line_of(child), lvl, t, col_of(child)))
                elif t:
                    blocks.append(_Block(line_of(child), t, col_of(child)))
            elif name == "pre":
                blocks.append(_Block(line_of(child), fenced(child.get_text()), col_of(child)))
            elif name in _BLOCKS and depth >= _MAX_HTML_DEPTH:
                flat(child)
            elif name in _BLOCKS and _has_block_child(child):
                walk(child, depth + 1)
            elif name in _BLOCKS:
                t = _html_inline(child).strip()
                if t:
                    if name == "li":
                        t = "- " + t
                    blocks.append(_Block(line_of(child), t, col_of(child)))
            else:
                if depth >= _MAX_HTML_DEPTH:
                    flat(child)
                elif _has_block_child(child):
                    walk(child, depth + 1)
                else:
                    t = _html_inline(child).strip()
                    if t:
                        blocks.append(_Block(line_of(child), t, col_of(child)))
        if loose and "".join(loose).strip():
            blocks.append(_Block(line_of(el), " ".join(s.strip() for s in loose), col_of(el)))

    walk(root)
    blocks.sort(key=lambda b: (b.line, b.col))
    return headings, blocks, len(text.split("\n"))


_MAX_HTML_DEPTH = 100  # block nesting walked element by element; deeper content is kept as flat text


def _has_block_child(tag: Tag) -> bool:
    return any(isinstance(c, Tag) and c.name in _BLOCKS for c in tag.descendants)


def _html_inline(tag: Tag) -> str:
    out: list[str] = []
    for d in tag.descendants:
        if isinstance(d, NavigableString) and not isinstance(d, Comment):
            parent = d.parent
            if parent is not None and parent.name == "code" and not (parent.parent and parent.parent.name == "pre"):
                out.append(f"`{d}`")
            else:
                out.append(str(d))
    return re.sub(r"[ \t\r\n]+", " ", "".join(out))


_HTML_DATE_META = (
    ("name", "last-modified"), ("name", "last_modified"), ("name", "dcterms.modified"),
    ("property", "article:modified_time"), ("property", "og:updated_time"),
    ("name", "revised"), ("itemprop", "dateModified"), ("name", "date"),
)


def html_metadata(text: str) -> dict[str, Any]:
    """Title, last-modified date, author and owner from an HTML page's head and markup."""
    soup = html_soup(text)
    meta: dict[str, Any] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for attr, value in _HTML_DATE_META:
        tag = soup.find("meta", attrs={attr: re.compile(f"^{re.escape(value)}$", re.I)})
        if tag and tag.get("content") and parse_date(tag["content"]):
            meta["updated"] = parse_date(tag["content"])
            meta["updated_from"] = f"meta {value}"
            break
    if "updated" not in meta:
        for t in soup.find_all("time"):
            d = parse_date(t.get("datetime"))
            if d:
                meta["updated"] = d
                meta["updated_from"] = "time datetime"
                break
    for name in ("author", "owner", "status", "superseded_by", "last_reviewed", "review_by", "expires"):
        tag = soup.find("meta", attrs={"name": name})
        if tag and tag.get("content"):
            meta[name] = str(tag["content"]).strip()
    return meta


def heading_anchors(text: str, kind: str) -> set[str]:
    """Every anchor a link can target on a page: heading slugs (all levels) and explicit ids."""
    anchors: set[str] = set()
    taken: dict[str, int] = {}
    if kind in FORMATS:
        return set(FORMATS[kind].parse(text).anchors)
    if kind == "markdown":
        _, fm, _ = split_front_matter(text)
        body = "\n".join(text.split("\n")[fm:])
        tokens = _MD.parse(body)
        for i, t in enumerate(tokens):
            if t.type == "heading_open" and i + 1 < len(tokens):
                anchors.add(unique_anchor(slugify(_inline_text(tokens[i + 1])), taken))
        for m in re.finditer(r"""<a\s+(?:name|id)=["']([^"']+)["']|\{#([\w-]+)\}|\sid=["']([^"']+)["']""", text):
            anchors.add((m.group(1) or m.group(2) or m.group(3)).lower())
    else:
        soup = html_soup(text)
        for tag in soup.find_all(True):
            for attr in ("id", "name"):
                v = tag.get(attr)
                if isinstance(v, str):
                    anchors.add(v.lower())
            if tag.name in _HEADINGS:
                anchors.add(slugify(tag.get_text(" ", strip=True)))
    return anchors
