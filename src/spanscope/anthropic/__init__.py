"""``spanscope.anthropic.autolog()``: every ``messages.create`` of the ``anthropic`` client
becomes a CHAT_MODEL span.

Sync and async, streamed (``stream=True``, or the ``messages.stream()`` helper) or not.
The span records the request's arguments as inputs (``extra_headers`` left out), the
message as outputs (tool use blocks included), the tool definitions under
``mlflow.chat.tools``, the model under ``mlflow.llm.model`` and the token usage under
``mlflow.chat.tokenUsage`` with ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` (``input_tokens`` includes both; see ``_record``). Span
names are the client classes' names (``Messages``, ``AsyncMessages``), as MLflow's
autolog writes them. The client's own OpenTelemetry span (``anthropic.messages.create``,
in recent clients) is not opened inside an autologged call: the autolog span already
records that call.

    import spanscope.anthropic
    spanscope.anthropic.autolog()        # autolog(disable=True) puts the client back
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from spanscope.anthropic._record import MessageStream, read_message
from spanscope.entities import SpanType
from spanscope.tracing._state import log_once
from spanscope.tracing.autolog import (
    CallKind,
    Patches,
    current_span_is,
    traced_request,
    traced_request_async,
)

__all__ = ["autolog", "is_autologged"]

logger = logging.getLogger(__name__)

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

    return [(_base_client, "start_api_call_span", make), *_stream_helpers()]


def _stream_helpers() -> list[tuple[Any, str, Callable[[Any], Any]]]:
    """``messages.stream()`` posts without ``create``: the request its stream manager
    makes on entering is traced instead (a span from ``with`` to the stream's end)."""
    from anthropic.resources import messages

    found: list[tuple[Any, str, Callable[[Any], Any]]] = []
    for owner, is_async in ((messages.Messages, False), (messages.AsyncMessages, True)):
        kind = CallKind(owner.__name__, SpanType.CHAT_MODEL, "anthropic", read_message,
                        MessageStream, "anthropic")
        found.append((owner, "stream", functools.partial(_traced_stream, kind=kind,
                                                         is_async=is_async)))
    return found


def _traced_stream(original: Callable[..., Any], *, kind: CallKind,
                   is_async: bool) -> Callable[..., Any]:
    attribute = ("_AsyncMessageStreamManager__api_request" if is_async
                 else "_MessageStreamManager__api_request")

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        try:
            request = getattr(manager, attribute, None)
            if request is not None:
                traced = (traced_request_async(kind, kwargs, request) if is_async
                          else functools.partial(traced_request, kind, kwargs, request))
                setattr(manager, attribute, traced)
        except Exception:
            log_once(logger, "anthropic.stream", "Spanscope could not trace messages.stream()")
        return manager

    stream.__spanscope_original__ = original  # type: ignore[attr-defined]
    return stream


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
