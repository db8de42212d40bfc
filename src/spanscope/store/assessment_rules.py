"""Rules every store applies to assessments, written once: fields, overrides, updates.

An assessment's history is a chain: a new outcome overrides the current assessment, which
stays stored with ``valid=False`` (``invalidated``); deleting the current one restores
what it overrode (``relinked_after_delete``); ``update_assessment`` either overrides or
edits in place (``apply_changes``). ``store/trace_methods.py`` runs them over each store's
``AssessmentBook``, so no store decides them itself. Pure entity logic: no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
)
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.trace_rules import (
    ASSESSMENT_ID_LENGTH,
    SPAN_ID_LENGTH,
    check_trace_id,
    now_ms,
)

__all__ = [
    "NAME_LENGTH",
    "UNSET",
    "AssessmentChanges",
    "Unset",
    "apply_changes",
    "assessment_not_found",
    "check_assessment",
    "check_assessment_id_free",
    "check_assessment_ref",
    "invalidated",
    "relinked_after_delete",
]

NAME_LENGTH = 250


class Unset(enum.Enum):
    """The type of ``UNSET``: "leave this field as it is", unlike ``None`` ("clear it")."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
T = TypeVar("T")
Maybe = T | Literal[Unset.UNSET]


def assessment_not_found(trace_id: str, assessment_id: str) -> NotFoundError:
    return NotFoundError(f"assessment {assessment_id!r} not found on trace {trace_id!r}")


def check_assessment_ref(trace_id: Any, assessment_id: Any) -> tuple[str, str]:
    """The ``(trace_id, assessment_id)`` that get/update/delete name, both non-empty strings."""
    if not isinstance(assessment_id, str) or not assessment_id:
        raise InvalidInputError(
            f"assessment id must be a non-empty string, got {assessment_id!r}")
    return check_trace_id(trace_id), assessment_id


# --- fields ---------------------------------------------------------------------------------
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
