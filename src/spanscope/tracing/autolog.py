"""What every client autolog shares: patching methods reversibly, and one span per call.

A provider module (``spanscope.openai``, ``spanscope.anthropic``) describes each method
it traces as a ``CallKind``: the span's name and type, how to record the request, the
response, and a streamed response chunk by chunk. ``Patches`` replaces the methods on the
client classes and puts back the very same function objects on ``restore()``, so
``autolog(disable=True)`` leaves the client exactly as it was.

Per call the wrapper opens one OpenTelemetry span (a child of whatever span is current,
else the root of a new trace), calls the original method and records the result. A
stream is traced by wrapping the stream object's own iterator in place, so the app keeps
the client's ``Stream`` type; the span ends when the stream is exhausted, fails or is
dropped, with the chunks aggregated into one response and a ``first_token`` event.
Spanscope's own failures are logged once and never reach the app; the app's exceptions
(HTTP errors, timeouts) mark the span ERROR and propagate unchanged.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import attach, detach
from opentelemetry.trace import get_current_span, set_span_in_context

from spanscope.entities import SpanAttributeKey
from spanscope.tracing._state import STATE, get_tracer, log_once
from spanscope.tracing.live_span import encode, record_exception

__all__ = ["FIRST_TOKEN_EVENT", "INCOMPLETE_STREAM_ATTRIBUTE", "MODEL_ATTRIBUTE",
           "PROVIDER_ATTRIBUTE", "TOOLS_ATTRIBUTE", "CallKind", "Patches", "StreamAccumulator",
           "current_span_is", "traced_request", "traced_request_async"]

logger = logging.getLogger(__name__)

MODEL_ATTRIBUTE = "mlflow.llm.model"
PROVIDER_ATTRIBUTE = "mlflow.llm.provider"
TOOLS_ATTRIBUTE = "mlflow.chat.tools"
MESSAGE_FORMAT_ATTRIBUTE = "mlflow.message.format"
FIRST_TOKEN_EVENT = "first_token"
INCOMPLETE_STREAM_ATTRIBUTE = "spanscope.stream.incomplete"  # the app stopped reading early
# Request arguments never recorded: headers may carry credentials.
_SECRET_ARGUMENTS = frozenset({"extra_headers"})
_ABSENT_TYPES = frozenset({"NotGiven", "Omit"})  # the clients' "argument not passed" markers


class StreamAccumulator:
    """Collects a stream's chunks into the response a non-streamed call would return."""

    def add(self, item: Any) -> bool:
        """Take one chunk; True when it carried generated output (text, a tool call)."""
        raise NotImplementedError

    def result(self) -> tuple[Any, str | None, dict[str, int] | None]:
        """``(outputs, model, token usage)`` of what was streamed so far."""
        raise NotImplementedError


@dataclass(frozen=True)
class CallKind:
    """How to trace one client method."""

    span_name: str
    span_type: str
    provider: str
    # the response -> (outputs as JSON text, model name, token usage); None values skipped
    read_response: Callable[[Any], tuple[str | None, str | None, dict[str, int] | None]]
    # a fresh accumulator for a streamed response, or None when the API does not stream
    new_stream: Callable[[], StreamAccumulator] | None = None
    message_format: str | None = None


def _recorded_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items()
            if key not in _SECRET_ARGUMENTS and type(value).__name__ not in _ABSENT_TYPES}


def _open_span(kind: CallKind, kwargs: dict[str, Any]) -> Any:
    """Start the span for a call, with its request recorded; None if that failed."""
    try:
        span = get_tracer().start_span(kind.span_name)
        if not span.is_recording():  # sampled out
            span.end()
            return None
        inputs = _recorded_arguments(kwargs)
        values = {SpanAttributeKey.SPAN_TYPE: encode(kind.span_type),
                  SpanAttributeKey.INPUTS: encode(inputs),
                  PROVIDER_ATTRIBUTE: encode(kind.provider)}
        if kind.message_format is not None:
            values[MESSAGE_FORMAT_ATTRIBUTE] = encode(kind.message_format)
        tools = inputs.get("tools")
        if tools:
            values[TOOLS_ATTRIBUTE] = encode(tools)
        model = inputs.get("model")
        if isinstance(model, str):
            values[MODEL_ATTRIBUTE] = encode(model)
        span.set_attributes(values)
        return span
    except Exception:
        log_once(logger, f"autolog.open.{kind.span_name}",
                 "Spanscope could not start a span for %s", kind.span_name)
        return None


def _record(span: Any, outputs: str | None, model: str | None,
            usage: dict[str, int] | None) -> None:
    values = {}
    if outputs is not None:
        values[SpanAttributeKey.OUTPUTS] = outputs
    if model:
        values[MODEL_ATTRIBUTE] = encode(model)
    if usage:
        values[SpanAttributeKey.CHAT_USAGE] = encode(usage)
    if values:
        span.set_attributes(values)


def _fail(kind: CallKind, span: Any, exc: BaseException) -> None:
    try:
        record_exception(span, exc)
        span.end()
    except Exception:
        log_once(logger, f"autolog.fail.{kind.span_name}",
                 "Spanscope could not record a failed %s call", kind.span_name)


def _finish(kind: CallKind, span: Any, result: Any, *, is_async: bool) -> Any:
    """Record ``result`` and end the span; a stream gets its iterator traced instead."""
    try:
        if kind.new_stream is not None and hasattr(result, "_iterator") \
                and not hasattr(result, "model_dump_json"):
            accumulator = kind.new_stream()
            inner = result._iterator
            state = _StreamState(kind, span, accumulator)
            if is_async:
                traced_async = _traced_async(inner, state)
                result._iterator = traced_async
                result.close = _async_closer(result.close, traced_async, state)
            else:
                traced = _traced_sync(inner, state)
                result._iterator = traced
                result.close = _closer(result.close, traced, state)
            return result
        _record(span, *kind.read_response(result))
    except Exception:
        log_once(logger, f"autolog.finish.{kind.span_name}",
                 "Spanscope could not record the response of %s", kind.span_name)
    try:
        span.end()
    except Exception:
        log_once(logger, f"autolog.end.{kind.span_name}", "Spanscope could not end a span")
    return result


class _StreamState:
    """One stream's bookkeeping: the accumulator and whether output has started."""

    __slots__ = ("accumulator", "ended", "kind", "seen_output", "span", "start_ns")

    def __init__(self, kind: CallKind, span: Any, accumulator: StreamAccumulator) -> None:
        self.kind, self.span, self.accumulator = kind, span, accumulator
        self.seen_output = self.ended = False
        self.start_ns = span.start_time or time.time_ns()

    def add(self, item: Any) -> None:
        try:
            if self.accumulator.add(item) and not self.seen_output:
                self.seen_output = True
                now = time.time_ns()
                self.span.add_event(FIRST_TOKEN_EVENT, {
                    "time_to_first_token_ms": round((now - self.start_ns) / 1e6, 3)}, now)
        except Exception:
            log_once(logger, f"autolog.chunk.{self.kind.span_name}",
                     "Spanscope could not read a streamed chunk of %s", self.kind.span_name)

    def end(self, error: BaseException | None, complete: bool) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            _record(self.span, *_encoded(self.accumulator.result()))
            if not complete and error is None:
                self.span.set_attribute(INCOMPLETE_STREAM_ATTRIBUTE, "true")
            if error is not None:
                record_exception(self.span, error)
        except Exception:
            log_once(logger, f"autolog.stream.{self.kind.span_name}",
                     "Spanscope could not record the stream of %s", self.kind.span_name)
        try:
            self.span.end()
        except Exception:
            log_once(logger, f"autolog.end.{self.kind.span_name}",
                     "Spanscope could not end a span")


def _encoded(result: tuple[Any, str | None, dict[str, int] | None]
             ) -> tuple[str | None, str | None, dict[str, int] | None]:
    outputs, model, usage = result
    return (None if outputs is None else encode(outputs)), model, usage


def _closer(close: Callable[[], Any], traced: Any, state: _StreamState) -> Callable[[], Any]:
    """The stream's ``close`` (also what ``with`` calls), ending the span first."""

    def closing() -> Any:
        traced.close()
        state.end(None, False)  # a stream closed before it was read: its generator never ran
        return close()

    return closing


def _async_closer(close: Callable[[], Any], traced: Any,
                  state: _StreamState) -> Callable[[], Any]:
    async def closing() -> Any:
        await traced.aclose()
        state.end(None, False)
        return await close()

    return closing


def _traced_sync(inner: Iterator[Any], state: _StreamState) -> Iterator[Any]:
    error: BaseException | None = None
    complete = False
    try:
        for item in inner:
            state.add(item)
            yield item
        complete = True
    except GeneratorExit:
        raise
    except BaseException as exc:
        error = exc
        raise
    finally:
        if not complete:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
        state.end(error, complete)


async def _traced_async(inner: AsyncIterator[Any], state: _StreamState
                        ) -> AsyncIterator[Any]:
    error: BaseException | None = None
    complete = False
    try:
        async for item in inner:
            state.add(item)
            yield item
        complete = True
    except GeneratorExit:
        raise
    except BaseException as exc:
        error = exc
        raise
    finally:
        if not complete:
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()
        state.end(error, complete)


def traced_request(kind: CallKind, kwargs: dict[str, Any],
                   request: Callable[[], Any]) -> Any:
    """``request()`` (a client helper's deferred HTTP call) traced as one ``kind`` call
    with ``kwargs`` as its inputs: for helpers that do not go through ``create``."""
    if not STATE.enabled:
        return request()
    span = _open_span(kind, kwargs)
    if span is None:
        return request()
    token = attach(set_span_in_context(span))
    try:
        result = request()
    except BaseException as exc:
        detach(token)
        _fail(kind, span, exc)
        raise
    detach(token)
    return _finish(kind, span, result, is_async=False)


async def traced_request_async(kind: CallKind, kwargs: dict[str, Any],
                               request: Awaitable[Any]) -> Any:
    """``traced_request`` for an awaitable made ahead of time."""
    if not STATE.enabled:
        return await request
    span = _open_span(kind, kwargs)
    if span is None:
        return await request
    token = attach(set_span_in_context(span))
    try:
        result = await request
    except BaseException as exc:
        detach(token)
        _fail(kind, span, exc)
        raise
    detach(token)
    return _finish(kind, span, result, is_async=True)


def sync_wrapper(original: Callable[..., Any], kind: CallKind) -> Callable[..., Any]:
    """``original`` traced: one span per call."""

    @functools.wraps(original)
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return original(self, *args, **kwargs)
        span = _open_span(kind, kwargs)
        if span is None:
            return original(self, *args, **kwargs)
        token = attach(set_span_in_context(span))
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            detach(token)
            _fail(kind, span, exc)
            raise
        detach(token)
        return _finish(kind, span, result, is_async=False)

    traced.__spanscope_original__ = original  # type: ignore[attr-defined]
    return traced


def async_wrapper(original: Callable[..., Any], kind: CallKind) -> Callable[..., Any]:
    """``original`` (a coroutine function) traced: one span per call."""

    @functools.wraps(original)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return await original(self, *args, **kwargs)
        span = _open_span(kind, kwargs)
        if span is None:
            return await original(self, *args, **kwargs)
        token = attach(set_span_in_context(span))
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            detach(token)
            _fail(kind, span, exc)
            raise
        detach(token)
        return _finish(kind, span, result, is_async=True)

    traced.__spanscope_original__ = original  # type: ignore[attr-defined]
    return traced


def current_span_is(kind_names: frozenset[str], provider: str) -> bool:
    """Whether the current span is one of this autolog's call spans (by name and provider)."""
    span = get_current_span()
    if getattr(span, "name", None) not in kind_names:
        return False
    attributes = getattr(span, "attributes", None) or {}
    return attributes.get(PROVIDER_ATTRIBUTE) == encode(provider)


@dataclass
class Patches:
    """The methods one autolog replaced, so they can be put back exactly."""

    name: str
    _applied: list[tuple[type, str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def active(self) -> bool:
        return bool(self._applied)

    def apply(self, targets: list[tuple[type, str, CallKind, bool]],
              replacements: list[tuple[Any, str, Callable[[Any], Any]]] = ()) -> None:
        """Patch each ``(class, method name, kind, is_async)`` target, and set each
        ``(class or module, name, make)`` replacement to ``make(original)``; a no-op when
        already on."""
        with self._lock:
            if self._applied:
                return
            for owner, method, kind, is_async in targets:
                original = owner.__dict__.get(method)
                if original is None:
                    continue  # an older client without this API: nothing to trace
                wrap = async_wrapper if is_async else sync_wrapper
                setattr(owner, method, wrap(original, kind))
                self._applied.append((owner, method, original))
            for owner, name, make in replacements:
                original = owner.__dict__.get(name)
                if original is not None:
                    setattr(owner, name, make(original))
                    self._applied.append((owner, name, original))

    def restore(self) -> None:
        """Put every original method back (the same objects), newest patch first."""
        with self._lock:
            while self._applied:
                owner, method, original = self._applied.pop()
                setattr(owner, method, original)
