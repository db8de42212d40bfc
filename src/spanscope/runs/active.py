"""The active-run stack behind ``start_run`` / ``end_run`` and the ``log_*`` functions.

As in MLflow the stack is per thread: a run started in one thread is not the active run
of another (pass ``run_id=`` to log to a run from a worker thread). Each entry remembers
the store its run lives in, so changing the tracking URI while a run is active still
ends and logs to the right place. Runs left active when the interpreter exits are ended
``FINISHED``, as MLflow ends them.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spanscope import tracking
from spanscope.entities.run import Run, RunStatus

if TYPE_CHECKING:
    from types import TracebackType

    from spanscope.store.base import RunStore

__all__ = ["ActiveRun", "active_stack", "end", "push", "store_of", "target_run"]

logger = logging.getLogger(__name__)

_local = threading.local()
_lock = threading.Lock()
_open: dict[str, str] = {}  # run id -> store URI, every thread's active runs (for atexit)
_last_ended: list[tuple[str, str]] = []  # (run id, store URI) of the last run ended
_atexit_registered = False


@dataclass(frozen=True, repr=False)
class ActiveRun(Run):
    """The run ``start_run`` returns: a ``Run`` (as it was at start) and a context manager.

    Leaving the ``with`` block ends the run ``FINISHED``, or ``FAILED`` if an exception
    escaped (``KILLED`` for Ctrl-C); the exception propagates unchanged.
    """

    store_uri: str = field(default="", compare=False)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        status = (RunStatus.FINISHED if exc_type is None
                  else RunStatus.KILLED if issubclass(exc_type, KeyboardInterrupt)
                  else RunStatus.FAILED)
        end(self.info.run_id, status)


def active_stack() -> list[ActiveRun]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def store_of(run: ActiveRun) -> RunStore:
    return tracking.get_store(run.store_uri or None)


def push(run: ActiveRun) -> None:
    global _atexit_registered
    active_stack().append(run)
    with _lock:
        _open[run.info.run_id] = run.store_uri
        if not _atexit_registered:
            atexit.register(_end_all_at_exit)
            _atexit_registered = True


def end(run_id: str, status: str) -> None:
    """End one active run of this thread (and any runs started inside it)."""
    import time

    stack = active_stack()
    position = next((i for i, r in enumerate(stack) if r.info.run_id == run_id), None)
    if position is None:
        return  # already ended (e.g. end_run() inside its with-block)
    for run in reversed(stack[position:]):
        stack.remove(run)
        with _lock:
            _open.pop(run.info.run_id, None)
            _last_ended[:] = [(run.info.run_id, run.store_uri)]
        store_of(run).update_run_info(run.info.run_id, status=status,
                                      end_time=int(time.time() * 1000))


def last_ended() -> tuple[str, str] | None:
    with _lock:
        return _last_ended[0] if _last_ended else None


def target_run(run_id: str | None) -> tuple[RunStore, str]:
    """(store, run id) to log to: ``run_id`` in the tracking store, else the active run.

    With neither, a run is started (and stays active), as MLflow's ``log_*`` do.
    """
    if run_id is not None:
        return tracking.get_store(), run_id
    stack = active_stack()
    if not stack:
        from spanscope.runs.fluent import start_run

        start_run()
    run = stack[-1]
    return store_of(run), run.info.run_id


def _end_all_at_exit() -> None:
    with _lock:
        leftovers = list(_open.items())
        _open.clear()
    for run_id, uri in leftovers:
        try:
            import time

            tracking.get_store(uri or None).update_run_info(
                run_id, status=RunStatus.FINISHED, end_time=int(time.time() * 1000))
        except Exception:  # the interpreter is exiting: report, never raise
            logger.exception("could not end run %s at exit", run_id)


