"""The command line: parse options, call the library, format, set the exit code. Nothing else.

Exit codes: 0 clean · 1 findings at or above --fail-on · 2 usage error · 3 wikicheck error
(bad input, missing store, locked index...) · 4 unexpected crash (traceback with --debug) · 130 Ctrl-C
· 141 stdout closed early (`| head`) · 143 SIGTERM (crawl and nightly stop cleanly).

The app and its error handling are in core.py, which the command modules import (they never import
this package back: no import cycle, #13).
"""

from __future__ import annotations

# Commands are registered explicitly, one module per group of commands.
from . import check as _check  # noqa: F401
from . import crawl as _crawl  # noqa: F401
from . import report as _report  # noqa: F401
from . import search as _search  # noqa: F401
from . import serve as _serve  # noqa: F401
from .core import DEFAULT_INDEX, EXIT_ERROR, EXIT_FINDINGS, EXIT_USAGE, app, default_index


def main() -> None:
    app()


__all__ = ["DEFAULT_INDEX", "EXIT_ERROR", "EXIT_FINDINGS", "EXIT_USAGE", "app", "default_index", "main"]
