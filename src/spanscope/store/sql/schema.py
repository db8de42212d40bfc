"""The SQL schema, one SQLAlchemy Core definition for SQLite and PostgreSQL.

Migrations (``migrations/versions``) create exactly these tables; a test compares the two.
Summary columns of ``traces`` are what list views, filters and aggregates read; full
payloads live in ``spans.content`` and ``assessments.content`` (the entity's own JSON), so
a stored trace reads back exactly as it was logged. ``position`` columns keep the order in
which spans, tags, metadata and assessments were logged, because the trace JSON is ordered.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "ASSESSMENT_ID_LENGTH",
    "KEY_LENGTH",
    "PREVIEW_LENGTH",
    "SPAN_ID_LENGTH",
    "TRACE_ID_LENGTH",
    "assessments",
    "experiments",
    "metadata",
    "spans",
    "trace_metadata",
    "trace_tags",
    "traces",
]

TRACE_ID_LENGTH = 64
SPAN_ID_LENGTH = 32
KEY_LENGTH = 250  # tag, metadata and assessment names, as MLflow limits them
ASSESSMENT_ID_LENGTH = 64
PREVIEW_LENGTH = 1000
EXPERIMENT_NAME_LENGTH = 256

# Deterministic constraint names, so later migrations can refer to them on both dialects.
metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

experiments = Table(
    "experiments", metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(EXPERIMENT_NAME_LENGTH), nullable=False, unique=True),
    Column("creation_time", BigInteger),
)

traces = Table(
    "traces", metadata,
    Column("trace_id", String(TRACE_ID_LENGTH), primary_key=True),
    Column("experiment_id", Integer,
           ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("request_time", BigInteger, nullable=False),
    Column("execution_duration", BigInteger),
    Column("state", String(32), nullable=False),
    Column("name", String(512)),
    Column("client_request_id", String(256)),
    Column("session_id", String(256)),
    Column("user_id", String(256)),
    Column("request_preview", String(PREVIEW_LENGTH)),
    Column("response_preview", String(PREVIEW_LENGTH)),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("total_tokens", BigInteger),
    Column("span_count", Integer, nullable=False, server_default="0"),
    Column("extra", Text),  # JSON of TraceInfo.extra (keys the entity does not model)
    # JSON of the full values of previews / client_request_id too long for their column,
    # so shortening a column for the list view never loses data.
    Column("overflow", Text),
    Index("ix_traces_experiment_time", "experiment_id", "request_time", "trace_id"),
    Index("ix_traces_experiment_state", "experiment_id", "state", "request_time"),
    Index("ix_traces_experiment_duration", "experiment_id", "execution_duration"),
    Index("ix_traces_client_request_id", "client_request_id"),
    Index("ix_traces_experiment_session", "experiment_id", "session_id"),
    Index("ix_traces_experiment_user", "experiment_id", "user_id"),
)


def _key_value_table(name: str) -> Table:
    return Table(
        name, metadata,
        Column("trace_id", String(TRACE_ID_LENGTH),
               ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
        Column("key", String(KEY_LENGTH), primary_key=True),
        Column("value", Text),
        Column("position", Integer, nullable=False, server_default="0"),
        Index(f"ix_{name}_key", "key", "trace_id"),
    )


trace_tags = _key_value_table("trace_tags")
trace_metadata = _key_value_table("trace_metadata")

spans = Table(
    "spans", metadata,
    Column("trace_id", String(TRACE_ID_LENGTH),
           ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("span_id", String(SPAN_ID_LENGTH), primary_key=True),
    Column("parent_span_id", String(SPAN_ID_LENGTH)),
    Column("name", String(512), nullable=False),
    Column("span_type", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # OK | ERROR | UNSET
    Column("start_time_ns", BigInteger, nullable=False),
    Column("end_time_ns", BigInteger),
    Column("duration_ns", BigInteger),  # written by the store, not a generated column
    Column("position", Integer, nullable=False),  # index in the logged trace's span list
    Column("content", Text, nullable=False),  # JSON of Span.to_dict()
    Index("ix_spans_type_duration", "span_type", "duration_ns"),
    Index("ix_spans_name", "name"),
    Index("ix_spans_status", "status", "trace_id"),
)

assessments = Table(
    "assessments", metadata,
    Column("assessment_id", String(ASSESSMENT_ID_LENGTH), primary_key=True),
    Column("trace_id", String(TRACE_ID_LENGTH),
           ForeignKey("traces.trace_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(KEY_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),  # feedback | expectation
    Column("value", Text),  # JSON
    Column("numeric_value", Float),  # the value when it is a number or a bool
    Column("error", Text),  # JSON
    Column("source_type", String(32)),
    Column("source_id", String(256)),
    Column("span_id", String(SPAN_ID_LENGTH)),
    Column("run_id", String(64)),
    Column("rationale", Text),
    Column("metadata", Text),  # JSON
    Column("overrides", String(ASSESSMENT_ID_LENGTH)),
    Column("valid", Boolean),
    Column("create_time", BigInteger),
    Column("last_update_time", BigInteger),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("content", Text, nullable=False),  # JSON of Assessment.to_dict()
    Index("ix_assessments_trace", "trace_id"),
    Index("ix_assessments_name_value", "name", "valid", "numeric_value"),
)
