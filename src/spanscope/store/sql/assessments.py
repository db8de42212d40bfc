"""Assessments in SQL: create, read, update (override or edit in place), delete.

What an update means is decided by ``spanscope.store.mutations.apply_changes``; this
module only stores the result. Every write rewrites both the row's columns (name, kind,
``numeric_value``, ``valid`` … which filters read) and its ``content`` (the assessment's
JSON, which reads return), from one ``assessment_row`` so the two never disagree.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import sqlalchemy as sa

from spanscope.entities import Assessment
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.mutations import AssessmentChanges, apply_changes, now_ms
from spanscope.store.sql import schema
from spanscope.store.sql.convert import assessment_from_content, assessment_row
from spanscope.store.sql.locking import lock_trace, next_position, require_trace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["create", "delete", "get", "update"]

_KEYS = ("assessment_id", "trace_id", "position")  # never rewritten by an update


def create(conn: Connection, assessment: Assessment) -> Assessment:
    """Insert a validated assessment after the trace's others; returns it as stored."""
    trace_id = str(assessment.trace_id)
    lock_trace(conn, trace_id)
    table = schema.assessments
    taken = conn.execute(sa.select(table.c.trace_id)
                         .where(table.c.assessment_id == assessment.assessment_id)).first()
    if taken is not None:
        raise InvalidInputError(f"assessment id {assessment.assessment_id!r} is already used "
                                f"(trace {taken.trace_id!r})")
    if assessment.overrides is not None:
        old = _load(conn, trace_id, assessment.overrides)
        if not old.valid:
            raise InvalidInputError(
                f"assessment {old.assessment_id!r} is already overridden; override the "
                "assessment that replaced it")
        _rewrite(conn, dataclasses.replace(old, valid=False,
                                           last_update_time_ms=_stamp(old)))
    conn.execute(table.insert().values(
        assessment_row(trace_id, assessment, next_position(conn, table, trace_id))))
    return assessment


def get(conn: Connection, trace_id: str, assessment_id: str) -> Assessment:
    require_trace(conn, trace_id)
    return _load(conn, trace_id, assessment_id)


def update(conn: Connection, trace_id: str, assessment_id: str,
           changes: AssessmentChanges) -> Assessment:
    """Apply ``changes``; returns the new overriding assessment, or the edited one."""
    lock_trace(conn, trace_id)
    edited, new = apply_changes(_load(conn, trace_id, assessment_id), changes)
    _rewrite(conn, edited)
    if new is None:
        return edited
    table = schema.assessments
    conn.execute(table.insert().values(
        assessment_row(trace_id, new, next_position(conn, table, trace_id))))
    return new


def delete(conn: Connection, trace_id: str, assessment_id: str) -> None:
    """Delete; the assessment it overrode becomes valid again if it was the current one.

    Deleting one from the middle of a history (an invalid one) re-links its successor to
    its predecessor, so ``overrides`` never points at a deleted id.
    """
    lock_trace(conn, trace_id)
    gone = _load(conn, trace_id, assessment_id)
    table = schema.assessments
    conn.execute(sa.delete(table).where(table.c.assessment_id == assessment_id))
    successors = conn.execute(sa.select(table.c.content).where(
        table.c.trace_id == trace_id, table.c.overrides == assessment_id)).scalars().all()
    for content in successors:
        _rewrite(conn, dataclasses.replace(assessment_from_content(content),
                                           overrides=gone.overrides))
    if gone.valid and gone.overrides is not None and not successors:
        try:
            previous = _load(conn, trace_id, gone.overrides)
        except NotFoundError:
            return  # the history was deleted before: nothing to restore
        _rewrite(conn, dataclasses.replace(previous, valid=True,
                                           last_update_time_ms=_stamp(previous)))


def _load(conn: Connection, trace_id: str, assessment_id: str) -> Assessment:
    table = schema.assessments
    content = conn.execute(sa.select(table.c.content).where(
        table.c.assessment_id == assessment_id, table.c.trace_id == trace_id)).scalar()
    if content is None:
        raise NotFoundError(f"assessment {assessment_id!r} not found on trace {trace_id!r}")
    assessment = assessment_from_content(content)
    if assessment.trace_id is None:  # imported without one; it belongs to this trace
        assessment.trace_id = trace_id
    return assessment


def _rewrite(conn: Connection, assessment: Assessment) -> None:
    table = schema.assessments
    row = assessment_row(str(assessment.trace_id), assessment, 0)
    for key in _KEYS:
        del row[key]
    conn.execute(sa.update(table).where(table.c.assessment_id == assessment.assessment_id)
                 .values(row))


def _stamp(assessment: Assessment) -> int:
    return max(now_ms(), assessment.last_update_time_ms or 0)
