"""Reading commands never create a store: a missing SQLite file is said, not made.

Opening a SQLite URI creates the file (and migrating it fills it with tables), so a
mistyped ``--tracking-uri`` or a search in the wrong directory would silently leave an
empty ``spanscope.db`` behind. ``reads_store`` checks first: a listing command says on
stderr that there is no store at the resolved path and exits 0 with nothing on stdout (a
pipe reads an empty result); a command that needs something from the store fails with
``NotFoundError`` (``require_store``, called after the command's own usage checks). A URI
whose directory does not exist is an ``InvalidUriError`` that says so
(``check_directory``), for reading commands and the demo.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from spanscope.exceptions import InvalidUriError, NotFoundError

__all__ = ["check_directory", "missing_store", "reads_store", "require_store", "sqlite_path"]

F = TypeVar("F", bound=Callable[..., Any])


def sqlite_path(uri: str) -> Path | None:
    """The file a ``sqlite:`` URI names, resolved; None for other stores and memory."""
    if not uri.lower().startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def check_directory(uri: str) -> None:
    """``InvalidUriError`` when a SQLite URI points into a directory that does not exist."""
    path = sqlite_path(uri)
    if path is not None and not path.parent.is_dir():
        raise InvalidUriError(
            f"the directory {path.parent} of the tracking URI {uri} does not exist; "
            "sqlite:///NAME.db (three slashes) is a path relative to the working directory, "
            "sqlite:////abs/path/NAME.db (four) an absolute one")


def missing_store(uri: str) -> str | None:
    """What to say when ``uri`` names a SQLite file that does not exist yet, else None."""
    check_directory(uri)
    path = sqlite_path(uri)
    if path is None or path.exists():
        return None
    return (f"No Spanscope store at {path} (tracking URI {uri}). Run `spanscope demo` to "
            "create one, or point --tracking-uri at an existing store.")


def require_store() -> None:
    """``NotFoundError`` (exit code 1) when the tracking store does not exist."""
    import spanscope

    message = missing_store(spanscope.get_tracking_uri())
    if message is not None:
        raise NotFoundError(message)


def reads_store(*, listing: bool) -> Callable[[F], F]:
    """Decorate a reading command: check the store exists before anything opens it.

    ``listing=True``: say so on stderr and exit 0 (an empty list is an answer);
    otherwise ``require_store``.
    """
    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            import spanscope

            if not listing:
                require_store()
            elif (message := missing_store(spanscope.get_tracking_uri())) is not None:
                click.echo(message, err=True)
                return None
            return command(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
