"""reStructuredText pages (.rst, .rest), parsed by docutils, the reference parser.

Nothing but the page is read: file insertion (``.. include::``, ``:file:`` and ``:url:`` options) and
``.. raw::`` are off, docutils' config files are ignored, and it never writes to stderr. Sections come
from the section titles as docutils nests them (the lone top title is the page's title, level 1);
``::`` literal blocks and ``.. code-block::`` become fenced code; the docinfo field list at the top
(``:owner:``, ``:updated:``, ``:date:``) is the page's metadata, as front matter is for markdown.
A page docutils cannot read at all is read as plain text, with one warning.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree

from . import text as plain
from .base import Parsed, fenced

KIND = "rst"
EXTENSIONS = (".rst", ".rest")

_MAX_DEPTH = 100  # body elements nested deeper than this are kept as flat text
_SKIP = (nodes.system_message, nodes.comment, nodes.target, nodes.substitution_definition, nodes.raw,
         nodes.pending, nodes.docinfo, nodes.transition, nodes.decoration, nodes.meta)
_CODE = (nodes.literal_block, nodes.doctest_block, nodes.math_block)
# Sphinx's roles and directives (:doc:, .. toctree::) are unknown to docutils: not a problem of the page
_EXPECTED = re.compile(r"^(Unknown interpreted text role|Unknown directive type|No (role|directive) entry)")
_ROLE = re.compile(r"^:[\w.+:-]+:`(.*)`$", re.DOTALL)


def _settings() -> dict[str, Any]:
    return {
        "report_level": 5, "halt_level": 5, "warning_stream": io.StringIO(), "traceback": True,
        "file_insertion_enabled": False, "raw_enabled": False, "_disable_config": True,
        "syntax_highlight": "none", "smart_quotes": False, "pep_references": False, "rfc_references": False,
    }


@functools.lru_cache(maxsize=8)  # a crawl reads the page's metadata, then its sections
def parse(text: str) -> Parsed:
    try:
        doctree = publish_doctree(text, settings_overrides=_settings())
    except Exception as e:  # noqa: BLE001 - any input: a page docutils cannot read is plain text, never a crash
        out = plain.parse(text)
        why = str(e).strip().split("\n")[0][:200] or type(e).__name__
        out.problem = f"not readable as reStructuredText ({why}); read as plain text"
        return out
    walk = _Walk()
    walk.document(doctree)
    out = Parsed(headings=walk.headings, blocks=walk.placed(), meta=_docinfo(doctree))
    title = doctree.next_node(nodes.title) if doctree.children and isinstance(doctree[0], nodes.title) else None
    if title is not None:
        out.meta.setdefault("title", title.astext().strip())
    for node in doctree.findall(nodes.Element):
        if not isinstance(node, (nodes.system_message, nodes.problematic)):
            out.anchors.update(str(i).lower() for i in node.get("ids", []))
    out.problem = _problems(doctree)
    return out


def _docinfo(doctree: nodes.document) -> dict[str, Any]:
    """`:owner: @acme/platform` and friends: generic fields by name, bibliographic ones (date,
    author, status, ...) by docutils' node name."""
    meta: dict[str, Any] = {}
    info = doctree.next_node(nodes.docinfo)
    if info is None:
        return meta
    for field in info.children:
        if isinstance(field, nodes.field) and len(field) == 2:
            name, value = field[0].astext(), field[1].astext()
        elif isinstance(field, nodes.Element):
            name, value = field.tagname, field.astext()
        else:
            continue
        key = re.sub(r"[\s-]+", "_", name.strip().lower())
        if key and value.strip():
            meta.setdefault(key, " ".join(value.split()))
    return meta


def _problems(doctree: nodes.document) -> str | None:
    """One line on what docutils could not read (a malformed table, a disabled include), or None."""
    found = []
    for msg in doctree.findall(nodes.system_message):
        text = msg[0].astext() if len(msg) and isinstance(msg[0], nodes.paragraph) else msg.astext()
        level = msg.get("level", 0)
        if (level >= 3 or "directive disabled" in text) and not _EXPECTED.match(text):
            found.append(f"line {msg.get('line', '?')}: {' '.join(text.split())[:120]}")
    if not found:
        return None
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return f"reStructuredText problems, the rest of the page is kept: {'; '.join(found[:3])}{more}"


class _Walk:
    """The doctree as headings and blocks in page order, each block tagged with its section."""

    def __init__(self) -> None:
        self.headings: list[tuple[int, int, str]] = []
        self.blocks: list[tuple[int, int, str]] = []  # (line, heading index or -1, text)
        self.line = 0

    def document(self, doc: nodes.document) -> None:
        level = 1
        for child in doc.children:
            if isinstance(child, (nodes.title, nodes.subtitle)):
                self.heading(child, level)
                level += 1
        for child in doc.children:
            if not isinstance(child, (nodes.title, nodes.subtitle)):
                self.element(child, 1, level, 0)

    def heading(self, title: nodes.Element, level: int) -> None:
        line = title.line - 2 if isinstance(title.line, int) and title.line >= 2 else self.line  # line is the underline's
        self.line = line = max(line, self.line)
        self.headings.append((line, level, " ".join(title.astext().split())))

    def add(self, node: nodes.Node, text: str) -> None:
        if not text.strip():
            return
        line = node.line - 1 if isinstance(getattr(node, "line", None), int) and node.line >= 1 else self.line
        self.line = max(self.line, line)
        self.blocks.append((self.line, len(self.headings) - 1, text))

    def element(self, node: nodes.Node, depth: int, level: int, lists: int) -> None:
        if isinstance(node, nodes.Text):
            self.add(node.parent or node, " ".join(str(node).split()))
        elif isinstance(node, _SKIP) or not isinstance(node, nodes.Element):
            return
        elif isinstance(node, nodes.section):
            title = node[0] if len(node) and isinstance(node[0], nodes.title) else None
            if title is not None:
                self.heading(title, level)
            for child in node.children[1 if title is not None else 0:]:
                self.element(child, depth + 1, level + 1, 0)
        elif depth > _MAX_DEPTH:
            self.add(node, " ".join(node.astext().split()))
        elif isinstance(node, _CODE):
            self.add(node, fenced(node.astext()))
        elif isinstance(node, nodes.TextElement):
            self.add(node, _inline(node))
        elif isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            start = node.get("start", 1) if isinstance(node, nodes.enumerated_list) else None
            for n, item in enumerate(node.children):
                marker = "-" if start is None else f"{start + n}."
                for i, child in enumerate(item.children if isinstance(item, nodes.Element) else ()):
                    if i == 0 and isinstance(child, nodes.paragraph):
                        self.add(child, "  " * lists + f"{marker} {_inline(child)}")
                    else:
                        self.element(child, depth + 1, level, lists + 1)
        elif isinstance(node, nodes.row):
            self.add(node, " | ".join(" ".join(e.astext().split()) for e in node.children))
        elif isinstance(node, nodes.field) and len(node) == 2:
            self.add(node, f"{' '.join(node[0].astext().split())}: {' '.join(node[1].astext().split())}")
        elif isinstance(node, nodes.image):
            self.add(node, node.get("alt", ""))
        else:  # containers: lists' items, tables, admonitions, quotes, definitions, topics
            for child in node.children:
                self.element(child, depth + 1, level, lists)

    def placed(self) -> list[tuple[int, int, str]]:
        """The blocks at lines inside their own section's span (a directive's line can be off by a few),
        in page order: parse/sections.py assigns blocks to sections by position."""
        out = []
        starts = [h[0] for h in self.headings]
        for col, (line, section, text) in enumerate(self.blocks, 1):
            lo = starts[section] if section >= 0 else 0
            hi = starts[section + 1] - 1 if section + 1 < len(starts) else line
            out.append((max(lo, min(line, max(lo, hi))), col, text))
        return out


def _inline(node: nodes.Element) -> str:
    out: list[str] = []
    for child in node.children:
        if isinstance(child, nodes.Text):
            out.append(str(child))
        elif isinstance(child, nodes.literal):
            out.append(f"`{child.astext()}`")
        elif isinstance(child, nodes.problematic):
            out.append(_role_text(child.astext()))
        elif isinstance(child, (nodes.system_message, nodes.footnote_reference, nodes.citation_reference)):
            continue
        elif isinstance(child, nodes.Element):
            out.append(_inline(child))
    return re.sub(r"[ \t\r\n]+", " ", "".join(out)).strip()


def _role_text(raw: str) -> str:
    """A role docutils does not know (Sphinx's :doc:`Restart <platform/restart>`) as its title or target."""
    m = _ROLE.match(raw.strip())
    if not m:
        return raw
    inner = m.group(1)
    titled = re.match(r"^(.*?)\s*<([^<>]*)>$", inner, re.DOTALL)
    return (titled.group(1) if titled and titled.group(1) else inner).lstrip("~!")
