"""Rules every store applies to experiments, traces, tags, deletion and assessments.

Written once and called by the shared public methods (``store/trace_methods.py``), so a
bad argument gets the same ``InvalidInputError`` whichever store holds the data, and the
history rules of assessments (an override invalidates what it overrides, deleting an
override restores it, ``update_assessment`` overrides or edits in place) are decided here
rather than in SQL or in dicts. The run and dataset rules are ``run_rules`` and
``dataset_rules``. Pure entity logic: no I/O, no SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
    Span,
    Trace,
    TraceInfo,
)
from spanscope.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "ASSESSMENT_ID_LENGTH",
    "DELETE_BATCH",
    "EXPERIMENT_NAME_LENGTH",
    "SPAN_ID_LENGTH",
    "TAG_KEY_LENGTH",
    "TAG_VALUE_LENGTH",
    "UNSET",
    "AssessmentChanges",
    "CheckedTrace",
    "DeleteRequest",
    "Unset",
    "apply_changes",
    "assessment_not_found",
    "check_assessment",
    "check_assessment_id_free",
    "check_assessment_ref",
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
    "invalidated",
    "now_ms",
    "relinked_after_delete",
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
NAME_LENGTH = 250
EXPERIMENT_NAME_LENGTH = 256  # the experiments.name column
DELETE_BATCH = 1000  # traces per DELETE: short write locks, bounded statements


class Unset(enum.Enum):
    """The type of ``UNSET``: "leave this field as it is", unlike ``None`` ("clear it")."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
T = TypeVar("T")
Maybe = T | Literal[Unset.UNSET]


def now_ms() -> int:
    return int(time.time() * 1000)


# --- not found: one message per kind of thing, whichever store looked --------------------
def experiment_not_found(experiment_id: Any) -> NotFoundError:
    return NotFoundError(f"experiment '{experiment_id}' not found")


def trace_not_found(trace_id: Any) -> NotFoundError:
    return NotFoundError(f"trace {trace_id!r} not found")


def tag_not_found(trace_id: str, key: str) -> NotFoundError:
    return NotFoundError(f"tag {key!r} not found on trace {trace_id!r}")


def assessment_not_found(trace_id: str, assessment_id: str) -> NotFoundError:
    return NotFoundError(f"assessment {assessment_id!r} not found on trace {trace_id!r}")


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
    try:
        if isinstance(value, bool):
            raise ValueError
        return str(int(str(value).strip()))
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


def check_assessment_ref(trace_id: Any, assessment_id: Any) -> tuple[str, str]:
    """The ``(trace_id, assessment_id)`` that get/update/delete name, both non-empty strings."""
    if not isinstance(assessment_id, str) or not assessment_id:
        raise InvalidInputError(
            f"assessment id must be a non-empty string, got {assessment_id!r}")
    return check_trace_id(trace_id), assessment_id


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


# --- assessments ------------------------------------------------------------------------
def _check_value(value: Any, what: str) -> None:
    """Values are str, number, bool, list or dict, and must be plain JSON all the way down."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a finite number, got {value!r}")
    if not isinstance(value, (str, int, float, bool, list, dict)):
        raise InvalidInputError(f"{what} must be a str, number, bool, list or dict, "
                                f"got {type(value).__name__} {value!r:.80}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be plain JSON (str, number, bool, None, "
                                f"list, dict with str keys): {exc}") from None


def _check_text(value: Any, what: str, limit: int | None = None,
                *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what} must be a non-empty string, got {value!r}")
    if limit is not None and len(value) > limit:
        raise InvalidInputError(
            f"{what} {value[:40]!r}... is {len(value)} characters; the limit is {limit}")


def _check_metadata(metadata: Any, what: str) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise InvalidInputError(f"{what}: metadata must be a dict with string keys, "
                                f"got {metadata!r:.80}")
    for key, value in metadata.items():
        if value is not None:
            _check_value(value, f"{what}: metadata {key!r}")


def _check_outcome(kind: str, value: Any, error: Any, what: str) -> None:
    if value is not None:
        _check_value(value, f"{what}: the value")
    if kind == "expectation" and value is None:
        raise InvalidInputError(f"{what}: an expectation needs a value")
    if kind == "feedback" and value is None and error is None:
        raise InvalidInputError(f"{what}: feedback needs a value or an error")
    if error is not None and not isinstance(error, AssessmentError):
        raise InvalidInputError(f"{what}: error must be an exception or an AssessmentError, "
                                f"got {error!r:.80}")


def check_assessment(assessment: Any) -> Assessment:
    """A new assessment fit to store; ``InvalidInputError`` says which field is wrong."""
    if not isinstance(assessment, (Feedback, Expectation)):
        raise InvalidInputError(f"expected a Feedback or an Expectation, "
                                f"got {type(assessment).__name__}")
    if not isinstance(assessment.trace_id, str) or not assessment.trace_id:
        raise InvalidInputError(f"assessment {assessment.name!r} names no trace: set trace_id")
    what = f"assessment {assessment.name!r} (trace {assessment.trace_id!r})"
    _check_text(assessment.name, "assessment name", NAME_LENGTH)
    _check_text(assessment.assessment_id, f"{what}: assessment id", ASSESSMENT_ID_LENGTH)
    _check_text(assessment.span_id, f"{what}: span id", SPAN_ID_LENGTH, optional=True)
    _check_text(assessment.overrides, f"{what}: overrides", ASSESSMENT_ID_LENGTH, optional=True)
    if assessment.rationale is not None and not isinstance(assessment.rationale, str):
        raise InvalidInputError(f"{what}: rationale must be a string or None")
    if not isinstance(assessment.source, AssessmentSource):
        raise InvalidInputError(f"{what}: source must be an AssessmentSource")
    _check_metadata(assessment.metadata, what)
    _check_outcome(assessment.kind, assessment.value, assessment.error, what)
    return assessment


def check_assessment_id_free(assessment: Assessment, owner: str | None) -> None:
    """``owner`` is the trace already holding ``assessment``'s id (None: the id is free)."""
    if owner is not None:
        raise InvalidInputError(f"assessment id {assessment.assessment_id!r} is already used "
                                f"(trace {owner!r})")


def _stamp(assessment: Assessment, now: int | None) -> int:
    """A change time that never goes back before the assessment's last one."""
    return max(now_ms() if now is None else now, assessment.last_update_time_ms or 0)


def invalidated(old: Assessment, *, now: int | None = None) -> Assessment:
    """``old`` as it is stored once a new assessment overrides it: kept, ``valid=False``.

    Only the current (valid) assessment of a history can be overridden.
    """
    if not old.valid:
        raise InvalidInputError(
            f"assessment {old.assessment_id!r} is already overridden; override the "
            "assessment that replaced it")
    return dataclasses.replace(old, valid=False, last_update_time_ms=_stamp(old, now))


def relinked_after_delete(gone: Assessment, successors: list[Assessment],
                          previous: Assessment | None, *,
                          now: int | None = None) -> list[Assessment]:
    """What to rewrite after deleting ``gone``: the undo of its override.

    ``successors`` are the assessments that overrode ``gone``: they now override what
    ``gone`` overrode, so ``overrides`` never points at a deleted id. When ``gone`` was the
    current assessment of a history (valid, overriding ``previous``), ``previous`` becomes
    valid again.
    """
    if successors:
        return [dataclasses.replace(s, overrides=gone.overrides) for s in successors]
    if gone.valid and previous is not None and previous.assessment_id == gone.overrides:
        return [dataclasses.replace(previous, valid=True,
                                    last_update_time_ms=_stamp(previous, now))]
    return []


@dataclass(frozen=True)
class AssessmentChanges:
    """What ``update_assessment`` was asked to change; ``UNSET`` fields stay as they are."""

    name: Maybe[str] = UNSET
    value: Maybe[Any] = UNSET
    rationale: Maybe[str | None] = UNSET
    metadata: Maybe[dict[str, Any] | None] = UNSET
    error: Maybe[AssessmentError | BaseException | None] = UNSET
    source: Maybe[AssessmentSource] = UNSET

    def any(self) -> bool:
        return any(getattr(self, f.name) is not UNSET for f in dataclasses.fields(self))


def _same_outcome(old: Assessment, value: Any, error: AssessmentError | None) -> bool:
    def encoded(v: Any) -> str:
        return json.dumps(v, sort_keys=True)

    return encoded(old.value) == encoded(value) and old.error == error


def apply_changes(old: Assessment, changes: AssessmentChanges, *,
                  now: int | None = None) -> tuple[Assessment, Assessment | None]:
    """``(old as it should now be stored, the new overriding assessment or None)``.

    The value and error together are the assessment's outcome. A different outcome makes
    a new assessment (new id, ``overrides`` = the old id, created now) and the old one
    stays in history with ``valid=False``. Otherwise name, rationale and metadata change
    in place. Fields left ``UNSET`` carry over; the outcome is replaced as a whole, so a
    new value clears an old error and a new error clears the old value. ``source`` says
    who made a new outcome and is ignored when there is none.
    """
    what = f"assessment {old.assessment_id!r} (trace {old.trace_id!r})"
    if not changes.any():
        raise InvalidInputError(f"update of {what} changes nothing: pass name, value, "
                                "rationale, metadata or error")
    if not old.valid:
        raise InvalidInputError(f"{what} was overridden and is kept only as history; "
                                "update the assessment that overrides it")
    name = old.name if changes.name is UNSET else changes.name
    _check_text(name, f"{what}: name", NAME_LENGTH)
    rationale = old.rationale if changes.rationale is UNSET else changes.rationale
    if rationale is not None and not isinstance(rationale, str):
        raise InvalidInputError(f"{what}: rationale must be a string or None")
    metadata = old.metadata if changes.metadata is UNSET else changes.metadata
    _check_metadata(metadata, what)
    source = old.source if changes.source is UNSET else changes.source
    if not isinstance(source, AssessmentSource):
        raise InvalidInputError(f"{what}: source must be an AssessmentSource")

    error = changes.error
    if isinstance(error, BaseException):
        error = AssessmentError.from_exception(error)
    if error is not UNSET and old.kind == "expectation":
        if error is None:
            error = UNSET  # clearing an error an expectation cannot have: nothing to do
        else:
            raise InvalidInputError(f"{what} is an expectation; only feedback has an error")
    outcome_given = changes.value is not UNSET or error is not UNSET
    value = (changes.value if changes.value is not UNSET
             else (None if error is not UNSET else old.value))
    new_error = error if error is not UNSET else (None if changes.value is not UNSET
                                                  else old.error)
    if outcome_given:
        _check_outcome(old.kind, value, new_error, what)

    stamp = _stamp(old, now)
    if outcome_given and not _same_outcome(old, value, new_error):
        outcome = {"value": value} if old.kind == "expectation" else {
            "value": value, "error": new_error}
        new = dataclasses.replace(
            old, assessment_id="a-" + uuid.uuid4().hex, name=name, rationale=rationale,
            metadata=_copy_dict(metadata), source=source, create_time_ms=stamp,
            last_update_time_ms=stamp, overrides=old.assessment_id, valid=True,
            extra=dict(old.extra), **outcome)
        return dataclasses.replace(old, valid=False, last_update_time_ms=stamp), new
    edited = dataclasses.replace(old, name=name, rationale=rationale,
                                 metadata=_copy_dict(metadata), last_update_time_ms=stamp)
    return edited, None


def _copy_dict(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)
