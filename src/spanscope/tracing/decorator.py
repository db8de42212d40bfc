"""``@trace``: record a function call as a span (sync, async, generators, async generators).

This is the hottest code in Spanscope: it runs on every traced call of the user's app.
Per call it does one OTel ``start_span``, one dict of attributes (inputs bound by
parameter name, JSON-encoded), a context attach/detach and the outputs; signatures are
inspected once per function. Every SDK step is guarded: whatever goes wrong inside
Spanscope is logged once and the user's function still runs, returns and raises exactly
as without tracing (the same exception object, traceback intact).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from opentelemetry.context import attach, detach
from opentelemetry.trace import set_span_in_context

from spanscope.entities import SpanAttributeKey, SpanType
from spanscope.tracing._state import STATE, get_tracer, log_once
from spanscope.tracing.live_span import (
    attribute_items,
    encode,
    encode_payload,
    record_exception,
    safe_key,
)

__all__ = ["trace"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_INPUTS = SpanAttributeKey.INPUTS
_OUTPUTS = SpanAttributeKey.OUTPUTS
_SIMPLE_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class _Binder:
    """Map a call's arguments to parameter names, defaults applied, ``self``/``cls`` left out.

    ``inspect.signature`` runs once, on the first call. Functions whose parameters are all
    plain positional ones (the common case) are bound with a ``zip``; anything else goes
    through ``Signature.bind``.
    """

    __slots__ = ("_defaults", "_fn", "_names", "_ready", "_rest", "_sig", "_skip")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._ready = False

    def _prepare(self) -> None:
        try:
            self._sig: inspect.Signature | None = inspect.signature(self._fn)
        except (TypeError, ValueError):  # builtins and C callables may have none
            self._sig = None
        params = list(self._sig.parameters.values()) if self._sig else []
        self._skip = bool(params) and params[0].name in ("self", "cls") and \
            params[0].kind in _SIMPLE_KINDS
        simple = self._sig is not None and all(p.kind in _SIMPLE_KINDS for p in params)
        self._names: tuple[str, ...] | None = tuple(p.name for p in params) if simple else None
        self._rest = self._names[1:] if self._names is not None and self._skip else self._names
        self._defaults = {p.name: p.default for p in params
                          if p.default is not inspect.Parameter.empty}
        self._ready = True

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if not self._ready:
            self._prepare()
        names = self._names
        if names is not None and not kwargs and len(args) == len(names):
            if self._skip:
                return dict(zip(self._rest, args[1:], strict=True))
            return dict(zip(names, args, strict=True))
        return self._bind_general(args, kwargs)

    def _bind_general(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self._names
        if names is not None and len(args) <= len(names):
            given = dict(zip(names, args, strict=False))  # args may be fewer
            for key, value in kwargs.items():
                if key in given or key not in names:
                    return self._bind_inspect(args, kwargs)
                given[key] = value
            bound: dict[str, Any] = {}
            for name in self._rest or ():
                if name in given:
                    bound[name] = given[name]
                elif name in self._defaults:
                    bound[name] = self._defaults[name]
                else:  # missing argument: the call itself will raise
                    return self._bind_inspect(args, kwargs)
            return bound
        return self._bind_inspect(args, kwargs)

    def _bind_inspect(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._skip:
            first = next(iter(self._sig.parameters)) if self._sig else None
            if args:
                args = args[1:]
            kwargs = {k: v for k, v in kwargs.items() if k != first}
        try:
            if self._sig is None:
                raise TypeError("no signature")
            sig = self._sig
            if self._skip:
                sig = sig.replace(parameters=list(sig.parameters.values())[1:])
            bound = sig.bind(*args, **kwargs)
        except TypeError:  # the call does not fit the signature: record what was passed
            return {"args": list(args), "kwargs": dict(kwargs)}
        bound.apply_defaults()
        return dict(bound.arguments)


def _start(name: str, base: dict[str, str], binder: _Binder, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> Any:
    """Start a span (not yet current) carrying the static attributes and the inputs."""
    span = (STATE.tracer or get_tracer()).start_span(name)
    if span.is_recording():
        attributes = base.copy()
        try:
            inputs = binder.bind(args, kwargs)
        except Exception:  # a hostile argument (e.g. an __eq__ that raises): record as passed
            inputs = {"args": list(args), "kwargs": dict(kwargs)}
        attributes[_INPUTS] = encode_payload(inputs)
        span.set_attributes(attributes)
    return span


def _finish_ok(span: Any, outputs: Any) -> None:
    # The status stays UNSET, as OpenTelemetry instrumentations leave a success;
    # conversion reads an UNSET Spanscope span as OK (one call less per span).
    try:
        if span.is_recording():
            span.set_attribute(_OUTPUTS, encode_payload(outputs))
            span.end()
    except Exception:
        log_once(logger, "decorator.finish", "Spanscope could not end a span")


def _finish_error(span: Any, exc: BaseException) -> None:
    try:
        if span.is_recording():
            record_exception(span, exc)
            span.end()
    except Exception:
        log_once(logger, "decorator.finish", "Spanscope could not end a span")


def _safe_detach(token: Any) -> None:
    try:
        detach(token)
    except Exception:
        log_once(logger, "decorator.detach", "Spanscope could not restore the context")


@overload
def trace(func: F) -> F: ...


@overload
def trace(func: None = None, *, name: str | None = None, span_type: str = SpanType.UNKNOWN,
          attributes: dict[str, Any] | None = None) -> Callable[[F], F]: ...


def trace(func: Callable[..., Any] | None = None, *, name: str | None = None,
          span_type: str = SpanType.UNKNOWN,
          attributes: dict[str, Any] | None = None) -> Any:
    """Record each call of the decorated function as a span.

    Use bare (``@trace``) or with options (``@trace(name=..., span_type=...,
    attributes=...)``) on functions, methods, ``async`` functions, generators and async
    generators. Inputs are the bound arguments by parameter name with defaults applied
    (``self``/``cls`` left out); outputs are the return value, or the list of yielded
    items for a generator (whose span stays open until it is exhausted or closed).
    """
    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))
        return _wrap(fn, name, span_type, attributes)

    return decorate if func is None else decorate(func)


def _wrap(fn: Callable[..., Any], name: str | None, span_type: str,
          attributes: dict[str, Any] | None) -> Callable[..., Any]:
    try:
        fn_name = safe_key(getattr(fn, "__name__", None) or type(fn).__name__)
    except Exception:
        fn_name = type(fn).__name__
    span_name = safe_key(name) if name else fn_name
    base = {SpanAttributeKey.SPAN_TYPE: encode(safe_key(span_type)),
            SpanAttributeKey.FUNCTION_NAME: encode(fn_name)}
    for key, value in attribute_items(attributes):
        base[safe_key(key)] = encode(value)
    binder = _Binder(fn)

    if inspect.isasyncgenfunction(fn):
        wrapper = _async_generator_wrapper(fn, span_name, base, binder)
    elif inspect.isgeneratorfunction(fn):
        wrapper = _generator_wrapper(fn, span_name, base, binder)
    elif inspect.iscoroutinefunction(fn):
        wrapper = _async_wrapper(fn, span_name, base, binder)
    else:
        wrapper = _sync_wrapper(fn, span_name, base, binder)
    with contextlib.suppress(AttributeError, TypeError):  # callables without __dict__ etc.
        functools.update_wrapper(wrapper, fn)
    return wrapper


def _sync_wrapper(fn: Callable[..., Any], span_name: str, base: dict[str, str],
                  binder: _Binder) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return fn(*args, **kwargs)
        try:
            span = _start(span_name, base, binder, args, kwargs)
            token = attach(set_span_in_context(span))
        except Exception:
            log_once(logger, "decorator.start", "Spanscope could not start a span")
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _safe_detach(token)
            _finish_error(span, exc)
            raise
        _safe_detach(token)
        _finish_ok(span, result)
        return result

    return wrapper


def _async_wrapper(fn: Callable[..., Any], span_name: str, base: dict[str, str],
                   binder: _Binder) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return await fn(*args, **kwargs)
        try:
            span = _start(span_name, base, binder, args, kwargs)
            token = attach(set_span_in_context(span))
        except Exception:
            log_once(logger, "decorator.start", "Spanscope could not start a span")
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            _safe_detach(token)
            _finish_error(span, exc)
            raise
        _safe_detach(token)
        _finish_ok(span, result)
        return result

    return wrapper


def _generator_wrapper(fn: Callable[..., Any], span_name: str, base: dict[str, str],
                       binder: _Binder) -> Callable[..., Any]:
    """The span opens at the first ``next()`` and ends when the generator is exhausted,
    raises or is closed. Only the generator's own steps run with its span current, so the
    consumer's code between items is not nested under it."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            return (yield from fn(*args, **kwargs))
        try:
            span = _start(span_name, base, binder, args, kwargs)
        except Exception:
            log_once(logger, "decorator.start", "Spanscope could not start a span")
            return (yield from fn(*args, **kwargs))
        span_context = set_span_in_context(span)
        token = attach(span_context)
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            _safe_detach(token)
            _finish_error(span, exc)
            raise
        _safe_detach(token)
        items: list[Any] = []
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = attach(span_context)
            try:
                if to_throw is not None:
                    exc_in, to_throw = to_throw, None
                    item = gen.throw(exc_in)
                else:
                    item = gen.send(to_send)
            except StopIteration as stop:
                _safe_detach(token)
                _finish_ok(span, items)
                return stop.value
            except BaseException as exc:
                _safe_detach(token)
                _finish_error(span, exc)
                raise
            _safe_detach(token)
            items.append(item)
            try:
                to_send = yield item
            except GeneratorExit:
                token = attach(span_context)
                try:
                    gen.close()
                except BaseException as exc:
                    _finish_error(span, exc)
                    raise
                finally:
                    _safe_detach(token)
                _finish_ok(span, items)
                raise
            except BaseException as exc:  # thrown in by the consumer: pass it on
                to_throw, to_send = exc, None

    return wrapper


def _async_generator_wrapper(fn: Callable[..., Any], span_name: str, base: dict[str, str],
                             binder: _Binder) -> Callable[..., Any]:
    """Like ``_generator_wrapper`` for ``async def`` generators."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not STATE.enabled:
            async for item in fn(*args, **kwargs):
                yield item
            return
        try:
            span = _start(span_name, base, binder, args, kwargs)
        except Exception:
            log_once(logger, "decorator.start", "Spanscope could not start a span")
            async for item in fn(*args, **kwargs):
                yield item
            return
        span_context = set_span_in_context(span)
        token = attach(span_context)
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            _safe_detach(token)
            _finish_error(span, exc)
            raise
        _safe_detach(token)
        items: list[Any] = []
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = attach(span_context)
            try:
                if to_throw is not None:
                    exc_in, to_throw = to_throw, None
                    item = await agen.athrow(exc_in)
                else:
                    item = await agen.asend(to_send)
            except StopAsyncIteration:
                _safe_detach(token)
                _finish_ok(span, items)
                return
            except BaseException as exc:
                _safe_detach(token)
                _finish_error(span, exc)
                raise
            _safe_detach(token)
            items.append(item)
            try:
                to_send = yield item
            except GeneratorExit:
                token = attach(span_context)
                try:
                    await agen.aclose()
                except BaseException as exc:
                    _finish_error(span, exc)
                    raise
                finally:
                    _safe_detach(token)
                _finish_ok(span, items)
                raise
            except BaseException as exc:
                to_throw, to_send = exc, None

    return wrapper
