"""Rules every store applies to experiments, traces, tags and deletion, written once.

The shared public methods (``store/trace_methods.py``) call these before any storage step,
so a bad argument gets the same ``InvalidInputError`` (and an unknown id the same
``NotFoundError``) whichever store holds the data. Assessments have their own rules in
``assessment_rules``, runs and datasets in ``run_rules`` and ``dataset_rules``. Pure
entity logic: no I/O, no SQLAlchemy.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from spanscope.entities import Assessment, Span, Trace, TraceInfo
from spanscope.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "ASSESSMENT_ID_LENGTH",
    "DELETE_BATCH",
    "EXPERIMENT_NAME_LENGTH",
    "KEY_LENGTH",
    "SPAN_ID_LENGTH",
    "TAG_KEY_LENGTH",
    "TAG_VALUE_LENGTH",
    "TRACE_ID_LENGTH",
    "CheckedTrace",
    "DeleteRequest",
    "check_delete",
    "check_experiment_id",
    "check_experiment_ids",
    "check_experiment_name",
    "check_filter_string",
    "check_max_results",
    "check_tag_key",
    "check_tag_value",
    "check_trace",
    "check_trace_id",
    "check_trace_ids",
    "deletion_order",
    "experiment_not_found",
    "now_ms",
    "tag_not_found",
    "trace_not_found",
    "unknown_experiment",
]

TAG_KEY_LENGTH = 250  # as MLflow limits tag keys (and the trace_tags.key column)
TAG_VALUE_LENGTH = 8000  # MLflow's tag value column size, so tags export to MLflow intact
ASSESSMENT_ID_LENGTH = 64
SPAN_ID_LENGTH = 32
TRACE_ID_LENGTH = 64
KEY_LENGTH = 250  # metadata keys, as MLflow limits them
EXPERIMENT_NAME_LENGTH = 256  # the experiments.name column
DELETE_BATCH = 1000  # traces per DELETE: short write locks, bounded statements
MAX_EXPERIMENT_ID = 2**63 - 1  # ids are 64-bit integers in every store


def now_ms() -> int:
    return int(time.time() * 1000)


# --- not found: one message per kind of thing, whichever store looked --------------------
def experiment_not_found(experiment_id: Any) -> NotFoundError:
    return NotFoundError(f"experiment '{experiment_id}' not found")


def trace_not_found(trace_id: Any) -> NotFoundError:
    return NotFoundError(f"trace {trace_id!r} not found")


def tag_not_found(trace_id: str, key: str) -> NotFoundError:
    return NotFoundError(f"tag {key!r} not found on trace {trace_id!r}")


# --- experiments and search arguments ---------------------------------------------------
def check_experiment_name(name: Any) -> str:
    """A name to create: a non-blank string of at most 256 characters, without NUL."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"experiment name must be a non-empty string, got {name!r}")
    if len(name) > EXPERIMENT_NAME_LENGTH:
        raise InvalidInputError(f"experiment name is {len(name)} characters; "
                                f"the limit is {EXPERIMENT_NAME_LENGTH}")
    if "\x00" in name:
        raise InvalidInputError(f"experiment name {name!r} contains a NUL character")
    return name


def check_experiment_id(value: Any, *, context: str = "") -> str:
    """The canonical form of an experiment id: an integer written as a string (``'0'``).

    Every store numbers experiments this way; ``5``, ``'5'`` and ``' 5 '`` name the same one.
    """
    if (type(value) is str and value.isascii() and value.isdigit() and len(value) < 19
            and (value[0] != "0" or value == "0")):
        return value  # the usual case, already canonical
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
        if abs(number) > MAX_EXPERIMENT_ID:
            raise ValueError
        return str(number)
    except ValueError:
        raise InvalidInputError(
            f"experiment id {value!r}{context} is not valid: experiment ids are integers "
            "written as strings, e.g. '0'") from None


def check_experiment_ids(experiment_ids: Any) -> list[str] | None:
    """The experiments a search reads: None (all of them) or distinct canonical ids, sorted.

    A lone string is one id, not its characters.
    """
    if experiment_ids is None:
        return None
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [experiment_ids]
    return sorted({check_experiment_id(e) for e in experiment_ids}, key=int)


def check_max_results(max_results: Any, *, optional: bool = False) -> int | None:
    """An integer >= 1 (or None when ``optional``: no limit)."""
    if max_results is None and optional:
        return None
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidInputError(f"max_results must be an integer >= 1"
                                f"{' or None' if optional else ''}, got {max_results!r}")
    return max_results


def check_filter_string(filter_string: Any) -> str | None:
    if filter_string is not None and not isinstance(filter_string, str):
        raise InvalidInputError(f"filter_string must be a string, got "
                                f"{type(filter_string).__name__}")
    return filter_string

# --- traces to write --------------------------------------------------------------------
@dataclass
class CheckedTrace:
    """A trace fit to write: ids and keys checked, duplicates folded, tag and metadata
    values strings, the experiment id canonical. What every store stores."""

    trace_id: str
    experiment_id: str
    info: TraceInfo
    spans: list[Span]
    tags: dict[str, str]
    metadata: dict[str, str]
    assessments: list[Assessment]


def _check_id(value: Any, limit: int, what: str, trace_id: str | None) -> str:
    if type(value) is str and 0 < len(value) <= limit:  # the hot path: one cheap test
        return value
    where = "" if trace_id is None else f" (trace {trace_id!r})"
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what}{where} must be a non-empty string, got {value!r}")
    raise InvalidInputError(
        f"{what} {value[:40]!r}...{where} is {len(value)} characters; the limit is {limit}")


def _string_dict(values: dict[Any, Any] | None, what: str, trace_id: str) -> dict[str, str]:
    """The dict itself when its keys fit and its values are strings (no copy), else fixed."""
    if not values:
        return {}
    limit = KEY_LENGTH
    if all(type(k) is str and 0 < len(k) <= limit and type(v) is str
           for k, v in values.items()):
        return values
    out: dict[str, str] = {}
    for key, value in values.items():
        _check_id(key, limit, f"{what} key", trace_id)
        out[key] = value if isinstance(value, str) or value is None else str(value)
    return out


def within_limits(trace: Any) -> tuple[Any, list[str]]:
    """``trace`` with every field cut or cleaned to its limit (``entities.limits``) and
    what was changed, so one bad field (a tag key over 250 characters, a NUL that
    PostgreSQL refuses) never costs the whole trace. Not a trace: returned as it is, for
    ``check_trace`` to name the mistake."""
    from spanscope.entities import Trace
    from spanscope.entities.limits import clean_trace

    if not isinstance(trace, Trace):
        return trace, []
    return clean_trace(trace)


def check_trace(trace: Any) -> CheckedTrace:
    """Validate ``trace`` for ``log_traces``; ``InvalidInputError`` names the bad field.

    A span id given twice keeps its first place and its last content; an assessment id
    given twice keeps its first copy; tag and metadata values become strings.
    """
    if not isinstance(trace, Trace):
        raise InvalidInputError(f"log_traces expects Trace objects, got {type(trace).__name__}")
    info = trace.info
    trace_id = _check_id(info.trace_id, TRACE_ID_LENGTH, "trace id", None)
    spans: dict[str, Span] = {}
    for span in trace.data.spans:
        spans[_check_id(span.span_id, SPAN_ID_LENGTH, "span id", trace_id)] = span
    assessments: dict[str, Assessment] = {}
    for assessment in info.assessments:
        _check_id(assessment.assessment_id, ASSESSMENT_ID_LENGTH, "assessment id", trace_id)
        _check_id(assessment.name, KEY_LENGTH, "assessment name", trace_id)
        assessments.setdefault(assessment.assessment_id, assessment)
    return CheckedTrace(
        trace_id=trace_id,
        experiment_id=check_experiment_id(info.experiment_id, context=f" (trace {trace_id!r})"),
        info=info,
        spans=list(spans.values()),
        tags=_string_dict(info.tags, "tag", trace_id),
        metadata=_string_dict(info.trace_metadata, "metadata", trace_id),
        assessments=list(assessments.values()),
    )


def unknown_experiment(traces: list[CheckedTrace], missing: set[str]) -> InvalidInputError:
    """The error for a batch naming experiments that do not exist: the lowest missing id,
    and the first trace of the batch in a missing experiment."""
    trace_id = next(t.trace_id for t in traces if t.experiment_id in missing)
    return InvalidInputError(
        f"experiment '{min(missing, key=int)}' does not exist (trace {trace_id!r}); "
        "create it first with create_experiment")

# --- tags -------------------------------------------------------------------------------
def check_trace_id(trace_id: Any) -> str:
    if not isinstance(trace_id, str) or not trace_id:
        raise InvalidInputError(f"trace id must be a non-empty string, got {trace_id!r}")
    return trace_id

def check_tag_key(key: Any, trace_id: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(
            f"tag key must be a non-empty string, got {key!r} (trace {trace_id!r})")
    if len(key) > TAG_KEY_LENGTH:
        raise InvalidInputError(f"tag key {key[:40]!r}... is {len(key)} characters; the limit "
                                f"is {TAG_KEY_LENGTH} (trace {trace_id!r})")
    if "\x00" in key:
        raise InvalidInputError(f"tag key {key!r} contains a NUL character (trace {trace_id!r})")
    return key


def check_tag_value(key: str, value: Any, trace_id: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"tag {key!r}: the value must be a string, got {type(value).__name__} {value!r}; "
            f"pass str(value) (trace {trace_id!r})")
    if len(value) > TAG_VALUE_LENGTH:
        raise InvalidInputError(f"tag {key!r}: the value is {len(value)} characters; the limit "
                                f"is {TAG_VALUE_LENGTH} (trace {trace_id!r})")
    if "\x00" in value:
        raise InvalidInputError(
            f"tag {key!r}: the value contains a NUL character (trace {trace_id!r})")
    return value

# --- deletion ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DeleteRequest:
    """A validated ``delete_traces`` call: by ids, or oldest first up to a time."""

    experiment_id: str
    trace_ids: list[str] | None
    max_timestamp_millis: int | None
    max_traces: int | None


def check_trace_ids(trace_ids: Any) -> list[str]:
    """Distinct ids in the given order; a lone string is one id, not its characters."""
    if isinstance(trace_ids, str):
        trace_ids = [trace_ids]
    if isinstance(trace_ids, (bytes, Mapping)) or not isinstance(trace_ids, Iterable):
        raise InvalidInputError(f"trace_ids must be a list of trace id strings, "
                                f"got {type(trace_ids).__name__}")
    out: dict[str, None] = {}
    for trace_id in trace_ids:
        if not isinstance(trace_id, str) or not trace_id:
            raise InvalidInputError(f"trace_ids must hold non-empty strings, got {trace_id!r}")
        out[trace_id] = None
    return list(out)


def _check_int(value: Any, what: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{what} must be >= {minimum}, got {value}")
    return value


def check_delete(experiment_id: Any, max_timestamp_millis: Any, max_traces: Any,
                 trace_ids: Any) -> DeleteRequest:
    """MLflow's rules: ``trace_ids`` or ``max_timestamp_millis``, never both;
    ``max_traces`` only with ``max_timestamp_millis``."""
    if experiment_id is None or isinstance(experiment_id, bool):
        raise InvalidInputError(f"delete_traces needs an experiment id, got {experiment_id!r}")
    if trace_ids is None and max_timestamp_millis is None:
        raise InvalidInputError("delete_traces needs trace_ids or max_timestamp_millis "
                                "(which traces to delete)")
    if trace_ids is not None and max_timestamp_millis is not None:
        raise InvalidInputError("delete_traces takes trace_ids or max_timestamp_millis, "
                                "not both")
    if trace_ids is not None and max_traces is not None:
        raise InvalidInputError("max_traces applies to max_timestamp_millis deletion; with "
                                "trace_ids every listed trace is deleted")
    return DeleteRequest(
        experiment_id=str(experiment_id),
        trace_ids=None if trace_ids is None else check_trace_ids(trace_ids),
        max_timestamp_millis=(None if max_timestamp_millis is None
                              else _check_int(max_timestamp_millis, "max_timestamp_millis")),
        max_traces=None if max_traces is None else _check_int(max_traces, "max_traces", 1),
    )


def deletion_order(request_time: int, trace_id: str) -> tuple[int, str]:
    """Oldest first, ties by trace id: the order ``max_traces`` deletes in, in every store."""
    return request_time, trace_id
