"""The command line: parse options, call the library, format, set the exit code. Nothing else.

Exit codes: 0 clean · 1 findings at or above --fail-on · 2 usage error · 3 wikicheck error
(bad input, missing store, locked index...) · 4 unexpected crash (traceback with --debug) · 130 Ctrl-C.
"""

from __future__ import annotations

import os
import traceback

import click
import typer
import typer.exceptions
from typer.core import TyperGroup

from ..errors import WikicheckError

EXIT_FINDINGS, EXIT_USAGE, EXIT_ERROR, EXIT_CRASH, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
DEFAULT_INDEX = "indexes/default"


def default_index() -> str:
    return os.environ.get("WIKICHECK_INDEX", DEFAULT_INDEX)


# typer vendors its own click: its usage errors are TyperException, not click.ClickException
_TyperClickException = typer.exceptions.TyperException


class WikicheckGroup(TyperGroup):
    """Turns every error into one line on stderr and a documented exit code, in one place."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException,
                _TyperClickException, typer.Exit, typer.Abort):
            raise  # usage errors (exit 2), --help, and our own exit codes
        except WikicheckError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as e:  # noqa: BLE001
            if (ctx.obj or {}).get("debug") or os.environ.get("WIKICHECK_DEBUG"):
                traceback.print_exc()
            else:
                typer.echo(f"error: unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)", err=True)
            raise typer.Exit(EXIT_CRASH) from None


app = typer.Typer(
    cls=WikicheckGroup,
    help="Find outdated, superseded and contradicted runbook sections before an agent acts on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: HOST[:PORT] must not be read as console markup
)


@app.callback()
def _root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug", help="Show tracebacks of unexpected errors.")) -> None:
    ctx.obj = {"debug": debug}


# Commands are registered explicitly, one module per group of commands.
from . import check as _check  # noqa: E402,F401
from . import crawl as _crawl  # noqa: E402,F401
from . import report as _report  # noqa: E402,F401
from . import search as _search  # noqa: E402,F401
from . import serve as _serve  # noqa: E402,F401

def main() -> None:
    app()


__all__ = ["app", "main"]
