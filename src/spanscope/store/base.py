"""The ``TraceStore`` protocol: the one seam between capabilities and storage.

Every store (``SqlStore`` for SQLite and PostgreSQL today, ``RestStore`` for a remote
server later) implements it, and nothing above this layer checks which one it holds.
Stores raise only ``spanscope.exceptions`` errors: ``NotFoundError`` for unknown ids,
``InvalidInputError`` for bad arguments, ``StoreError`` when the backend fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
    PagedList,
    Trace,
)
from spanscope.store.mutations import UNSET, Unset

__all__ = ["TraceStore"]


@runtime_checkable
class TraceStore(Protocol):
    """Where traces and experiments live."""

    uri: str

    # --- experiments ------------------------------------------------------------------
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

    # --- traces -----------------------------------------------------------------------
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
    ) -> PagedList[Trace]:
        """One page of the traces matching ``filter_string``, in ``order_by`` order.

        The filter language is ``docs/filter-language.md`` (``FilterError`` if the filter
        or an ``order_by`` item is bad); every store returns exactly the traces
        ``spanscope.query.filter_traces`` returns, in ``spanscope.query.sort_traces``
        order: the ``KEY [ASC|DESC]`` items, then newest first, then trace id, missing
        values last. ``experiment_ids=None`` searches every experiment. The page's
        ``.token`` continues it (a keyset, see ``spanscope.store.keyset``); pass it back
        with the same ``order_by``. With ``include_spans=False`` the traces carry info
        only, read from the summary columns, which is what list views need.
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

    # --- assessments (see docs/assessments.md) -------------------------------------------
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
        updated. Rules: ``spanscope.store.mutations.apply_changes``.
        """
        ...

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment; if it overrode another, that one becomes valid again."""
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...
