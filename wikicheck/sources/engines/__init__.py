"""Main content and page metadata of a wiki page, per engine (issue 6).

Confluence, MediaWiki, MkDocs Material and Docusaurus are recognised by their own markup; anything
else gets a readability-style extraction (the element that holds most of the prose). Each engine
says where its content is, which chrome to drop inside it (edit links, TOC, breadcrumbs, page
metadata), where its last-modified date, author and page version live, and which links are not
pages (edit, history, special pages). The result is a small clean HTML page: title, canonical link
and page meta tags in the head, the content alone in <main>, links made absolute.

One job per module: wikis.py (the engines), readability.py (the fallback root), chrome.py (cleaning
the content), markup.py (reading bits of markup and dates), page.py (the extracted page and its
links). This package re-exports what callers import from wikicheck.sources.engines.
"""

from __future__ import annotations

from .markup import PageMeta, page_date
from .page import Extracted, extract, page_links, with_canonical
from .wikis import ENGINES, GENERIC, Confluence, Docusaurus, Engine, MediaWiki, MkDocsMaterial, detect_engine

__all__ = ["ENGINES", "GENERIC", "Confluence", "Docusaurus", "Engine", "Extracted", "MediaWiki", "MkDocsMaterial",
           "PageMeta", "detect_engine", "extract", "page_date", "page_links", "with_canonical"]
