"""Page formats besides markdown and HTML (which wikicheck.parse reads itself): one module each, registered
explicitly in FORMATS. A format module has KIND (stored as the document's kind), EXTENSIONS and
`parse(text) -> Parsed`: headings, blocks, page metadata, anchors and problems, never an exception."""

from __future__ import annotations

from . import rst, text
from .base import Parsed

FORMATS = {m.KIND: m for m in (rst, text)}

__all__ = ["FORMATS", "Parsed"]
