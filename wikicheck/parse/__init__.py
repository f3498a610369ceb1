"""Split a Document into Sections: heading path, anchor, line span, plain text and hashes.

Markdown goes through markdown-it-py (ATX and setext headings; fenced code stays in its section),
HTML through BeautifulSoup (main content only; nav, header, footer, scripts and styles dropped),
other formats (reStructuredText, plain text) through their module in wikicheck.formats.

One job per module: frontmatter.py (YAML front matter), markdown.py and html.py (a page's headings
and blocks; html.py also the page's metadata), anchors.py (heading slugs and link targets),
sections.py (the split itself). This package re-exports what callers import from wikicheck.parse.
"""

from __future__ import annotations

from .anchors import heading_anchors, slugify, unique_anchor
from .frontmatter import FrontMatterError, split_front_matter
from .html import html_main, html_metadata, html_soup
from .markdown import MAX_NESTING, markdown_tokens
from .sections import DEFAULT_MAX_LEVEL, iter_sections

__all__ = [
    "DEFAULT_MAX_LEVEL",
    "MAX_NESTING",
    "FrontMatterError",
    "heading_anchors",
    "html_main",
    "html_metadata",
    "html_soup",
    "iter_sections",
    "markdown_tokens",
    "slugify",
    "split_front_matter",
    "unique_anchor",
]
