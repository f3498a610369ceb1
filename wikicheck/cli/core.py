"""The command line's core: the Typer app, its error handling and help, which every command module uses.

Exit codes: 0 clean · 1 findings at or above --fail-on · 2 usage error · 3 wikicheck error
(bad input, missing store, locked index...) · 4 unexpected crash (traceback with --debug) · 130 Ctrl-C
· 141 stdout closed early (`| head`) · 143 SIGTERM (crawl and nightly stop cleanly).
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import re
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Any

import click
import typer
import typer.exceptions
from typer.core import TyperCommand, TyperGroup

from ..crawl import Terminated
from ..errors import WikicheckError

EXIT_FINDINGS, EXIT_USAGE, EXIT_ERROR, EXIT_CRASH, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
EXIT_PIPE_CLOSED, EXIT_TERMINATED = 141, 143  # 128 + SIGPIPE, 128 + SIGTERM: what a shell reports for other tools
DEFAULT_INDEX = "indexes/default"


def default_index(config: Path | None = None) -> str:
    """The store a command uses when it is given neither --index nor --store: $WIKICHECK_STORE, else
    $WIKICHECK_INDEX, else [store] url of the config (`config`, or the one discovered), else indexes/default."""
    from ..store.pg import is_store_url

    env = os.environ.get("WIKICHECK_STORE")
    if env:
        if not is_store_url(env):
            raise WikicheckError(f"WIKICHECK_STORE should be a postgresql:// URL, got {env!r}; "
                                 "an SQLite store is chosen with WIKICHECK_INDEX or --index DIR")
        return env
    if os.environ.get("WIKICHECK_INDEX"):
        return os.environ["WIKICHECK_INDEX"]
    from ..config import load_config

    url: str = load_config(config).get("store", "url")
    return url or DEFAULT_INDEX


STORE_HELP = ("A PostgreSQL + pgvector store (postgresql://USER@HOST/DB) instead of an index directory "
              "[default: $WIKICHECK_STORE, or [store] url of the config].")


def store_location(index: str | None, store: str | None, config: Path | None = None) -> str:
    """Where a command's store is: --store URL, else --index DIR, else default_index()."""
    from ..store.pg import is_store_url

    if store is not None:
        if not is_store_url(store):
            raise typer.BadParameter(f"should be a postgresql:// URL, got {store!r} (an index directory is given "
                                     "with --index DIR)", param_hint="--store")
        if index is not None:
            raise typer.BadParameter("--store and --index each name a store; give one of them", param_hint="--store")
        return store
    return index if index is not None else default_index(config)


# typer vendors its own click: its usage errors are TyperException, not click.ClickException
_TyperClickException = typer.exceptions.TyperException


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and Python's own flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # no file descriptor (tests capture stdout in memory): nothing will flush to a closed pipe


def _flush_stdout() -> None:
    if sys.stdout is not None and not sys.stdout.closed:
        sys.stdout.flush()


class WikicheckGroup(TyperGroup):
    """Turns every error into one line on stderr and a documented exit code, in one place."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            try:
                return super().invoke(ctx)
            finally:
                _flush_stdout()  # a closed pipe shows here, not in Python's flush at exit (exit 120)
        except BrokenPipeError:
            # fixes #12: `wikicheck check -f json | head` is a normal end, quiet as for other Unix tools
            _silence_stdout()
            raise typer.Exit(EXIT_PIPE_CLOSED) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException,
                _TyperClickException, typer.Exit, typer.Abort):
            raise  # usage errors (exit 2), --help, and our own exit codes
        except WikicheckError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Terminated:
            typer.echo("terminated", err=True)
            raise typer.Exit(EXIT_TERMINATED) from None
        except Exception as e:  # noqa: BLE001
            if isinstance(e, sqlite3.DatabaseError):
                from ..store import damage_error

                # a damaged page that quick_check did not see at open, met by a later query: exit 3
                # naming the store, never a crash (#11 point 12)
                damage = damage_error(e)
                if damage is not None:
                    typer.echo(f"error: {damage}", err=True)
                    raise typer.Exit(EXIT_ERROR) from None
            if (ctx.obj or {}).get("debug") or os.environ.get("WIKICHECK_DEBUG"):
                traceback.print_exc()
            else:
                typer.echo(f"error: unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)", err=True)
            raise typer.Exit(EXIT_CRASH) from None


# --------------------------------------------------------------------------- readable help

# One name per kind of value, the same in every command; typer would show `<str>`, `<list[str]>`
# and `{sources}...` (issue #12). A command can still pass its own metavar=.
_METAVARS = {
    "sources": "SOURCE", "query": "QUERY", "index": "DIR", "store_url": "URL", "output": "DIR", "config": "FILE",
    "queries_file": "FILE", "format_": "FORMAT", "fail_on": "LEVEL", "min_level": "LEVEL", "kind": "KIND",
    "model": "MODEL", "name": "NAME", "owner": "OWNER", "policy": "POLICY", "allow_host": "HOST",
    "host": "HOST", "port": "PORT", "token_env": "VAR", "wait": "SECONDS", "timeout": "SECONDS",
    "rate": "RATE", "k": "N", "max_pages": "N", "max_bytes_per_page": "BYTES", "concurrency": "N",
    "max_queue": "N",
}
_TYPE_METAVARS = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH"}
_RANGE = re.compile(r"\b(?:(?P<low>[-\d.]+)<=x<=(?P<high>[-\d.]+)|x>=(?P<min>[-\d.]+)|x<=(?P<max>[-\d.]+))")


def _metavar(param: Any) -> str:
    """The metavar of a value: the command's own, else the one for its name, else one for its type."""
    if param.metavar:
        return str(param.metavar).removesuffix("...")
    if param.name in _METAVARS:
        return _METAVARS[param.name]
    ann = param.type_descriptor.annotation
    ann = (getattr(ann, "__args__", None) or (ann,))[0] if param.type_descriptor.is_list else ann
    return _TYPE_METAVARS.get(ann, "VALUE")


def _argument_name(param: Any) -> str:
    return _metavar(param) + ("..." if param.nargs != 1 else "")


def _plain_range(help_: str) -> str:
    """typer writes ranges as `1<=x<=100`: say "1 to 100", "at least 0", "at most 5"."""
    def words(m: re.Match[str]) -> str:
        if m["low"] is not None:
            return f"{m['low']} to {m['high']}"
        return f"at least {m['min']}" if m["min"] is not None else f"at most {m['max']}"
    return _RANGE.sub(words, help_)


class WikicheckCommand(TyperCommand):
    """Help in plain words: `crawl [OPTIONS] SOURCE...`, `--index DIR`, `-k N`, never Python types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for p in self.params:
            if p.param_type_name == "option" and not getattr(p, "is_flag", False) and not p.count:
                p.metavar = _metavar(p)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:  # type: ignore[override]
        pieces = [self.options_metavar] if self.options_metavar else []
        for p in self.get_params(ctx):
            if p.param_type_name == "argument":
                pieces.append(_argument_name(p) if p.required else f"[{_argument_name(p)}]")
        return pieces

    def format_options(self, ctx: click.Context, formatter: Any) -> None:  # type: ignore[override]
        args, opts = [], []
        for p in self.get_params(ctx):
            record = p.get_help_record(ctx)
            if record is None:
                continue
            if p.param_type_name == "argument":
                args.append((_argument_name(p), _plain_range(record[1])))
            else:
                opts.append((record[0], _plain_range(record[1])))
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class WikicheckTyper(typer.Typer):
    """A Typer whose commands are WikicheckCommands unless one asks for another class."""

    def command(  # type: ignore[no-untyped-def,override]
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ):
        return super().command(name, cls=cls or WikicheckCommand, **kwargs)


app = WikicheckTyper(
    cls=WikicheckGroup,
    help="Find outdated, superseded and contradicted runbook sections before an agent acts on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: HOST[:PORT] must not be read as console markup
)


def _print_version(value: bool) -> None:
    if not value:
        return
    try:
        typer.echo(f"wikicheck {importlib.metadata.version('wikicheck')}")
    except BrokenPipeError:  # an eager option runs before WikicheckGroup.invoke, which handles this for commands
        _silence_stdout()
        raise typer.Exit(EXIT_PIPE_CLOSED) from None
    raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of unexpected errors."),
    version: bool = typer.Option(False, "--version", is_eager=True, expose_value=False, callback=_print_version,
                                 help="Print the installed version and exit."),
) -> None:
    ctx.obj = {"debug": debug}


__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "EXIT_USAGE", "STORE_HELP", "app", "default_index", "store_location"]
