"""Assessments in SQL: the ``AssessmentBook`` storage steps over one connection.

What a create, update or delete means (overrides, their undo, edits in place) is decided
by ``spanscope.store.trace_methods`` with the rules of ``spanscope.store.assessment_rules``;
this module only reads and writes rows. Every write rewrites both the row's columns
(name, kind, ``numeric_value``, ``valid`` … which filters read) and its ``content`` (the
assessment's JSON, which reads return), from one ``assessment_row`` so the two never
disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from spanscope.entities import Assessment
from spanscope.store.sql import schema
from spanscope.store.sql.convert import assessment_from_content, assessment_row
from spanscope.store.sql.locking import lock_trace, next_position, require_trace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["SqlAssessmentBook"]

_KEYS = ("assessment_id", "trace_id", "position")  # never rewritten by an update


class SqlAssessmentBook:
    """The assessments of one trace, on a connection inside the caller's transaction.

    Opening it checks the trace exists (``NotFoundError``) and, for writes, takes the
    trace's row lock (``locking.lock_trace``) so override chains stay consistent.
    """

    def __init__(self, conn: Connection, trace_id: str, *, write: bool) -> None:
        if write:
            lock_trace(conn, trace_id)
        else:
            require_trace(conn, trace_id)
        self._conn = conn
        self._trace_id = trace_id

    def _decoded(self, content: str) -> Assessment:
        assessment = assessment_from_content(content)
        if assessment.trace_id is None:  # imported without one; it belongs to this trace
            assessment.trace_id = self._trace_id
        return assessment

    def find(self, assessment_id: str) -> Assessment | None:
        table = schema.assessments
        content = self._conn.execute(sa.select(table.c.content).where(
            table.c.assessment_id == assessment_id,
            table.c.trace_id == self._trace_id)).scalar()
        return None if content is None else self._decoded(content)

    def owner_of(self, assessment_id: str) -> str | None:
        table = schema.assessments
        return self._conn.execute(sa.select(table.c.trace_id)
                                  .where(table.c.assessment_id == assessment_id)).scalar()

    def overriding(self, assessment_id: str) -> list[Assessment]:
        table = schema.assessments
        contents = self._conn.execute(sa.select(table.c.content).where(
            table.c.trace_id == self._trace_id,
            table.c.overrides == assessment_id).order_by(table.c.position)).scalars().all()
        return [self._decoded(content) for content in contents]

    def add(self, assessment: Assessment) -> None:
        table = schema.assessments
        self._conn.execute(table.insert().values(assessment_row(
            self._trace_id, assessment, next_position(self._conn, table, self._trace_id))))

    def replace(self, assessment: Assessment) -> None:
        table = schema.assessments
        row = assessment_row(self._trace_id, assessment, 0)
        for key in _KEYS:
            del row[key]
        self._conn.execute(sa.update(table)
                           .where(table.c.assessment_id == assessment.assessment_id)
                           .values(row))

    def remove(self, assessment_id: str) -> None:
        table = schema.assessments
        self._conn.execute(sa.delete(table).where(table.c.assessment_id == assessment_id))
