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
    func,
    literal_column,
)
from sqlalchemy.sql.elements import ColumnElement

__all__ = [
    "ASSESSMENT_ID_LENGTH",
    "KEY_LENGTH",
    "PREVIEW_LENGTH",
    "SPAN_ID_LENGTH",
    "TRACE_ID_LENGTH",
    "VALUE_PREFIX_LENGTH",
    "api_keys",
    "assessments",
    "dataset_experiments",
    "dataset_records",
    "dataset_versions",
    "datasets",
    "deletion_log",
    "experiments",
    "metadata",
    "monitor_deliveries",
    "monitor_evaluations",
    "monitors",
    "online_scorer_checkpoints",
    "online_scorers",
    "retention_rules",
    "run_latest_metrics",
    "run_metrics",
    "run_params",
    "run_tags",
    "runs",
    "span_text",
    "spans",
    "trace_metadata",
    "trace_model_usage",
    "trace_tags",
    "traces",
    "value_prefix",
]

TRACE_ID_LENGTH = 64
SPAN_ID_LENGTH = 32
SPAN_NAME_LENGTH = 512  # span and trace names are cut to this in their columns
KEY_LENGTH = 250  # tag, metadata and assessment names, as MLflow limits them
ASSESSMENT_ID_LENGTH = 64
PREVIEW_LENGTH = 1000
EXPERIMENT_NAME_LENGTH = 256
# Characters of a tag or metadata value in its value index (migration 0005). Values are
# Text of any length and a PostgreSQL btree row holds at most ~2.7 kB, so the index holds
# a prefix: 64 characters (at most 256 bytes) cover versions, environments, UUIDs and ids.
VALUE_PREFIX_LENGTH = 64

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
    Column("name", String(SPAN_NAME_LENGTH)),  # the root span name (or tag), cut
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


def value_prefix(value: ColumnElement[str]) -> ColumnElement[str]:
    """``substr(value, 1, 64)``: the indexed expression of ``ix_trace_tags_value`` and
    ``ix_trace_metadata_value``. The numbers are SQL literals, not bound parameters, so
    both databases see the index's own expression in a query and can use the index."""
    return func.substr(value, literal_column("1"), literal_column(str(VALUE_PREFIX_LENGTH)))


def _key_value_table(name: str) -> Table:
    table = Table(
        name, metadata,
        Column("trace_id", String(TRACE_ID_LENGTH),
               ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
        Column("key", String(KEY_LENGTH), primary_key=True),
        Column("value", Text),
        Column("position", Integer, nullable=False, server_default="0"),
    )
    # Finds the traces with a value (migration 0005; it replaced ``(key, trace_id)``).
    Index(f"ix_{name}_value", table.c.key, value_prefix(table.c.value), table.c.trace_id)
    return table


trace_tags = _key_value_table("trace_tags")
trace_metadata = _key_value_table("trace_metadata")

spans = Table(
    "spans", metadata,
    Column("trace_id", String(TRACE_ID_LENGTH),
           ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("span_id", String(SPAN_ID_LENGTH), primary_key=True),
    Column("parent_span_id", String(SPAN_ID_LENGTH)),
    Column("name", String(SPAN_NAME_LENGTH), nullable=False),
    Column("span_type", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # OK | ERROR | UNSET
    Column("start_time_ns", BigInteger, nullable=False),
    Column("end_time_ns", BigInteger),
    Column("duration_ns", BigInteger),  # written by the store, not a generated column
    Column("position", Integer, nullable=False),  # index in the logged trace's span list
    Column("content", Text, nullable=False),  # JSON of Span.to_dict()
    Index("ix_spans_type_duration", "span_type", "duration_ns"),
    # Covers profiling: per name and type, durations in order (migration 0004).
    Index("ix_spans_name_type_duration", "name", "span_type", "duration_ns", "status"),
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

# --- runs (migration 0003): MLflow's runs, params, tags, metric history ----------------
RUN_ID_LENGTH = 64
DATASET_ID_LENGTH = 64
DATASET_NAME_LENGTH = 255


def _run_fk() -> ForeignKey:
    return ForeignKey("runs.run_id", ondelete="CASCADE")


runs = Table(
    "runs", metadata,
    Column("run_id", String(RUN_ID_LENGTH), primary_key=True),
    Column("experiment_id", Integer,
           ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("run_name", String(KEY_LENGTH)),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger),
    Column("end_time", BigInteger),
    Column("artifact_uri", Text),
    Column("user_id", String(256)),
    Column("lifecycle_stage", String(16), nullable=False, server_default="active"),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
)

run_params = Table(
    "run_params", metadata,
    Column("run_id", String(RUN_ID_LENGTH), _run_fk(), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
)

run_tags = Table(
    "run_tags", metadata,
    Column("run_id", String(RUN_ID_LENGTH), _run_fk(), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every logged metric value (the history); NULL value = NaN (SQLite cannot store NaN).
run_metrics = Table(
    "run_metrics", metadata,
    Column("metric_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(RUN_ID_LENGTH), _run_fk(), nullable=False),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("value", Float),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Index("ix_run_metrics_run_key", "run_id", "key", "step"),
)

# The latest value per key (highest step, timestamp, value), so reading runs is cheap.
run_latest_metrics = Table(
    "run_latest_metrics", metadata,
    Column("run_id", String(RUN_ID_LENGTH), _run_fk(), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Float),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
)

# --- evaluation datasets (migration 0003) -------------------------------------------------
# Versioned as row validity ranges: a record row is part of versions
# valid_from <= v < valid_to (valid_to NULL = still current). A merge that changes a record
# closes its current row and inserts the new state, so every version stays readable and an
# unchanged record costs nothing per version. See docs/datasets.md.
datasets = Table(
    "datasets", metadata,
    Column("dataset_id", String(DATASET_ID_LENGTH), primary_key=True),
    Column("name", String(DATASET_NAME_LENGTH), nullable=False, unique=True),
    Column("tags", Text),  # JSON object
    Column("current_version", Integer, nullable=False, server_default="0"),
    Column("digest", String(64), nullable=False),
    Column("record_count", Integer, nullable=False, server_default="0"),
    Column("created_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Column("created_by", String(256)),
)

dataset_experiments = Table(
    "dataset_experiments", metadata,
    Column("dataset_id", String(DATASET_ID_LENGTH),
           ForeignKey("datasets.dataset_id", ondelete="CASCADE"), primary_key=True),
    Column("experiment_id", Integer,
           ForeignKey("experiments.experiment_id", ondelete="CASCADE"), primary_key=True),
    Index("ix_dataset_experiments_experiment", "experiment_id"),
)

dataset_versions = Table(
    "dataset_versions", metadata,
    Column("dataset_id", String(DATASET_ID_LENGTH),
           ForeignKey("datasets.dataset_id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("inserted", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
)

dataset_records = Table(
    "dataset_records", metadata,
    Column("dataset_id", String(DATASET_ID_LENGTH),
           ForeignKey("datasets.dataset_id", ondelete="CASCADE"), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("valid_from", Integer, primary_key=True),
    Column("valid_to", Integer),
    Column("seq", Integer, nullable=False),  # order of first insertion in the dataset
    Column("input_hash", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("inputs", Text, nullable=False),  # JSON
    Column("expectations", Text),  # JSON
    Column("outputs", Text),  # JSON
    Column("tags", Text),  # JSON
    Column("source", Text),  # JSON
    Column("source_trace_id", String(TRACE_ID_LENGTH)),
    Column("created_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_dataset_records_current", "dataset_id", "valid_to", "input_hash"),
    Index("ix_dataset_records_source_trace", "source_trace_id"),
)

# --- per-model token usage (migration 0004): what estimated cost is priced on ------------
# One row per trace, model (``""`` when the spans name none) and type of the reporting span
# (migration 0013; ``""`` for rows written before it), from the innermost spans reporting
# usage (``spanscope.entities.model_usage``), written with the trace. The cache and
# reasoning counts (0013) are parts of ``input_tokens`` / ``output_tokens``.
MODEL_NAME_LENGTH = 256
SPAN_TYPE_LENGTH = 64

# The trace's experiment and request time are copied in, so usage over experiments and a
# time window (the common summary) reads this narrow table alone, without a join.
trace_model_usage = Table(
    "trace_model_usage", metadata,
    Column("trace_id", String(TRACE_ID_LENGTH),
           ForeignKey("traces.trace_id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(MODEL_NAME_LENGTH), primary_key=True),
    Column("span_type", String(SPAN_TYPE_LENGTH), primary_key=True, server_default=""),
    Column("experiment_id", Integer, nullable=False),
    Column("request_time", BigInteger, nullable=False),
    Column("calls", Integer, nullable=False, server_default="0"),
    Column("input_tokens", BigInteger, nullable=False, server_default="0"),
    Column("output_tokens", BigInteger, nullable=False, server_default="0"),
    Column("total_tokens", BigInteger, nullable=False, server_default="0"),
    Column("cache_read_input_tokens", BigInteger, nullable=False, server_default="0"),
    Column("cache_creation_input_tokens", BigInteger, nullable=False, server_default="0"),
    Column("reasoning_tokens", BigInteger, nullable=False, server_default="0"),
    # 1 on the first row of a trace and model (by span type), 0 on the others: summed, it
    # counts traces per model without COUNT(DISTINCT trace_id), which is twice as slow.
    Column("trace_count", Integer, nullable=False, server_default="1"),
    Index("ix_trace_model_usage_experiment_time", "experiment_id", "request_time"),
)

# --- API keys of the server (migration 0006): hashes only, see spanscope.store.keys -----
api_keys = Table(
    "api_keys", metadata,
    Column("key_id", String(32), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("name", String(256)),
    Column("secret_hash", String(64), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("revoked_time", BigInteger),
)

# --- the text index (migration 0007): what ``text CONTAINS`` reads, see store/sql/text_index.py
# One row per text of a span (its inputs, outputs, each exception message), cut to
# ``text_index.text_index_chars()`` characters. ``unsure`` says what the index cannot
# vouch for: 0 = ``body`` is the whole text; 1 = the whole text, but with a character
# whose case the databases fold differently from Python (ILIKE must check it); 2 = cut
# or altered (a NUL), the whole text is read from the span. SQLite indexes ``body`` in
# the FTS5 table ``span_text_fts`` (trigram tokenizer, kept in step by triggers),
# PostgreSQL in the GIN index ``ix_span_text_body`` (pg_trgm); neither is declared here.
span_text = Table(
    "span_text", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("trace_id", String(TRACE_ID_LENGTH),
           ForeignKey("traces.trace_id", ondelete="CASCADE"), nullable=False),
    Column("span_id", String(SPAN_ID_LENGTH), nullable=False),
    Column("kind", String(1), nullable=False),  # i(nputs) | o(utputs) | e(xception)
    Column("seq", Integer, nullable=False, server_default="0"),  # the exception's event
    Column("unsure", Integer, nullable=False, server_default="0"),
    Column("body", Text, nullable=False),
    Index("ix_span_text_trace", "trace_id", "span_id"),
    Index("ix_span_text_unsure", "unsure", "trace_id",
          sqlite_where=literal_column("unsure") > 0,
          postgresql_where=literal_column("unsure") > 0),
)

# --- online scorers (migration 0008): registrations and per-trace claims, see
# spanscope.store.online_scorers; the primary key of the checkpoints is the claim -----
online_scorers = Table(
    "online_scorers", metadata,
    Column("registration_id", String(64), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(KEY_LENGTH), nullable=False),
    Column("spec", Text, nullable=False),  # JSON: how to build the scorer
    Column("version", Integer, nullable=False),
    Column("sample_rate", Float, nullable=False),
    Column("filter_string", Text),
    Column("delay_s", Float, nullable=False),
    Column("max_judge_calls_per_hour", Integer),
    Column("active", Boolean, nullable=False),
    Column("scan_from_ms", BigInteger, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_online_scorers_experiment_name", "experiment_id", "name", unique=True),
)

online_scorer_checkpoints = Table(
    "online_scorer_checkpoints", metadata,
    Column("registration_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("trace_id", String(TRACE_ID_LENGTH), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("worker_id", String(128), nullable=False),
    Column("claimed_time", BigInteger, nullable=False),
    Column("done_time", BigInteger),
    Column("judge_calls", Integer),
    Index("ix_online_scorer_checkpoints_claims", "registration_id", "status",
          "claimed_time"),
)

# --- monitors (spanscope.store.sql.monitors; off the trace protocols, like api_keys) ----
monitors = Table(
    "monitors", metadata,
    Column("monitor_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("definition", Text, nullable=False),  # JSON of Monitor.to_dict(reveal_secret)
    Column("created_ms", BigInteger, nullable=False),
    Column("state", String(16)),  # MonitorStatus: NULL until first evaluated
    Column("since_ms", BigInteger),
    Column("last_eval_ms", BigInteger),
    Column("last_notified_ms", BigInteger),
    Column("notified", String(16)),
    Column("next_due_ms", BigInteger, nullable=False),
    Index("ix_monitors_next_due", "next_due_ms"),
)

monitor_evaluations = Table(
    "monitor_evaluations", metadata,
    Column("evaluation_id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", String(32), ForeignKey("monitors.monitor_id", ondelete="CASCADE"),
           nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float),
    Column("samples", Integer, nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("event", String(16)),
    Index("ix_monitor_evaluations_monitor_time", "monitor_id", "time_ms"),
)

monitor_deliveries = Table(
    "monitor_deliveries", metadata,
    Column("delivery_id", String(32), primary_key=True),
    Column("monitor_id", String(32), ForeignKey("monitors.monitor_id", ondelete="CASCADE"),
           nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("event", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", Text),
    Column("sent_ms", BigInteger),
    Index("ix_monitor_deliveries_due", "status", "next_attempt_ms"),
)

# --- data lifecycle (migration 0010): retention rules, and the log of deletions ----------
# See spanscope.store.retention. A rule keeps the traces of its experiment that match its
# filter and its deterministic sample for ``keep_ms`` (NULL: forever).
retention_rules = Table(
    "retention_rules", metadata,
    Column("rule_id", String(32), primary_key=True),
    Column("experiment_id", Integer,
           ForeignKey("experiments.experiment_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256)),
    Column("filter_string", Text),  # NULL: every trace of the experiment
    Column("keep_ms", BigInteger),  # NULL: forever
    Column("sample_fraction", Float, nullable=False, server_default="1"),
    Column("created_time", BigInteger, nullable=False),
    Index("ix_retention_rules_experiment", "experiment_id"),
)

# One row per deletion run (privacy or retention): who, when, what selector, counts; never
# the deleted content (a user or session id is kept as its SHA-256 only).
deletion_log = Table(
    "deletion_log", metadata,
    Column("deletion_id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # privacy | retention
    Column("time", BigInteger, nullable=False),
    Column("actor", String(256)),
    Column("selector", Text, nullable=False),  # JSON
    Column("counts", Text, nullable=False),  # JSON
    Index("ix_deletion_log_time", "time"),
)
