"""``spanscope.anthropic.autolog()``: every ``messages.create`` of the ``anthropic`` client
becomes a CHAT_MODEL span.

Sync and async, streamed (``stream=True``) or not. The span records the request's
arguments as inputs (``extra_headers`` left out), the message as outputs (tool use
blocks included), the tool definitions under ``mlflow.chat.tools``, the model under
``mlflow.llm.model`` and the token usage under ``mlflow.chat.tokenUsage`` with
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (``input_tokens``
includes both; see ``_record``). Span names are the client classes' names (``Messages``,
``AsyncMessages``), as MLflow's autolog writes them. The client's own OpenTelemetry span
(``anthropic.messages.create``, in recent clients) is not opened inside an autologged
call: the autolog span already records that call.

    import spanscope.anthropic
    spanscope.anthropic.autolog()        # autolog(disable=True) puts the client back
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from spanscope.anthropic._record import MessageStream, read_message
from spanscope.entities import SpanType
from spanscope.tracing.autolog import CallKind, Patches, current_span_is

__all__ = ["autolog", "is_autologged"]

_PATCHES = Patches("anthropic")


def _targets() -> list[tuple[type, str, CallKind, bool]]:
    from anthropic.resources import messages

    return [(owner, "create",
             CallKind(owner.__name__, SpanType.CHAT_MODEL, "anthropic", read_message,
                      MessageStream, "anthropic"), is_async)
            for owner, is_async in ((messages.Messages, False),
                                    (messages.AsyncMessages, True))]


_SPAN_NAMES = frozenset({"Messages", "AsyncMessages"})


def _replacements() -> list[tuple[Any, str, Callable[[Any], Any]]]:
    """Recent clients open an OpenTelemetry span of their own per call; inside an
    autologged call it would be a second, output-less CHAT_MODEL span of the same call,
    so the client is told there is no span to start there (its ``None`` path)."""
    try:
        from anthropic import _base_client
    except ImportError:
        return []
    if not hasattr(_base_client, "start_api_call_span"):
        return []

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def start_api_call_span(*args: Any, **kwargs: Any) -> Any:
            if current_span_is(_SPAN_NAMES, "anthropic"):
                return None
            return original(*args, **kwargs)

        return start_api_call_span

    return [(_base_client, "start_api_call_span", make)]


def autolog(disable: bool = False, log_traces: bool = True) -> None:
    """Trace every Anthropic ``messages.create`` from now on; ``disable=True`` undoes it.

    ``log_traces=False`` is the same as ``disable=True``. Calling it twice patches once.
    """
    if disable or not log_traces:
        _PATCHES.restore()
        return
    _PATCHES.apply(_targets(), _replacements())


def is_autologged() -> bool:
    """Whether ``autolog()`` is in effect now."""
    return _PATCHES.active
