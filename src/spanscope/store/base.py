"""The ``TraceStore`` protocol: the one seam between capabilities and storage.

Every store (``SqlStore`` for SQLite and PostgreSQL today, ``RestStore`` for a remote
server later) implements it, and nothing above this layer checks which one it holds.
Stores raise only ``spanscope.exceptions`` errors: ``NotFoundError`` for unknown ids,
``InvalidInputError`` for bad arguments, ``StoreError`` when the backend fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from spanscope.entities import Experiment, PagedList, Trace

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
        max_results: int = 100,
        page_token: str | None = None,
        include_spans: bool = True,
    ) -> PagedList[Trace]:
        """Traces newest first (``request_time`` descending, then trace id), one page.

        With ``include_spans=False`` the traces carry info only, read from the summary
        columns, which is what list views need.
        """
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...
