"""The store protocols: the seams between capabilities and storage, one per concern.

A store states what it supports by the protocols it implements, and a capability asks
(type-hints) only for the one it needs:

- ``ExperimentStore``: create, get, find by name and list experiments;
- ``AssessmentStore``: feedback and expectations on a trace, with override history;
- ``TraceStore``: log, get, search, tag and delete traces (and, being the trace store,
  their assessments: it extends ``AssessmentStore``);
- ``AnalyticsStore``: the eight aggregates analysis reads, computed in the store;
- ``RunStore``: runs with params, metrics and tags (lineage of evaluations);
- ``DatasetStore``: versioned evaluation datasets;
- ``Store``: all of them, what a tracking URI opens (``spanscope.store.open_store``).

Each has ``uri`` and ``close`` (``StoreHandle``). ``SqlStore`` (SQLite, PostgreSQL) and
``InMemoryStore`` implement ``Store`` through shared public methods
(``store/trace_methods.py``, ``analytics_methods.py``, ``runs_datasets.py``) over small
storage steps, and nothing above this layer checks which store it holds. Stores raise only
``spanscope.exceptions`` errors: ``NotFoundError`` for unknown ids, ``InvalidInputError``
for bad arguments, ``StoreError`` when the backend fails. ``docs/architecture.md`` draws
the protocols and where their rules live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
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
from spanscope.entities.run import Metric, Run, RunInfo
from spanscope.store.aggregates import (
    SPAN_QUANTILES,
    TRACE_QUANTILES,
    AssessmentStats,
    ErrorSpan,
    GroupKey,
    ModelUsageRow,
    NumericField,
    NumericPairs,
    Sample,
    Selection,
    SpanStats,
    TraceSample,
    TraceStats,
)
from spanscope.store.assessment_rules import UNSET, Unset

__all__ = [
    "AnalyticsStore",
    "AssessmentStore",
    "DatasetStore",
    "ExperimentStore",
    "RunStore",
    "Store",
    "StoreHandle",
    "TraceStore",
]


@runtime_checkable
class StoreHandle(Protocol):
    """What every store has: the URI it was opened with, and a way to let go of it."""

    uri: str

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


@runtime_checkable
class ExperimentStore(StoreHandle, Protocol):
    """Experiments: the named groups traces, runs and datasets belong to."""

    def create_experiment(self, name: str) -> str:
        """Create an experiment and return its id; ``InvalidInputError`` if the name is taken."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; ``NotFoundError`` if there is none."""
        ...

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        ...

    def list_experiments(self) -> list[Experiment]:
        ...


@runtime_checkable
class AssessmentStore(StoreHandle, Protocol):
    """Feedback and expectations on traces (see docs/assessments.md).

    Rules (overrides and their undo, field checks): ``spanscope.store.assessment_rules``.
    """

    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store a new feedback or expectation on ``assessment.trace_id`` and return it.

        ``NotFoundError`` if the trace does not exist; ``InvalidInputError`` for a bad
        field or an id already used. An assessment with ``overrides`` set marks the one it
        overrides (which must be a valid assessment of the same trace) ``valid=False``.
        """
        ...

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """One assessment of a trace; ``NotFoundError`` names what is missing."""
        ...

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        *,
        name: str | Unset = UNSET,
        value: Any = UNSET,
        rationale: str | Unset | None = UNSET,
        metadata: dict[str, Any] | Unset | None = UNSET,
        error: AssessmentError | BaseException | Unset | None = UNSET,
        source: AssessmentSource | Unset = UNSET,
    ) -> Assessment:
        """Change an assessment and return its current version.

        A new outcome (``value`` / ``error`` different from the stored ones) creates a new
        assessment that ``overrides`` the old one, which stays in history with
        ``valid=False``; ``source`` is who made that new outcome. Name, rationale and
        metadata alone are edited in place and ``last_update_time`` moves. ``UNSET`` leaves
        a field as it is, ``None`` clears it. Overridden (invalid) assessments cannot be
        updated. Rules: ``spanscope.store.assessment_rules.apply_changes``.
        """
        ...

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; if it overrode another, that one becomes valid again."""
        ...


@runtime_checkable
class TraceStore(AssessmentStore, Protocol):
    """Traces: log, read, search, tag and delete them; assessments come with them."""

    def log_traces(self, traces: Sequence[Trace]) -> None:
        """Write a batch of traces in one transaction (all or nothing).

        A trace id already stored is upserted: its summary and spans are replaced span by
        span, tags and metadata are merged (the new value wins) and stored assessments are
        kept, so a trace can arrive in several parts (e.g. over OTLP).
        """
        ...

    def get_trace(self, trace_id: str) -> Trace:
        """The full trace (info, assessments and spans); ``NotFoundError`` if unknown."""
        ...

    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
        highlight: bool = False,
    ) -> PagedList[Trace]:
        """One page of the traces matching ``filter_string``, in ``order_by`` order.

        The filter language is ``docs/filter-language.md`` (``FilterError`` if the filter
        or an ``order_by`` item is bad); every store returns exactly the traces
        ``spanscope.query.filter_traces`` returns, in ``spanscope.query.sort_traces``
        order: the ``KEY [ASC|DESC]`` items, then newest first, then trace id, missing
        values last. ``experiment_ids=None`` searches every experiment. The page's
        ``.token`` continues it (a keyset, see ``spanscope.store.keyset``); pass it back
        with the same ``order_by``. With ``include_spans=False`` the traces carry info
        only, read from the summary columns, which is what list views need. With
        ``highlight=True`` the page's ``highlights`` say where the filter's text
        comparisons (``text CONTAINS`` ...) matched in each trace
        (``spanscope.query.highlight``).
        """
        ...

    def search_trace_ids(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        max_results: int | None = None,
    ) -> list[str]:
        """Ids of the traces matching ``filter_string``, newest first (None: all of them).

        Cheap: reads ids only, for bulk actions such as deleting by filter.
        """
        ...

    # --- tags (see docs/tags-and-deletion.md) ------------------------------------------
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set one tag; a new key goes after the trace's other tags, a known key keeps its place.

        ``NotFoundError`` for an unknown trace; ``InvalidInputError`` for an empty key, a key
        over 250 characters, a value that is not a string or is over 8000 characters.
        """
        ...

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove one tag; ``NotFoundError`` names the trace, and the tag if it is not set."""
        ...

    # --- deletion -----------------------------------------------------------------------
    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> int:
        """Delete traces of one experiment and return how many were deleted.

        MLflow's rules: either ``trace_ids`` (those of them in the experiment) or
        ``max_timestamp_millis`` (traces with ``request_time`` at or before it, oldest
        first, at most ``max_traces``). Spans, tags, metadata and assessments go with their
        trace. Work is done in bounded batches, each its own transaction, so a huge
        deletion never holds the write lock for long; an interrupted one leaves whole
        traces, never half of one. ``dry_run=True`` deletes nothing and returns how many
        would be deleted. ``NotFoundError`` for an unknown experiment.
        """
        ...

    def delete_trace_ids(self, trace_ids: Sequence[str], *, dry_run: bool = False) -> int:
        """Delete these traces, whatever their experiment; unknown ids are skipped.

        Returns how many were deleted (would be, with ``dry_run``). Batched like
        ``delete_traces``.
        """
        ...


@runtime_checkable
class AnalyticsStore(StoreHandle, Protocol):
    """The aggregates analysis and monitors read (types, percentile rule: ``aggregates.py``).

    Computed in the store over the traces of ``selection`` (experiments, filter, time
    window), never by loading traces into the caller. ``FilterError`` for a bad filter,
    ``InvalidInputError`` for bad options; rows come in the canonical order of the
    ``sort_*`` helpers of ``spanscope.store.aggregates``.
    """

    def trace_stats(self, selection: Selection, *, bucket_ms: int | None = None,
                    group_by: GroupKey | None = None,
                    quantiles: Sequence[float] = TRACE_QUANTILES) -> list[TraceStats]:
        """Count, errors, latency (sum, min, max, quantiles) and token sums of the traces,
        one row per ``request_time`` bucket of ``bucket_ms`` (epoch-aligned) and/or value
        of ``group_by``; a single row (or none, for no traces) without either."""
        ...

    def model_usage(self, selection: Selection, *, bucket_ms: int | None = None,
                    group_by: GroupKey | None = None,
                    periods: Sequence[int] = ()) -> list[ModelUsageRow]:
        """Tokens and model calls per model (innermost usage-reporting spans, as
        ``entities.model_usage.trace_model_usage`` counts them), per bucket/group, and
        per interval between the epoch-ms boundaries ``periods`` (price changes: a row
        never mixes traces from both sides of a boundary)."""
        ...

    def latency_histogram(self, selection: Selection, edges: Sequence[float]) -> list[int]:
        """How many traces' durations (ms) fall in each ``[edges[i], edges[i+1])``; the
        last bin includes its upper edge."""
        ...

    def span_stats(self, selection: Selection, *,
                   quantiles: Sequence[float] = SPAN_QUANTILES,
                   span_types: Sequence[str] | None = None) -> list[SpanStats]:
        """Span count, errors and durations per span type (rows with ``name=None``) and
        per span type and name, over every span of the selected traces (only the spans of
        ``span_types`` when given: a monitor of one span type reads only those)."""
        ...

    def error_spans(self, selection: Selection) -> list[ErrorSpan]:
        """The ERROR spans where failures originated (no child is an ERROR span), with
        their exception type and message, oldest trace first."""
        ...

    def trace_sample(self, selection: Selection, sample: Sample | None = None, *,
                     spans: bool = False, assessments: bool = True) -> TraceSample:
        """How many traces the selection holds, and per-trace latency, error flag, tokens
        and numeric feedback (the latest valid feedback per name) of all of them or of a
        ``Sample``; with ``spans=True`` also every span's type, name, duration and error
        flag. Reads the selection once."""
        ...

    def numeric_pairs(self, selection: Selection, x: NumericField,
                      y: NumericField) -> NumericPairs:
        """The (x, y) numbers of the traces where both fields read as finite numbers,
        ordered by request time then trace id, and how many traces had each field at all
        and as a number."""
        ...

    def assessment_stats(self, selection: Selection, name: str) -> AssessmentStats:
        """Count, errors, numeric mean and passes of the latest valid feedback called
        ``name`` on each selected trace (what a monitor of a judge reads)."""
        ...


@runtime_checkable
class RunStore(StoreHandle, Protocol):
    """Runs for lineage (see docs/runs.md; rules: ``run_rules``, ``runs_datasets``)."""

    def create_run(self, experiment_id: str, *, run_name: str | None = None,
                   start_time: int | None = None, tags: Mapping[str, Any] | None = None,
                   user_id: str | None = None) -> Run:
        """Start a RUNNING run with its ``artifact_uri`` fixed; ``NotFoundError`` for an
        unknown experiment."""
        ...

    def get_run(self, run_id: str) -> Run:
        """The run with params, latest metrics and tags; ``NotFoundError`` if unknown."""
        ...

    def update_run_info(self, run_id: str, *, status: str | None = None,
                        end_time: int | None = None, run_name: str | None = None) -> RunInfo:
        ...

    def log_batch(self, run_id: str, *, metrics: Iterable[Metric] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        """Params (``str(value)``, never changed once logged: ``InvalidInputError``), tags
        and metric values (all kept as history) in one transaction."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        ...

    def search_runs(self, experiment_ids: Sequence[str] | str | None = None, *,
                    filter_string: str | None = None,
                    order_by: Sequence[str] | str | None = None,
                    max_results: int | None = 1000) -> list[Run]:
        """Runs of these experiments (None: all), AND-only MLflow filter, newest first."""
        ...


@runtime_checkable
class DatasetStore(StoreHandle, Protocol):
    """Versioned evaluation datasets (see docs/datasets.md; rules: ``dataset_rules``)."""

    def create_dataset(self, name: str, *, experiment_ids: Sequence[str] | str | None = None,
                       tags: Mapping[str, Any] | None = None,
                       created_by: str | None = None) -> Dataset:
        """A new empty dataset at version 0; ``InvalidInputError`` if the name is taken."""
        ...

    def get_dataset(self, dataset_id: str) -> Dataset:
        ...

    def get_dataset_by_name(self, name: str) -> Dataset | None:
        ...

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset with all its versions and records."""
        ...

    def search_datasets(self, experiment_ids: Sequence[str] | str | None = None, *,
                        filter_string: str | None = None,
                        order_by: Sequence[str] | str | None = None,
                        max_results: int | None = None) -> list[Dataset]:
        ...

    def set_dataset_tags(self, dataset_id: str, tags: Mapping[str, Any]) -> Dataset:
        """Set tags (a ``None`` value deletes the tag)."""
        ...

    def merge_dataset_records(self, dataset_id: str,
                              records: Sequence[RecordUpdate]) -> MergeResult:
        """Upsert records by inputs as one new version (one transaction)."""
        ...

    def get_dataset_records(self, dataset_id: str, *,
                            version: int | None = None) -> list[DatasetRecord]:
        """The records of a version (default: current), in the order first added."""
        ...

    def list_dataset_versions(self, dataset_id: str) -> list[DatasetVersion]:
        ...


@runtime_checkable
class Store(ExperimentStore, TraceStore, AnalyticsStore, RunStore, DatasetStore, Protocol):
    """Every concern at once: what a tracking URI opens and ``spanscope.tracking`` holds."""
