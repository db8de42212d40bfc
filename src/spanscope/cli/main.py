"""The ``spanscope`` command: a Click group that turns Spanscope errors into exit codes.

Every command is a thin layer over the public Python API. Errors are handled here, once:
a ``SpanscopeError`` becomes one ``Error: ...`` line on stderr and the exit code of its
type (table below, also in docs/cli.md); anything else is a bug and keeps its traceback.
Command modules import Rich and the API inside their functions, so ``--help`` stays fast.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      success
1      not found (``NotFoundError``): no trace or experiment with that id
2      usage error (Click): unknown option, missing or malformed argument
3      invalid input (``InvalidInputError``): a value the API rejected
4      bad filter (``FilterError``)
5      bad tracking URI (``InvalidUriError``)
6      the store failed (``StoreError``): database unreachable, locked, corrupt
7      any other Spanscope error
130    interrupted (Ctrl-C)
=====  ==========================================================================
"""

from __future__ import annotations

import click

from spanscope import __version__
from spanscope.cli.datasets import datasets
from spanscope.cli.demo import demo
from spanscope.cli.evaluate import evaluate
from spanscope.cli.import_mlflow import import_mlflow
from spanscope.cli.keys import keys
from spanscope.cli.monitor import monitor
from spanscope.cli.report import report
from spanscope.cli.retention import retention, storage
from spanscope.cli.runs import runs
from spanscope.cli.scorers import scorers
from spanscope.cli.server import server, ui
from spanscope.cli.traces import traces
from spanscope.cli.transfer import export_command, import_command
from spanscope.exceptions import (
    FilterError,
    InvalidInputError,
    InvalidUriError,
    NotFoundError,
    SpanscopeError,
    StoreError,
)

__all__ = ["EXIT_CODES", "cli"]

EXIT_CODES: tuple[tuple[type[SpanscopeError], int], ...] = (
    (NotFoundError, 1),
    (InvalidInputError, 3),
    (FilterError, 4),
    (InvalidUriError, 5),
    (StoreError, 6),
    (SpanscopeError, 7),
)
EXIT_INTERRUPTED = 130


class SpanscopeCliError(click.ClickException):
    """A Spanscope error shown as ``Error: <one line>`` with its type's exit code."""

    def __init__(self, error: SpanscopeError) -> None:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        super().__init__("; ".join(lines) or type(error).__name__)
        self.exit_code = next(code for kind, code in EXIT_CODES if isinstance(error, kind))


GLOBAL_OPTIONS = ("--tracking-uri", "--version")


class _SpanscopeGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SpanscopeError as exc:
            raise SpanscopeCliError(exc) from exc
        except click.NoSuchOption as exc:
            if exc.option_name not in GLOBAL_OPTIONS:
                raise
            raise _misplaced_global_option(exc) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _misplaced_global_option(exc: click.NoSuchOption) -> click.UsageError:
    """``traces list --tracking-uri X``: say where the option goes instead of "no such
    option"."""
    path = exc.ctx.command_path.split()[1:] if exc.ctx else []
    where = " ".join(path) or "the command"
    example = f"spanscope {exc.option_name} … {' '.join(path)}".rstrip()
    return click.UsageError(f"{exc.option_name} is a global option: it goes before "
                            f"{where}, e.g. {example}", exc.ctx)


@click.group(cls=_SpanscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tracking-uri", envvar="SPANSCOPE_TRACKING_URI", show_envvar=True,
              metavar="URI",
              help="Where traces are read and written: sqlite:///PATH, postgresql://USER@HOST/DB, "
                   "a file path, or http://HOST:PORT (a Spanscope server; SPANSCOPE_API_KEY "
                   "is its key). [default: sqlite:///spanscope.db]")
@click.version_option(__version__, "--version", prog_name="spanscope")
def cli(tracking_uri: str | None) -> None:
    """Spanscope: trace observability for GenAI applications.

    \b
    Examples:
      spanscope demo                        # write 500 demo traces to ./spanscope.db
      spanscope traces list                 # the newest traces as a table
      spanscope traces get tr-… | jq .info  # one trace as JSON
    """
    if tracking_uri:
        import spanscope

        spanscope.set_tracking_uri(tracking_uri)


cli.add_command(traces)
cli.add_command(demo)
cli.add_command(runs)
cli.add_command(datasets)
cli.add_command(report)
cli.add_command(keys)
cli.add_command(monitor)
cli.add_command(server)
cli.add_command(ui)
cli.add_command(scorers)
cli.add_command(evaluate)
cli.add_command(retention)
cli.add_command(storage)
cli.add_command(export_command)
cli.add_command(import_command)
cli.add_command(import_mlflow)
