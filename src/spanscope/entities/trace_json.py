"""Validation of trace JSON read from outside (files, HTTP bodies, imports).

``Trace.from_dict`` trusts its input (the store and the SDK build it); text from outside
goes through ``load_trace`` / ``load_trace_dict`` first, which check the shape MLflow 3
trace JSON has (and the MLflow 2 variants ``from_dict`` accepts) and raise one exception
type, ``TraceJsonError``, naming the path of the first bad field (``info.request_time``,
``data.spans[3].status.code``). Whatever passes loads, and the loaded trace writes back
with ``to_json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spanscope.entities._codec import rfc3339_to_ms
from spanscope.entities.span import SpanStatusCode
from spanscope.entities.trace_info import TraceState
from spanscope.exceptions import TraceJsonError

if TYPE_CHECKING:
    from spanscope.entities.trace import Trace

__all__ = ["MAX_REQUEST_TIME_MS", "TraceJsonError", "check_trace_dict", "load_trace",
           "load_trace_dict"]

MAX_REQUEST_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, RFC 3339's last
MAX_NANOS = 2**63 - 1  # a signed 64-bit column, as OTLP's fixed64 read by databases
_STATES = {state.value for state in TraceState} | {"TRACE_STATUS_UNSPECIFIED"}
_SCALARS = (str, int, float, bool)


def load_trace(text: str | bytes | bytearray) -> Trace:
    """Parse and validate trace JSON text; ``TraceJsonError`` says what is wrong where."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise TraceJsonError("$", f"expected JSON text, got {type(text).__name__}")
    try:
        data = json.loads(text)
    except RecursionError:
        raise TraceJsonError("$", "nested too deeply to be a trace") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise TraceJsonError("$", f"not valid JSON ({exc})") from None
    return load_trace_dict(data)


def load_trace_dict(data: Any) -> Trace:
    """Validate a decoded trace JSON object and build the ``Trace``."""
    from spanscope.entities.trace import Trace

    check_trace_dict(data)
    try:
        return Trace.from_dict(data)
    except TraceJsonError:
        raise
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError,
            OverflowError) as exc:  # a case the checks below do not foresee
        raise TraceJsonError("$", f"cannot be read as a trace ({type(exc).__name__}: "
                                  f"{exc})") from None


def check_trace_dict(data: Any) -> None:
    """Raise ``TraceJsonError`` for the first field of ``data`` that is not trace JSON."""
    _object(data, "$")
    info = data.get("info")
    if info is None:
        raise TraceJsonError("info", "missing: a trace needs an info object")
    _object(info, "info")
    _check_info(info)
    body = data.get("data")
    if body is not None:
        _object(body, "data")
        spans = body.get("spans")
        if spans is not None:
            _list(spans, "data.spans")
            for i, span in enumerate(spans):
                _check_span(span, f"data.spans[{i}]")


# --- info ---------------------------------------------------------------------------------
def _check_info(info: dict[str, Any]) -> None:
    trace_id = info.get("trace_id") or info.get("request_id")
    if not isinstance(trace_id, str) or not trace_id:
        key = "trace_id" if "request_id" not in info else "request_id"
        raise TraceJsonError(f"info.{key}", f"expected a non-empty string, got "
                                            f"{_show(trace_id)}")
    for key in ("client_request_id", "request_preview", "response_preview"):
        _optional(info, key, str, "a string")
    for key in ("state", "status"):
        value = info.get(key)
        if value is not None and (not isinstance(value, str)
                                  or value.upper() not in _STATES):
            raise TraceJsonError(f"info.{key}", f"expected one of {', '.join(sorted(_STATES))}"
                                                f", got {_show(value)}")
    for key in ("request_time", "timestamp_ms"):
        if info.get(key) is not None:
            _check_time(info[key], f"info.{key}")
    for key in ("execution_duration_ms", "execution_time_ms"):
        value = info.get(key)
        if value is not None:
            _number(value, f"info.{key}", 0, MAX_REQUEST_TIME_MS)
    duration = info.get("execution_duration")
    if duration is not None and not (isinstance(duration, str)
                                     and _parses(duration, _proto_duration)):
        _number(duration, "info.execution_duration", 0, MAX_REQUEST_TIME_MS)
    location = info.get("trace_location")
    if location is not None:
        _object(location, "info.trace_location")
        experiment = location.get("mlflow_experiment")
        if experiment is not None:
            _object(experiment, "info.trace_location.mlflow_experiment")
            _experiment_id(experiment.get("experiment_id"),
                           "info.trace_location.mlflow_experiment.experiment_id")
    _experiment_id(info.get("experiment_id"), "info.experiment_id")
    for key in ("tags", "trace_metadata", "request_metadata"):
        if info.get(key) is not None:
            _check_pairs(info[key], f"info.{key}")
    assessments = info.get("assessments")
    if assessments is not None:
        _list(assessments, "info.assessments")
        _check_assessments(assessments)


def _check_assessments(assessments: list[Any]) -> None:
    from spanscope.entities.assessment import Assessment

    for i, item in enumerate(assessments):
        path = f"info.assessments[{i}]"
        _object(item, path)
        try:
            Assessment.from_dict(item)
        except Exception as exc:  # the assessment reader knows its own shape best
            raise TraceJsonError(path, f"not an assessment ({type(exc).__name__}: {exc})") \
                from None


def _check_time(value: Any, path: str) -> None:
    if isinstance(value, str):
        try:
            ms = rfc3339_to_ms(value)
        except (ValueError, OverflowError):
            raise TraceJsonError(path, f"expected an RFC 3339 timestamp or epoch "
                                       f"milliseconds, got {_show(value)}") from None
        if ms is None or not 0 <= ms <= MAX_REQUEST_TIME_MS:
            raise TraceJsonError(path, f"{_show(value)} is out of range (years 1970-9999)")
        return
    _number(value, path, 0, MAX_REQUEST_TIME_MS)


def _check_pairs(value: Any, path: str) -> None:
    """Tags and metadata: an object of scalars, or MLflow 2's ``[{key, value}]`` list."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, dict) or "key" not in item or "value" not in item:
                raise TraceJsonError(f"{path}[{i}]", 'expected {"key": ..., "value": ...}, '
                                                    f"got {_show(item)}")
            if not isinstance(item["key"], _SCALARS) or not isinstance(item["value"],
                                                                       _SCALARS):
                raise TraceJsonError(f"{path}[{i}]", "key and value must be strings")
        return
    _object(value, path)
    for key, item in value.items():
        if not isinstance(item, _SCALARS):
            raise TraceJsonError(f"{path}.{key}", f"expected a string, got {_show(item)}")


def _experiment_id(value: Any, path: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise TraceJsonError(path, f"expected a string, got {_show(value)}")


# --- spans --------------------------------------------------------------------------------
def _check_span(span: Any, path: str) -> None:
    _object(span, path)
    span_id = span.get("span_id")
    if not isinstance(span_id, str) or not span_id:
        raise TraceJsonError(f"{path}.span_id", f"expected a non-empty string, got "
                                                f"{_show(span_id)}")
    for key in ("trace_id", "parent_span_id", "name"):
        _optional(span, key, str, "a string", path)
    for key in ("start_time_unix_nano", "end_time_unix_nano"):
        if span.get(key) is not None:
            _nanos(span[key], f"{path}.{key}")
    status = span.get("status")
    if status is not None:
        _object(status, f"{path}.status")
        code = status.get("code")
        if code is not None and not (isinstance(code, str) and _parses(code,
                                                                       SpanStatusCode.parse)):
            raise TraceJsonError(f"{path}.status.code", "expected STATUS_CODE_OK, "
                                 f"STATUS_CODE_ERROR or STATUS_CODE_UNSET, got {_show(code)}")
        _optional(status, "message", str, "a string", f"{path}.status")
    attributes = span.get("attributes")
    if attributes is not None:
        _object(attributes, f"{path}.attributes")
    events = span.get("events")
    if events is not None:
        _list(events, f"{path}.events")
        for i, event in enumerate(events):
            where = f"{path}.events[{i}]"
            _object(event, where)
            if not isinstance(event.get("name"), str):
                raise TraceJsonError(f"{where}.name", f"expected a string, got "
                                                      f"{_show(event.get('name'))}")
            if event.get("time_unix_nano") is not None:
                _nanos(event["time_unix_nano"], f"{where}.time_unix_nano")
            if event.get("attributes") is not None:
                _object(event["attributes"], f"{where}.attributes")


def _nanos(value: Any, path: str) -> None:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    _number(value, path, 0, MAX_NANOS)


# --- small checks -------------------------------------------------------------------------
def _object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise TraceJsonError(path, f"expected an object, got {_show(value)}")


def _list(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise TraceJsonError(path, f"expected a list, got {_show(value)}")


def _optional(data: dict[str, Any], key: str, kind: type, what: str, path: str = "info") -> None:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise TraceJsonError(f"{path}.{key}", f"expected {what}, got {_show(value)}")


def _number(value: Any, path: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TraceJsonError(path, f"expected a number, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TraceJsonError(path, f"expected a finite number, got {value}")
    if not low <= value <= high:
        raise TraceJsonError(path, f"{_show(value)} is out of range ({low} to {high})")


def _parses(value: str, parse: Callable[[str], Any]) -> bool:
    try:
        parse(value)
    except (ValueError, OverflowError):
        return False
    return True


def _proto_duration(text: str) -> float:
    number = float(text[:-1]) if text.endswith("s") else float(text)
    if not math.isfinite(number) or not 0 <= number * 1000 <= MAX_REQUEST_TIME_MS:
        raise ValueError(text)
    return number


def _show(value: Any) -> str:
    """A short description of a bad value for the message."""
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"{'an object' if isinstance(value, dict) else 'a list'}"
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit
        text = "(too many digits)"
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
