"""Turn SQLAlchemy and driver errors into ``spanscope.exceptions``, and spot retryable ones.

Callers of the store never see ``sqlalchemy.exc``: constraint and data errors become
``InvalidInputError`` (the caller's data conflicts with what is stored), anything else a
``StoreError`` whose one-line message names the store (password masked) and the cause.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from spanscope.exceptions import InvalidInputError, SpanscopeError, StoreError

__all__ = ["is_retryable", "translate"]

# PostgreSQL SQLSTATEs worth retrying a whole transaction for: serialization failure and
# deadlock; a unique violation only on the traces key (two writers inserting one new trace
# at once: the retry finds it stored and merges), never on other data the caller sent.
_PG_RETRYABLE = {"40001", "40P01"}
_PG_UNIQUE_VIOLATION = "23505"
_RACY_CONSTRAINTS = {"pk_traces"}


def reason(exc: BaseException) -> str:
    """The driver's message, first line only (PostgreSQL adds hints on later lines)."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0].strip()


def translate(exc: BaseException, *, store: str, action: str) -> SpanscopeError:
    """The Spanscope error to raise (``from exc``) for ``exc`` raised while doing ``action``."""
    if isinstance(exc, SpanscopeError):
        return exc
    why = reason(exc)
    if isinstance(exc, sa_exc.IntegrityError):
        return InvalidInputError(f"{action}: conflicts with data already stored ({why})")
    if isinstance(exc, sa_exc.DataError):
        return InvalidInputError(f"{action}: the database rejected a value ({why})")
    if isinstance(exc, UnicodeError):
        return InvalidInputError(f"{action}: text that is not valid Unicode "
                                 f"(e.g. a lone surrogate) cannot be stored ({why})")
    if action == "open":
        return StoreError(f"cannot open {store}: {why}")
    return StoreError(f"{action} failed on {store}: {why}")


def is_retryable(exc: BaseException) -> bool:
    """True for transient contention: a locked SQLite file or a PostgreSQL conflict."""
    if not isinstance(exc, sa_exc.DBAPIError) or exc.orig is None:
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == _PG_UNIQUE_VIOLATION:
        diag = getattr(exc.orig, "diag", None)
        return getattr(diag, "constraint_name", None) in _RACY_CONSTRAINTS
    if sqlstate is not None:
        return sqlstate in _PG_RETRYABLE
    message = str(exc.orig).lower()
    return isinstance(exc, sa_exc.OperationalError) and (
        "database is locked" in message or "database table is locked" in message
        or "busy" in message)
