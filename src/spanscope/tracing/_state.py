"""Process-wide tracing switches, read on every traced call, plus a log-once helper.

Kept in one tiny module with no imports from the rest of the SDK (and none of the
OpenTelemetry SDK) so the decorator's hot path reads plain attributes (``STATE.enabled``,
``STATE.tracer``) and importing Spanscope stays cheap.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Tracer

__all__ = ["STATE", "forget_logged", "get_tracer", "log_once"]


class _TracingState:
    """Mutable process state: the on/off switch, the tracer once built, the last trace id."""

    __slots__ = ("enabled", "last_trace_id", "tracer", "unserialisable_values")

    def __init__(self) -> None:
        self.enabled = True
        self.unserialisable_values = 0  # values stored as a marker (see live_span.encode)
        self.last_trace_id: int | None = None  # OTel trace id of the last finished root
        self.tracer: Tracer | None = None  # set by provider.ensure_provider()


def get_tracer() -> Tracer:
    """The tracer Spanscope spans are made with, building the provider on first use."""
    tracer = STATE.tracer
    if tracer is None:
        from spanscope.tracing.provider import ensure_provider

        tracer = ensure_provider()
    return tracer


STATE = _TracingState()

_seen_lock = threading.Lock()
_seen: set[str] = set()
_MAX_SEEN = 1000  # a runaway stream of distinct messages must not grow memory forever


def log_once(logger: logging.Logger, key: str, message: str, *args: object,
             exc_info: bool = True, level: int = logging.ERROR) -> None:
    """Log ``message`` (with the current traceback) the first time ``key`` is seen.

    The SDK's broad catches sit on the application's path; one line per distinct problem
    tells the user something is wrong without flooding the log on every traced call.
    Later occurrences go to DEBUG.
    """
    with _seen_lock:
        first = key not in _seen
        if first and len(_seen) < _MAX_SEEN:
            _seen.add(key)
    logger.log(level if first else logging.DEBUG, message, *args, exc_info=exc_info)


def forget_logged() -> None:
    """Let every message be logged again (tests, and children after fork)."""
    with _seen_lock:
        _seen.clear()
