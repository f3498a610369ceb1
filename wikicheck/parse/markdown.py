"""Markdown pages through markdown-it-py: headings and text blocks (ATX and setext headings; fenced
code stays in its section), with linear-time limits on deep nesting and bracket-heavy paragraphs."""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.parser_block import ParserBlock
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_block import StateBlock
from markdown_it.token import Token

from ..formats.base import fenced
from .blocks import Block, Heading
from .html import html_soup

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


def markdown_structure(text: str, max_level: int, fm_lines: int) -> tuple[list[Heading], list[Block], int]:
    lines = text.split("\n")
    headings, blocks = _markdown_blocks(lines[fm_lines:], max_level, fm_lines)
    return headings, blocks, len(lines)


def _markdown_blocks(lines: list[str], max_level: int, offset: int,
                     flatten: bool = True) -> tuple[list[Heading], list[Block]]:
    """Headings and blocks of markdown `lines`, which start at line `offset` of the file."""
    env: dict[str, Any] = {}
    headings, blocks = _walk_tokens(_MD.parse("\n".join(lines), env), max_level, offset)
    cuts = _merged(env.get(_CUTS, []))
    for start, end in cuts:
        if flatten:
            more_headings, more_blocks = _markdown_blocks([_flatten(x) for x in lines[start:end]], max_level,
                                                          offset + start, flatten=False)
        else:  # not reached: a flattened line nests a few levels at most; kept line by line all the same
            more_headings, more_blocks = [], [Block(offset + i, x.strip()) for i, x in
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


def _walk_tokens(tokens: list[Any], max_level: int, fm_lines: int) -> tuple[list[Heading], list[Block]]:
    headings: list[Heading] = []
    blocks: list[Block] = []
    list_depth = 0
    ordered: list[tuple[bool, int]] = []
    quote = 0
    i = 0
    while i < len(tokens):
        t = tokens[i]
        line = (t.map[0] if t.map else 0) + fm_lines
        if t.type == "heading_open":
            level = int(t.tag[1])
            content = inline_text(tokens[i + 1]) if i + 1 < len(tokens) else ""
            if level <= max_level and content.strip():
                headings.append(Heading(line, level, content.strip()))
            else:
                blocks.append(Block(line, content))
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
            blocks.append(Block(line, fenced(t.content)))
        elif t.type == "html_block":
            stripped = _strip_comments(t.content).strip()
            if stripped:
                blocks.append(Block(line, html_soup(stripped).get_text(" ", strip=True)))
        elif t.type == "inline" and t.map is not None:
            txt = inline_text(t)
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
                blocks.append(Block(line, txt))
        elif t.type == "tr_open":
            cells = []
            j = i + 1
            while j < len(tokens) and tokens[j].type != "tr_close":
                if tokens[j].type == "inline":
                    cells.append(inline_text(tokens[j]))
                j += 1
            blocks.append(Block(line, " | ".join(cells)))
            i = j
        i += 1
    return headings, blocks


def inline_text(tok: Any) -> str:
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

