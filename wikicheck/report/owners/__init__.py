"""Owner reports (issue 5): what each runbook owner should fix first, and why.

``build_reports(store, config)`` turns the latest check run into one report per owner (plus the
unowned sections), ranked by risk (wikicheck.risk), with the trend against the previous check run.
``render(bundle, report, fmt)`` formats one page; ``write_reports(bundle, out_dir, formats)``
writes ``index.<fmt>``, ``owner-<slug>.<fmt>`` for each owner and ``unowned.<fmt>``.

Formats: ``md`` (pastes into an issue or chat), ``html`` (one self-contained file: inline CSS, an
inline SVG chart, no script, no external resource, a strict Content-Security-Policy) and ``json``
(the stable, versioned contract: ``{"version": 1, "kind": "owner-report" | "index" | "bundle", ...}``).

Everything that comes from a document (paths, headings, messages, evidence, owners, authors) is
escaped in every format: HTML by Jinja2's autoescape, Markdown by an escaping finalizer that
also applies to every value a template prints. Links are only http(s) URLs or relative paths.

One job per module: build.py (the bundle), items.py (one finding as a report item), slugs.py (report
file names), escape.py (escaping and safe links), pages.py (rendering a page) and files.py (writing
the files). This package re-exports their public names.
"""

from __future__ import annotations

from .build import MARKER, UNOWNED, VERSION, build_reports
from .escape import MdSafe, html_message, md_code, md_escape, md_link, md_message, safe_url
from .files import write_reports
from .items import AGE_BUCKETS, MAX_CHANGES, age_chart, suggest_action
from .pages import FORMATS, SOURCE_NAMES, TEMPLATES, count_of, render
from .slugs import SLUG_MAX, owner_file_slugs

__all__ = ["FORMATS", "UNOWNED", "VERSION", "build_reports", "md_escape", "render", "safe_url", "suggest_action",
           "write_reports",
           # also public before the split
           "AGE_BUCKETS", "MARKER", "MAX_CHANGES", "SLUG_MAX", "SOURCE_NAMES", "TEMPLATES", "MdSafe", "age_chart",
           "count_of", "html_message", "md_code", "md_link", "md_message", "owner_file_slugs"]
