"""The span a user holds while it runs (``LiveSpan``) and its disabled twin (``NoOpSpan``).

A ``LiveSpan`` is a thin view over an OpenTelemetry SDK span: all state lives in the OTel
span, so a view can be made at any time (``get_current_active_span``) and every other
OTel processor sees the same data. Attribute values are stored JSON-encoded, as the trace
JSON keeps them (``mlflow.spanInputs`` is the JSON text of the inputs).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import traceback
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Status, StatusCode

from spanscope.entities import SpanAttributeKey, SpanEvent, SpanStatus, SpanStatusCode
from spanscope.entities._codec import dumps, loads_attribute, remember_canonical
from spanscope.entities.limits import fix_surrogates, unserialisable_marker, valid_unicode
from spanscope.tracing._state import STATE, log_once

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Span as OTelSpan

__all__ = ["JSON_KEYS_ATTRIBUTE", "SCOPE_NAME", "LiveSpan", "NoOpSpan", "attribute_items", "encode",
           "encode_payload", "safe_key"]

logger = logging.getLogger(__name__)

SCOPE_NAME = "spanscope"  # instrumentation scope of spans made by this SDK
# On spans made by other instrumentations, the keys a LiveSpan wrote already JSON-encoded.
JSON_KEYS_ATTRIBUTE = "spanscope.jsonKeys"

_OTEL_CODES = {SpanStatusCode.OK: StatusCode.OK, SpanStatusCode.ERROR: StatusCode.ERROR,
               SpanStatusCode.UNSET: StatusCode.UNSET}


def _refuse(obj: Any) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


# json.dumps(value, ensure_ascii=False) builds an encoder per call. On the decorator's hot
# path we call the C encoder json.dumps itself uses, made once, and short-cut the common
# scalars; the output is byte-identical. (No circular-reference markers: a circular value
# hits the recursion limit instead and takes the slow path below.)
_c_encoder = c_make_encoder(None, _refuse, encode_basestring, None, ": ", ", ", False, False,
                            True) if c_make_encoder is not None else None
_py_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def encode(value: Any) -> str:
    """JSON text of ``value``; never raises.

    Parts JSON cannot encode become their ``repr``; a value that cannot be represented at
    all (its ``__repr__``, ``__iter__``, ``__eq__``... raise) becomes an explicit marker
    naming its type and the error, counted in ``get_export_stats()`` and logged once per
    type. The text is always valid UTF-8 (lone surrogates are escaped).
    """
    return _encode(value, payload=False)


def encode_payload(value: Any) -> str:
    """``encode`` for span inputs and outputs: the JSON text of a container of plain JSON
    values with string keys is registered (``remember_canonical``) as decoding and
    encoding to itself, so the text index need not do that work again."""
    return _encode(value, payload=True)


# How JSON writes a dict key that is no ``str`` (an int, float, bool or None): such a key
# may come out as another key does (``{1: "a", "1": "b"}``), and decoding keeps only the
# last, so the text is not its value's JSON any more. Any match (even a string key that
# merely looks so) keeps a text from being registered. Searched in the reversed text, where
# the pattern starts with a literal the regex engine finds fast: ``"KEY": `` read backwards.
_LITERAL_KEY_REVERSED = re.compile(r' :"(?:[\d.e+-]*\d-?|eurt|eslaf|llun|NaN|ytinifnI-?)"')


def _encode(value: Any, *, payload: bool) -> str:
    cls = value.__class__
    try:
        if cls is str:
            text = encode_basestring(value)
        elif cls is int:
            return int.__repr__(value)  # (ValueError past Python's digit limit, as json's)
        elif value is None:
            return "null"
        elif _c_encoder is not None:
            text = "".join(_c_encoder(value, 0))
        else:
            text = _py_encode(value)
        if not (text.isascii() or valid_unicode(text)):
            return _ascii_encode(value)
    except Exception:
        return _encode_slow(value)
    # What the C encoder wrote without a ``default`` holds only JSON values (subclasses of
    # str, int, float, list and tuple come out as their base values), so it decodes to a
    # value whose JSON is this text again, unless two keys came out alike.
    if (payload and (cls is dict or cls is list or cls is tuple)
            and not _LITERAL_KEY_REVERSED.search(text[::-1])):
        remember_canonical(text)
    return text


def _encode_slow(value: Any) -> str:
    """``encode`` for values the C encoder refused: repr for odd parts, else a marker."""
    try:
        text = dumps(value)  # non-serialisable parts become their repr
        if "<unserialisable " in text:
            whole = text.startswith('"<unserialisable ')  # the value itself, not a part
            _report_unserialisable(value, json.loads(text) if whole else None)
        return text if valid_unicode(text) else _ascii_encode(json.loads(text))
    except Exception as exc:  # e.g. a circular structure, a broken __iter__
        error: BaseException = exc
    try:
        text = repr(value)
        if text.__class__ is str:
            return _ascii_encode(text)
    except Exception as exc:
        error = exc
    _report_unserialisable(value, error)
    return _ascii_encode(unserialisable_marker(value, error))


def _ascii_encode(value: Any) -> str:
    """JSON with every non-ASCII character escaped: valid even for lone surrogates."""
    try:
        return json.dumps(value, ensure_ascii=True, default=_marker_default)
    except Exception as exc:
        return json.dumps(unserialisable_marker(value, exc))


def _marker_default(obj: Any) -> str:
    return unserialisable_marker(obj, "not JSON serialisable")


def _report_unserialisable(value: Any, error: BaseException | str | None) -> None:
    """Count a value stored as a marker and log one line per type (never raises).

    ``error``: why, or the marker text itself (``<unserialisable ...>``); None when only
    parts of ``value`` became markers (they say why themselves).
    """
    try:
        STATE.unserialisable_values += 1
        name = type(value).__qualname__
        what = ("parts of a %s value as markers" if error is None
                else "a %s value as a marker") % name
        if error is None:
            marker = ""
        elif isinstance(error, str) and error.startswith("<unserialisable "):
            marker = ": " + error
        else:
            marker = ": " + unserialisable_marker(value, error)
        log_once(logger, f"encode:{name}", "Spanscope stored %s%s (counted as "
                 "unserialisable_values in get_export_stats())", what, marker,
                 exc_info=False, level=logging.WARNING)
    except Exception:
        pass


def safe_key(key: Any) -> str:
    """An attribute or event key as valid text, whatever ``key`` is; never raises."""
    if key.__class__ is str and (key.isascii() or valid_unicode(key)):
        return key
    try:
        text = str.__str__(key) if isinstance(key, str) else str(key)
        if text.__class__ is not str:
            raise TypeError("__str__ did not return a str")
        return text if valid_unicode(text) else fix_surrogates(text)
    except Exception as exc:
        _report_unserialisable(key, exc)
        return unserialisable_marker(key, exc)


def _guarded(method: Callable[..., None]) -> Callable[..., None]:
    """A ``LiveSpan`` writer that never raises into the app: a failure is logged once."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception:
            log_once(logger, f"live_span.{name}", "Spanscope could not %s on a span; the "
                     "call is ignored", name, level=logging.WARNING)

    return wrapper


def exception_event_attributes(exc: BaseException) -> dict[str, str]:
    """The attributes of an ``exception`` event, as MLflow writes them."""
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        stack = stack if valid_unicode(stack) else fix_surrogates(stack)
    except Exception:  # a broken __str__ in a user exception must not escape
        stack = ""
    return {"exception.type": type(exc).__name__, "exception.message": _safe_str(exc),
            "exception.stacktrace": stack}


def _safe_str(exc: BaseException) -> str:
    try:
        text = str(exc)
        return text if valid_unicode(text) else fix_surrogates(text)
    except Exception:
        return repr(type(exc))


def record_exception(span: OTelSpan, exc: BaseException) -> None:
    """Mark ``span`` ERROR and attach an ``exception`` event describing ``exc``."""
    span.add_event("exception", exception_event_attributes(exc))
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {_safe_str(exc)}"))


def _event_value(value: Any) -> Any:
    """OTel event attributes take primitives only; anything else is kept as JSON text."""
    cls = value.__class__
    if cls is bool or cls is float or (cls is int and -2**63 <= value < 2**63):
        return value
    if cls is str and (value.isascii() or valid_unicode(value)):
        return value
    return encode(value)


def attribute_items(mapping: Any) -> list[tuple[Any, Any]]:
    """The pairs of a dict-like argument; anything else is reported and taken as empty."""
    if mapping is None:
        return []
    try:
        return list(mapping.items())
    except Exception as exc:
        _report_unserialisable(mapping, f"expected a dict of attributes ({exc})")
        return []


class LiveSpan:
    """A running span: record inputs, outputs, attributes, events and status on it."""

    __slots__ = ("_foreign", "_span")

    def __init__(self, otel_span: OTelSpan) -> None:
        self._span = otel_span
        scope = getattr(otel_span, "instrumentation_scope", None)
        self._foreign = scope is None or scope.name != SCOPE_NAME

    # --- identity ---------------------------------------------------------------------
    @property
    def span_id(self) -> str:
        return format(self._span.get_span_context().span_id, "016x")

    @property
    def trace_id(self) -> str:
        return "tr-" + format(self._span.get_span_context().trace_id, "032x")

    @property
    def request_id(self) -> str:
        """MLflow 2 name of ``trace_id``."""
        return self.trace_id

    @property
    def parent_id(self) -> str | None:
        parent = self._span.parent
        if parent is None or parent.is_remote:
            return None
        return format(parent.span_id, "016x")

    @property
    def name(self) -> str:
        return self._span.name

    @property
    def start_time_ns(self) -> int | None:
        return self._span.start_time

    @property
    def end_time_ns(self) -> int | None:
        return self._span.end_time

    @property
    def status(self) -> SpanStatus:
        status = self._span.status
        return SpanStatus(SpanStatusCode(status.status_code.name), status.description or "")

    # --- reading back -----------------------------------------------------------------
    def get_attribute(self, key: str) -> Any:
        value = (self._span.attributes or {}).get(key)
        return loads_attribute(value) if isinstance(value, str) else value

    @property
    def inputs(self) -> Any:
        return self.get_attribute(SpanAttributeKey.INPUTS)

    @property
    def outputs(self) -> Any:
        return self.get_attribute(SpanAttributeKey.OUTPUTS)

    @property
    def span_type(self) -> str | None:
        return self.get_attribute(SpanAttributeKey.SPAN_TYPE)

    @property
    def attributes(self) -> dict[str, Any]:
        return {key: self.get_attribute(key) for key in (self._span.attributes or {})
                if key != JSON_KEYS_ATTRIBUTE}

    # --- writing ----------------------------------------------------------------------
    def _set_encoded(self, items: dict[str, str]) -> None:
        if self._foreign:  # remember which values are already JSON (see convert.py)
            known = tuple((self._span.attributes or {}).get(JSON_KEYS_ATTRIBUTE) or ())
            items = {**items, JSON_KEYS_ATTRIBUTE: known + tuple(k for k in items
                                                                 if k not in known)}
        self._span.set_attributes(items)

    # Every writer below is guarded: no value, however hostile, raises into the app.
    @_guarded
    def set_inputs(self, inputs: Any) -> None:
        self._set_encoded({SpanAttributeKey.INPUTS: encode_payload(inputs)})

    @_guarded
    def set_outputs(self, outputs: Any) -> None:
        self._set_encoded({SpanAttributeKey.OUTPUTS: encode_payload(outputs)})

    @_guarded
    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute; any JSON-serialisable value (dicts and lists too)."""
        self._set_encoded({safe_key(key): encode(value)})

    @_guarded
    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self._set_encoded({safe_key(k): encode(v) for k, v in attribute_items(attributes)})

    @_guarded
    def set_span_type(self, span_type: str) -> None:
        self._set_encoded({SpanAttributeKey.SPAN_TYPE: encode(safe_key(span_type))})

    @_guarded
    def set_status(self, status: str | SpanStatusCode | SpanStatus,
                   description: str = "") -> None:
        """Set ``OK``, ``ERROR`` (or ``UNSET``); as in OpenTelemetry, ``OK`` is final.

        An unknown status (``"WHATEVER"``) is ignored with one logged warning.
        """
        if isinstance(status, SpanStatus):
            status, description = status.status_code, description or status.description
        try:
            code = _OTEL_CODES[SpanStatusCode.parse(safe_key(status))]
        except ValueError:
            log_once(logger, "live_span.set_status.unknown", "span.set_status(%r): not a "
                     "status (use OK, ERROR or UNSET); ignored", safe_key(status),
                     exc_info=False, level=logging.WARNING)
            return
        if code is StatusCode.ERROR:
            self._span.set_status(Status(code, safe_key(description or "") or None))
        else:
            self._span.set_status(Status(code))

    @_guarded
    def add_event(self, event: SpanEvent | str, attributes: dict[str, Any] | None = None,
                  timestamp_ns: int | None = None) -> None:
        """Add an event (a ``SpanEvent`` or a name with attributes) at its time or now."""
        if isinstance(event, SpanEvent):
            name, attributes, timestamp_ns = event.name, event.attributes, event.timestamp_ns
        else:
            name = safe_key(event)
        values = {safe_key(k): _event_value(v) for k, v in attribute_items(attributes)}
        if timestamp_ns is not None and (timestamp_ns.__class__ is not int
                                         or not 0 <= timestamp_ns < 2**63):
            timestamp_ns = None
        self._span.add_event(safe_key(name), values, timestamp_ns or time.time_ns())

    @_guarded
    def record_exception(self, exception: BaseException | str) -> None:
        """Add an ``exception`` event and mark the span ERROR."""
        if isinstance(exception, BaseException):
            record_exception(self._span, exception)
        else:
            message = safe_key(exception)
            self._span.add_event("exception", {"exception.message": message})
            self._span.set_status(Status(StatusCode.ERROR, message))

    @_guarded
    def end(self) -> None:
        """End the span now (OK unless a status was set); later calls do nothing."""
        if self._span.end_time is None:
            self._span.end()  # UNSET status: a Spanscope span is stored as OK

    def __repr__(self) -> str:
        return f"LiveSpan(name={self.name!r}, span_id={self.span_id!r}, trace_id={self.trace_id!r})"


class NoOpSpan:
    """What tracing returns when it is disabled or the trace was sampled out: does nothing."""

    __slots__ = ()

    span_id = None
    trace_id = None
    request_id = None
    parent_id = None
    name = ""
    start_time_ns = None
    end_time_ns = None
    inputs = None
    outputs = None
    span_type = None
    status = SpanStatus()

    @property
    def attributes(self) -> dict[str, Any]:
        return {}

    def get_attribute(self, key: str) -> Any:
        return None

    def set_inputs(self, inputs: Any) -> None:
        pass

    def set_outputs(self, outputs: Any) -> None:
        pass

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        pass

    def set_span_type(self, span_type: str) -> None:
        pass

    def set_status(self, status: Any, description: str = "") -> None:
        pass

    def add_event(self, event: Any, attributes: dict[str, Any] | None = None,
                  timestamp_ns: int | None = None) -> None:
        pass

    def record_exception(self, exception: BaseException | str) -> None:
        pass

    def end(self) -> None:
        pass

    def __repr__(self) -> str:
        return "NoOpSpan()"


NO_OP_SPAN = NoOpSpan()
