"""The JSON codec of everything that crosses HTTP between ``RestStore`` and the server.

One module, used by both ends, so the two can never disagree on a shape:

- entities travel as their ``to_dict()`` (traces as the trace JSON, assessments, runs,
  datasets and their records as MLflow-shaped dicts); ``encode(value)`` and
  ``decode(type, data)`` do it for any value, including lists, tuples, optional values
  and the aggregate dataclasses of ``store/aggregates.py`` (as ``{field: value}``);
- ``encode_page`` / ``decode_page``: a ``PagedList`` as ``{KEY: [...], "next_page_token"}``;
- ``encode_changes`` / ``decode_changes``: the keyword arguments of ``update_assessment``,
  where an absent key is ``UNSET`` ("leave it") and ``null`` is ``None`` ("clear it");
- ``encode_aggregate_call`` / ``decode_aggregate_call`` / ``AGGREGATES``: the body of
  ``POST /api/aggregates/{name}`` and the type of its result;
- ``error_response`` / ``error_from_response``: a ``SpanscopeError`` as
  ``{"error_code", "message", ...}`` with its HTTP status and headers, and back.

JSON has no NaN or infinity: floats of aggregates and metrics travel as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (as protobuf JSON writes them), and ``dumps``
writes any other non-finite float as ``null`` rather than emit invalid JSON.

Decoding never trusts its input: malformed data raises ``InvalidInputError`` naming what
was wrong (the server answers 400), never ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
    Highlight,
    PagedList,
    Trace,
)
from spanscope.entities.dataset import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
)
from spanscope.entities.run import Metric, Run, RunData, RunInfo
from spanscope.exceptions import (
    FilterError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RequestTooLargeError,
    SpanscopeError,
    StorageFullError,
    StoreError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from spanscope.store import aggregates as agg
from spanscope.store.artifacts import FileInfo
from spanscope.store.mutations import UNSET

__all__ = [
    "AGGREGATES",
    "CHANGE_FIELDS",
    "ERROR_STATUS",
    "decode",
    "decode_aggregate_call",
    "decode_aggregate_result",
    "decode_changes",
    "decode_page",
    "dumps",
    "encode",
    "encode_aggregate_call",
    "encode_changes",
    "encode_page",
    "error_from_response",
    "error_response",
    "loads",
]

T = TypeVar("T")

# error_code -> HTTP status (the brief's table; the server answers with these).
ERROR_STATUS: dict[str, int] = {
    "BAD_FILTER": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_EXHAUSTED": 429,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INSUFFICIENT_STORAGE": 507,
    "INTERNAL_ERROR": 500,
}


# --- JSON text ------------------------------------------------------------------------------
def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON text of already-encoded data (non-finite floats become null)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """Parse a JSON body; ``InvalidInputError`` if it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from None


# --- floats that JSON cannot hold ---------------------------------------------------------------
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _decode_float(data: Any, what: str) -> float:
    if isinstance(data, str) and data in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[data]
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise InvalidInputError(f"{what} must be a number, got {data!r:.80}")
    return float(data)


# --- entities: explicit codecs ----------------------------------------------------------------
def _experiment_to(e: Experiment) -> dict[str, Any]:
    return {"experiment_id": e.experiment_id, "name": e.name,
            "creation_time": e.creation_time, "tags": dict(e.tags)}


def _experiment_from(d: dict[str, Any]) -> Experiment:
    return Experiment(experiment_id=str(d["experiment_id"]), name=_str(d["name"], "name"),
                      creation_time=int(d.get("creation_time") or 0),
                      tags=_str_dict(d.get("tags"), "tags"))


def _metric_to(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": _encode_float(m.value), "timestamp": m.timestamp,
            "step": m.step}


def _metric_from(d: dict[str, Any]) -> Metric:
    return Metric(key=_str(d["key"], "metric key"),
                  value=_decode_float(d["value"], "metric value"),
                  timestamp=_int(d["timestamp"], "metric timestamp"),
                  step=_int(d.get("step", 0), "metric step"))


_RUN_INFO_FIELDS = [f.name for f in dataclasses.fields(RunInfo)]


def _run_info_from(d: dict[str, Any]) -> RunInfo:
    values = {k: d[k] for k in _RUN_INFO_FIELDS if k in d}
    if "run_id" not in values and "run_uuid" in d:
        values["run_id"] = d["run_uuid"]
    if "run_id" not in values or "experiment_id" not in values:
        raise InvalidInputError("a run info needs run_id and experiment_id")
    values["run_id"] = str(values["run_id"])
    values["experiment_id"] = str(values["experiment_id"])
    return RunInfo(**values)


def _run_data_from(d: dict[str, Any]) -> RunData:
    metrics = d.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise InvalidInputError("run metrics must be an object")
    return RunData(params=_str_dict(d.get("params"), "params"),
                   metrics={str(k): _decode_float(v, f"metric {k!r}")
                            for k, v in metrics.items()},
                   tags=_str_dict(d.get("tags"), "tags"))


def _run_to(r: Run) -> dict[str, Any]:
    return {"info": r.info.to_dict(),
            "data": {"params": dict(r.data.params),
                     "metrics": {k: _encode_float(v) for k, v in r.data.metrics.items()},
                     "tags": dict(r.data.tags)}}


def _run_from(d: dict[str, Any]) -> Run:
    return Run(info=_run_info_from(_object(d["info"], "run info")),
               data=_run_data_from(_object(d.get("data") or {}, "run data")))


def _dataset_from(d: dict[str, Any]) -> Dataset:
    names = {f.name for f in dataclasses.fields(Dataset)}
    values = {k: v for k, v in d.items() if k in names}
    values["experiment_ids"] = [str(e) for e in values.get("experiment_ids") or []]
    values["tags"] = _str_dict(values.get("tags"), "tags")
    return Dataset(**values)


def _record_to(r: DatasetRecord) -> dict[str, Any]:
    return {**r.to_dict(), "seq": r.seq}


def _record_from(d: dict[str, Any]) -> DatasetRecord:
    names = {f.name for f in dataclasses.fields(DatasetRecord)}
    return DatasetRecord(**{k: v for k, v in d.items() if k in names})


def _version_from(d: dict[str, Any]) -> DatasetVersion:
    names = {f.name for f in dataclasses.fields(DatasetVersion)}
    return DatasetVersion(**{k: v for k, v in d.items() if k in names})


def _merge_to(m: MergeResult) -> dict[str, Any]:
    return {"dataset": m.dataset.to_dict(), "inserted": m.inserted, "updated": m.updated,
            "unchanged": m.unchanged}


def _merge_from(d: dict[str, Any]) -> MergeResult:
    return MergeResult(dataset=_dataset_from(_object(d["dataset"], "dataset")),
                       inserted=_int(d["inserted"], "inserted"),
                       updated=_int(d["updated"], "updated"),
                       unchanged=_int(d.get("unchanged", 0), "unchanged"))


def _record_update_to(u: RecordUpdate) -> dict[str, Any]:
    return {"inputs": u.inputs, "expectations": u.expectations, "outputs": u.outputs,
            "tags": u.tags, "source": u.source, "source_trace_id": u.source_trace_id}


def _record_update_from(d: dict[str, Any]) -> RecordUpdate:
    inputs = d.get("inputs")
    if not isinstance(inputs, dict):
        raise InvalidInputError(f"a record needs 'inputs' as an object, got {inputs!r:.80}")
    names = {f.name for f in dataclasses.fields(RecordUpdate)}
    unknown = set(d) - names
    if unknown:
        raise InvalidInputError(f"unknown record field(s): {', '.join(sorted(unknown))}")
    return RecordUpdate(**d)


def _file_info_to(f: FileInfo) -> dict[str, Any]:
    return {"path": f.path, "is_dir": f.is_dir, "size": f.file_size}


def _file_info_from(d: dict[str, Any]) -> FileInfo:
    return FileInfo(path=_str(d["path"], "path"), is_dir=bool(d.get("is_dir")),
                    file_size=d.get("size"))


def _trace_from(d: dict[str, Any]) -> Trace:
    if not isinstance(d.get("info"), dict):
        raise InvalidInputError("a trace needs an 'info' object (the trace JSON)")
    return Trace.from_dict(d)


def _assessment_from(d: dict[str, Any]) -> Assessment:
    return Assessment.from_dict(d)


_Codec = tuple[Callable[[Any], Any], Callable[[dict[str, Any]], Any]]
# Types with an explicit codec; Assessment covers Feedback and Expectation (subclasses).
_CODECS: dict[type, _Codec] = {
    Trace: (Trace.to_dict, _trace_from),
    Assessment: (Assessment.to_dict, _assessment_from),
    AssessmentSource: (AssessmentSource.to_dict, AssessmentSource.from_dict),
    AssessmentError: (AssessmentError.to_dict, AssessmentError.from_dict),
    Experiment: (_experiment_to, _experiment_from),
    Metric: (_metric_to, _metric_from),
    RunInfo: (RunInfo.to_dict, _run_info_from),
    Run: (_run_to, _run_from),
    Dataset: (Dataset.to_dict, _dataset_from),
    DatasetRecord: (_record_to, _record_from),
    DatasetVersion: (DatasetVersion.to_dict, _version_from),
    MergeResult: (_merge_to, _merge_from),
    RecordUpdate: (_record_update_to, _record_update_from),
    FileInfo: (_file_info_to, _file_info_from),
}


def _codec_of(cls: type) -> _Codec | None:
    for klass in cls.__mro__:
        codec = _CODECS.get(klass)
        if codec is not None:
            return codec
    return None


# --- small checks -------------------------------------------------------------------------
def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{what} must be a JSON object, got {data!r:.80}")
    return data


def _str(data: Any, what: str) -> str:
    if not isinstance(data, str):
        raise InvalidInputError(f"{what} must be a string, got {data!r:.80}")
    return data


def _int(data: Any, what: str) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        raise InvalidInputError(f"{what} must be an integer, got {data!r:.80}")
    return data


def _str_dict(data: Any, what: str) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"{what} must be an object of strings, got {data!r:.80}")
    return {str(k): str(v) for k, v in data.items()}


# --- encode / decode ------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """JSON data for ``value``: an entity, an aggregate dataclass, or containers of them."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return _encode_float(value)
    codec = _codec_of(type(value))
    if codec is not None:
        return codec[0](value)
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if value is UNSET:
        raise InvalidInputError("UNSET has no JSON form; leave the key out instead")
    return value  # str enums and other plain JSON values


def decode(tp: Any, data: Any, what: str = "value") -> Any:
    """``data`` (JSON) read as type ``tp`` (a class or a typing form such as
    ``list[Trace]`` or ``GroupKey | None``); ``InvalidInputError`` when it does not fit."""
    try:
        return _decode(tp, data, what)
    except SpanscopeError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InvalidInputError(f"bad {what}: {detail}") from None


def _decode(tp: Any, data: Any, what: str) -> Any:
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        concrete = [o for o in options if o is not type(None)]
        if len(concrete) == 1:
            return _decode(concrete[0], data, what)
        for option in concrete:  # first that fits
            try:
                return _decode(option, data, what)
            except (SpanscopeError, KeyError, TypeError, ValueError, AttributeError):
                continue
        raise InvalidInputError(f"{what}: {data!r:.80} fits none of {tp}")
    if origin is Literal:
        if data not in typing.get_args(tp):
            raise InvalidInputError(f"{what} must be one of {typing.get_args(tp)}, "
                                    f"got {data!r:.80}")
        return data
    if origin in (list, Sequence, tuple):
        if not isinstance(data, list):
            raise InvalidInputError(f"{what} must be a list, got {data!r:.80}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        items = [_decode(item, v, f"{what}[{i}]") for i, v in enumerate(data)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        _, value_type = typing.get_args(tp) or (str, Any)
        return {str(k): _decode(value_type, v, f"{what}.{k}")
                for k, v in _object(data, what).items()}
    if tp is type(None):
        if data is not None:
            raise InvalidInputError(f"{what} must be null, got {data!r:.80}")
        return None
    if tp is bool:
        if not isinstance(data, bool):
            raise InvalidInputError(f"{what} must be true or false, got {data!r:.80}")
        return data
    if tp is int:
        return _int(data, what)
    if tp is float:
        return _decode_float(data, what)
    if tp is str:
        return _str(data, what)
    if isinstance(tp, type):
        codec = _codec_of(tp)
        if codec is not None:
            return codec[1](_object(data, what))
        if dataclasses.is_dataclass(tp):
            return _decode_dataclass(tp, _object(data, what), what)
    raise InvalidInputError(f"{what}: no JSON codec for {tp!r}")


def _decode_dataclass(cls: type[T], data: dict[str, Any], what: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise InvalidInputError(f"{what}: unknown field(s) {', '.join(sorted(unknown))} "
                                f"for {cls.__name__}")
    values = {name: _decode(hints[name], data[name], f"{what}.{name}")
              for name in fields if name in data}
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise InvalidInputError(f"{what}: {cls.__name__} needs {', '.join(missing)}")
    return cls(**values)


# --- pages ----------------------------------------------------------------------------------
def encode_page(page: Sequence[Any], key: str) -> dict[str, Any]:
    """``{key: [items], "next_page_token": token}`` for a ``PagedList``."""
    body = {key: [encode(item) for item in page],
            "next_page_token": getattr(page, "token", None)}
    highlights = getattr(page, "highlights", None)
    if highlights:
        body["highlights"] = {trace_id: [h.to_dict() for h in found]
                              for trace_id, found in highlights.items()}
    return body


def decode_page(data: Any, item_type: type[T], key: str) -> PagedList[T]:
    body = _object(data, "page")
    token = body.get("next_page_token")
    if token is not None and not isinstance(token, str):
        raise InvalidInputError(f"next_page_token must be a string, got {token!r:.80}")
    marks = _object(body.get("highlights") or {}, "highlights")
    try:
        highlights = {str(trace_id): [Highlight.from_dict(_object(h, "highlight"))
                                      for h in found] for trace_id, found in marks.items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"highlights: not a list of highlights ({exc})") from None
    return PagedList(decode(list[item_type], body.get(key) or [], key),  # type: ignore[valid-type]
                     token or None, highlights=highlights)


# --- update_assessment: UNSET vs None ---------------------------------------------------------
CHANGE_FIELDS = ("name", "value", "rationale", "metadata", "error", "source")


def encode_changes(**changes: Any) -> dict[str, Any]:
    """The PATCH body of ``update_assessment``: UNSET keys are left out, None is null."""
    unknown = set(changes) - set(CHANGE_FIELDS)
    if unknown:
        raise InvalidInputError(f"update_assessment: unknown field(s) {sorted(unknown)}")
    body: dict[str, Any] = {}
    for key, value in changes.items():
        if value is UNSET:
            continue
        if key == "error" and isinstance(value, BaseException):
            value = AssessmentError.from_exception(value)
        body[key] = encode(value)
    return body


def decode_changes(body: Any) -> dict[str, Any]:
    """Keyword arguments for ``update_assessment`` (absent keys stay UNSET by omission)."""
    body = _object(body, "assessment changes")
    unknown = set(body) - set(CHANGE_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown assessment field(s): {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(CHANGE_FIELDS)}")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "error" and value is not None:
            value = decode(AssessmentError, value, "error")
        elif key == "source" and value is not None:
            value = decode(AssessmentSource, value, "source")
        changes[key] = value
    return changes


# --- aggregate calls --------------------------------------------------------------------------
# name -> (keyword options and their types, result type)
AGGREGATES: dict[str, tuple[dict[str, Any], Any]] = {
    "trace_stats": ({"bucket_ms": int | None, "group_by": agg.GroupKey | None,
                     "quantiles": tuple[float, ...]}, list[agg.TraceStats]),
    "model_usage": ({"bucket_ms": int | None, "group_by": agg.GroupKey | None,
                     "periods": list[int]}, list[agg.ModelUsageRow]),
    "latency_histogram": ({"edges": list[float]}, list[int]),
    "span_stats": ({"quantiles": tuple[float, ...], "span_types": tuple[str, ...] | None},
                   list[agg.SpanStats]),
    "error_spans": ({}, list[agg.ErrorSpan]),
    "trace_sample": ({"sample": agg.Sample | None, "spans": bool, "assessments": bool},
                     agg.TraceSample),
    "numeric_pairs": ({"x": agg.NumericField, "y": agg.NumericField}, agg.NumericPairs),
    "assessment_stats": ({"name": str}, agg.AssessmentStats),
}


def _aggregate(name: str) -> tuple[dict[str, Any], Any]:
    try:
        return AGGREGATES[name]
    except KeyError:
        raise NotFoundError(f"unknown aggregate {name!r}; known: "
                            f"{', '.join(sorted(AGGREGATES))}") from None


def encode_aggregate_call(name: str, selection: agg.Selection, **options: Any) -> dict[str, Any]:
    """The body of ``POST /api/aggregates/{name}``."""
    known, _ = _aggregate(name)
    unknown = set(options) - set(known)
    if unknown:
        raise InvalidInputError(f"{name}: unknown option(s) {', '.join(sorted(unknown))}")
    return {"selection": encode(selection), **{k: encode(v) for k, v in options.items()}}


def decode_aggregate_call(name: str, body: Any) -> tuple[agg.Selection, dict[str, Any]]:
    """``(selection, options)`` for calling ``store.<name>(selection, **options)``."""
    known, _ = _aggregate(name)
    body = _object(body, f"{name} request")
    unknown = set(body) - set(known) - {"selection"}
    if unknown:
        raise InvalidInputError(f"{name}: unknown option(s) {', '.join(sorted(unknown))}; "
                                f"known: selection, {', '.join(known) or '(none)'}")
    selection = decode(agg.Selection, body.get("selection") or {}, "selection")
    options = {k: decode(known[k], body[k], k) for k in known if k in body}
    return selection, options


def decode_aggregate_result(name: str, data: Any) -> Any:
    return decode(_aggregate(name)[1], data, f"{name} result")


# --- errors ---------------------------------------------------------------------------------
def _retry_after_header(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def error_response(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, body, headers)`` answering a request that raised ``exc``.

    Anything that is not a ``SpanscopeError`` is an internal error whose message is not
    shown (it may hold internals); the server logs it.
    """
    body: dict[str, Any]
    headers: dict[str, str] = {}
    if isinstance(exc, FilterError):
        code = "BAD_FILTER"
        body = {"filter_string": exc.filter_string, "position": exc.position,
                "token": exc.token}
    elif isinstance(exc, RequestTooLargeError):
        code, body = "REQUEST_TOO_LARGE", {}
    elif isinstance(exc, InvalidInputError) or (isinstance(exc, SpanscopeError)
                                                and isinstance(exc, ValueError)):
        code, body = "INVALID_PARAMETER_VALUE", {}
    elif isinstance(exc, NotFoundError):
        code, body = "RESOURCE_DOES_NOT_EXIST", {}
    elif isinstance(exc, UnauthenticatedError):
        code, body = "UNAUTHENTICATED", {}
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, PermissionDeniedError):
        code, body = "PERMISSION_DENIED", {}
    elif isinstance(exc, StoreUnavailableError):
        code = "TEMPORARILY_UNAVAILABLE"
        body = {"retry_after": exc.retry_after}
        headers.update(_retry_after_header(exc.retry_after))
    elif isinstance(exc, StorageFullError):
        code, body = "INSUFFICIENT_STORAGE", {"storage": exc.storage}
    elif isinstance(exc, SpanscopeError):
        code, body = "INTERNAL_ERROR", {}
    else:
        return 500, {"error_code": "INTERNAL_ERROR",
                     "message": f"internal error ({type(exc).__name__})"}, {}
    return ERROR_STATUS[code], {"error_code": code, "message": str(exc), **body}, headers


def _retry_after(headers: Mapping[str, str], body: Mapping[str, Any]) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date) or the body."""
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            from email.utils import parsedate_to_datetime
            try:
                import time
                return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    value = body.get("retry_after")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def error_from_response(status: int, body: Any,
                        headers: Mapping[str, str] | None = None) -> SpanscopeError:
    """The exception a client raises for an error response (by ``error_code``, else by
    status); the server's message is kept as is."""
    headers = headers or {}
    body = body if isinstance(body, dict) else {}
    code = body.get("error_code")
    if code not in ERROR_STATUS:
        code = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED",
                403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
                413: "REQUEST_TOO_LARGE", 422: "INVALID_PARAMETER_VALUE",
                429: "RESOURCE_EXHAUSTED", 503: "TEMPORARILY_UNAVAILABLE",
                502: "TEMPORARILY_UNAVAILABLE", 504: "TEMPORARILY_UNAVAILABLE",
                507: "INSUFFICIENT_STORAGE"}.get(status, "INTERNAL_ERROR")
    message = body.get("message")
    if not isinstance(message, str) or not message:
        message = f"the tracking server answered HTTP {status} ({code})"
    if code == "BAD_FILTER":
        position = body.get("position")
        token = body.get("token")
        return FilterError(message, filter_string=str(body.get("filter_string") or ""),
                           position=position if isinstance(position, int) else None,
                           token=token if isinstance(token, str) else None)
    if code == "INVALID_PARAMETER_VALUE":
        return InvalidInputError(message)
    if code == "RESOURCE_DOES_NOT_EXIST":
        return NotFoundError(message)
    if code == "UNAUTHENTICATED":
        return UnauthenticatedError(message)
    if code == "PERMISSION_DENIED":
        return PermissionDeniedError(message)
    if code == "REQUEST_TOO_LARGE":
        return RequestTooLargeError(message)
    if code in ("RESOURCE_EXHAUSTED", "TEMPORARILY_UNAVAILABLE"):
        return StoreUnavailableError(message, retry_after=_retry_after(headers, body))
    if code == "INSUFFICIENT_STORAGE":
        storage = body.get("storage")
        return StorageFullError(message, storage=storage if isinstance(storage, dict) else None)
    return StoreError(message)
