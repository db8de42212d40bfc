"""The experiment, trace, tag, deletion and assessment half of a store, written once.

``SqlStore`` and ``InMemoryStore`` inherit these public methods (the ``ExperimentStore``
and ``TraceStore`` protocols of ``store/base.py``) and implement only the small storage
steps declared below them (``_insert_experiment``, ``_write_traces``, ``_set_tag``,
``_assessments`` …). Every argument check, every "not found" message and the history
rules of assessments (``trace_rules``, ``assessment_rules``) run here, so the stores
cannot drift: a 257-character experiment name or an override of an overridden assessment
is refused by the same code whichever store holds the data. Runs and datasets have the same shape in
``store/runs_datasets.py``, aggregates in ``store/analytics_methods.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from spanscope.entities import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Experiment,
    PagedList,
    Trace,
)
from spanscope.exceptions import InvalidInputError
from spanscope.query.highlight import with_highlights
from spanscope.store import assessment_rules, trace_rules
from spanscope.store.assessment_rules import UNSET, Unset
from spanscope.store.stored import StoredTrace, stored_pages

logger = logging.getLogger(__name__)

__all__ = ["AssessmentBook", "TraceMethods"]

T = TypeVar("T")


class AssessmentBook(Protocol):
    """The assessments of one trace, inside one transaction of a store (its storage steps).

    ``SqlStore`` implements it over a connection holding the trace's row lock,
    ``InMemoryStore`` over the trace's list under the store's lock. Objects read from it
    are the book's to give away; objects written to it are copied or encoded, never kept.
    """

    def find(self, assessment_id: str) -> Assessment | None:
        """The trace's assessment with this id, as stored (None if it has none)."""
        ...

    def owner_of(self, assessment_id: str) -> str | None:
        """The trace (any trace of the store) already holding this assessment id."""
        ...

    def overriding(self, assessment_id: str) -> list[Assessment]:
        """The trace's assessments whose ``overrides`` is this id."""
        ...

    def add(self, assessment: Assessment) -> None:
        """Store a new assessment after the trace's others."""
        ...

    def replace(self, assessment: Assessment) -> None:
        """Rewrite the stored assessment with the same id, in its place."""
        ...

    def remove(self, assessment_id: str) -> None:
        """Delete the assessment with this id (it exists)."""
        ...


class TraceMethods:
    """Public experiment and trace methods over a store's private storage steps."""

    uri: str

    # --- storage steps each store implements ---------------------------------------------
    def _insert_experiment(self, name: str, now: int) -> str | None:
        """Create an experiment named ``name`` and return its id; None if the name is taken."""
        raise NotImplementedError

    def _experiment(self, experiment_id: str) -> Experiment | None:
        """The experiment with this (canonical) id, or None."""
        raise NotImplementedError

    def _experiment_named(self, name: str) -> Experiment | None:
        raise NotImplementedError

    def _all_experiments(self) -> list[Experiment]:
        raise NotImplementedError

    def _write_traces(self, traces: list[Trace]) -> None:
        """Write or upsert a non-empty batch in one transaction (all or nothing)."""
        raise NotImplementedError

    def _trace(self, trace_id: str) -> Trace | None:
        raise NotImplementedError

    def _search(self, experiment_ids: list[str] | None, filter_string: str | None,
                order_by: Sequence[str] | None, max_results: int, page_token: str | None,
                include_spans: bool) -> PagedList[Trace]:
        """One page in the reference order (``experiment_ids`` is None or non-empty)."""
        raise NotImplementedError

    def _search_ids(self, experiment_ids: list[str] | None, filter_string: str | None,
                    max_results: int | None) -> list[str]:
        raise NotImplementedError

    def _set_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a checked tag; ``trace_rules.trace_not_found`` for an unknown trace."""
        raise NotImplementedError

    def _delete_tag(self, trace_id: str, key: str) -> bool:
        """Remove a tag; False if the trace has no such tag (``trace_not_found`` if no trace)."""
        raise NotImplementedError

    def _delete_ids(self, trace_ids: list[str], experiment_id: str | None,
                    dry_run: bool) -> int:
        """Delete these distinct ids (only those in ``experiment_id`` when given)."""
        raise NotImplementedError

    def _delete_older(self, experiment_id: str, max_timestamp_millis: int,
                      max_traces: int | None, dry_run: bool) -> int:
        """Delete the experiment's traces up to that time, in ``trace_rules.deletion_order``."""
        raise NotImplementedError

    def _assessments(self, trace_id: str, action: str, work: Callable[[AssessmentBook], T],
                     *, write: bool) -> T:
        """Run ``work`` on the trace's ``AssessmentBook`` in one transaction (locked for
        ``write``); ``trace_rules.trace_not_found`` for an unknown trace."""
        raise NotImplementedError

    # --- experiments -----------------------------------------------------------------------
    def create_experiment(self, name: str) -> str:
        """Create an experiment and return its id; ``InvalidInputError`` if the name is taken."""
        name = trace_rules.check_experiment_name(name)
        experiment_id = self._insert_experiment(name, trace_rules.now_ms())
        if experiment_id is None:
            raise InvalidInputError(f"experiment {name!r} already exists")
        return experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; ``NotFoundError`` if there is none (or it is no id)."""
        try:
            key = trace_rules.check_experiment_id(experiment_id)
        except InvalidInputError:
            raise trace_rules.experiment_not_found(experiment_id) from None
        found = self._experiment(key)
        if found is None:
            raise trace_rules.experiment_not_found(experiment_id)
        return found

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str):
            raise InvalidInputError(f"experiment name must be a string, got {name!r}")
        return self._experiment_named(name)

    def list_experiments(self) -> list[Experiment]:
        """Every experiment, by id (``Default``, id ``0``, first)."""
        return sorted(self._all_experiments(), key=lambda e: int(e.experiment_id))

    # --- traces ----------------------------------------------------------------------------
    def log_traces(self, traces: Sequence[Trace]) -> None:
        batch = [self._within_limits(trace) for trace in traces]
        if batch:
            self._write_traces(batch)

    @staticmethod
    def _within_limits(trace: Trace) -> Trace:
        """``trace_rules.within_limits``, logged once per trace cleaned. The SDK's exporter
        has already done this (and counted it); traces from OTLP, the REST API or an import
        are cleaned here, whatever the store."""
        cleaned, fixes = trace_rules.within_limits(trace)
        if fixes:
            from spanscope.entities.limits import CLEANED_FIELDS_TAG

            logger.warning("trace %s: %d field(s) cut or cleaned to fit the limits (%s); the "
                           "trace is kept and its tag %s lists them", trace.info.trace_id,
                           len(fixes), "; ".join(fixes)[:300], CLEANED_FIELDS_TAG)
        return cleaned

    def get_trace(self, trace_id: str) -> Trace:
        found = self._trace(trace_id) if isinstance(trace_id, str) else None
        if found is None:
            raise trace_rules.trace_not_found(trace_id)
        return found

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
        limit = trace_rules.check_max_results(max_results)
        assert limit is not None
        ids = trace_rules.check_experiment_ids(experiment_ids)
        filter_string = trace_rules.check_filter_string(filter_string)
        if ids == []:
            return PagedList([], None)
        if not highlight:
            return self._search(ids, filter_string, order_by, limit, page_token, include_spans)
        page = self._search(ids, filter_string, order_by, limit, page_token, True)
        return with_highlights(page, filter_string, include_spans=include_spans)

    def stored_trace_pages(self, experiment_id: str, *, filter_string: str | None = None,
                           page_size: int = 500,
                           summary: bool = True) -> Iterator[list[StoredTrace]]:
        """The experiment's traces that ``filter_string`` selects, newest first, as
        ``StoredTrace`` pages of ``page_size`` (what an export copies out); without
        ``summary`` a store may leave the Parquet summary fields out (None). The arguments
        are checked before the first page (``FilterError``, ``InvalidInputError``)."""
        limit = trace_rules.check_max_results(page_size)
        assert limit is not None
        experiment = trace_rules.check_experiment_id(experiment_id)
        filter_string = trace_rules.check_filter_string(filter_string)
        return self._stored_pages(experiment, filter_string, limit, summary)

    def _stored_pages(self, experiment_id: str, filter_string: str | None,
                      page_size: int, summary: bool) -> Iterator[list[StoredTrace]]:
        """Pages for checked arguments; a store with a faster read than entities replaces it."""
        self._search([experiment_id], filter_string, None, 1, None, False)  # checks the filter
        return stored_pages(self, experiment_id, filter_string, page_size)  # type: ignore[arg-type]

    def search_trace_ids(
        self,
        experiment_ids: Sequence[str] | None = None,
        *,
        filter_string: str | None = None,
        max_results: int | None = None,
    ) -> list[str]:
        limit = trace_rules.check_max_results(max_results, optional=True)
        ids = trace_rules.check_experiment_ids(experiment_ids)
        filter_string = trace_rules.check_filter_string(filter_string)
        if ids == []:
            return []
        return self._search_ids(ids, filter_string, limit)

    # --- tags (see docs/tags-and-deletion.md) -------------------------------------------------
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        trace_id = trace_rules.check_trace_id(trace_id)
        trace_rules.check_tag_value(trace_rules.check_tag_key(key, trace_id), value, trace_id)
        self._set_tag(trace_id, key, value)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        trace_id = trace_rules.check_trace_id(trace_id)
        trace_rules.check_tag_key(key, trace_id)
        if not self._delete_tag(trace_id, key):
            raise trace_rules.tag_not_found(trace_id, key)

    # --- deletion ----------------------------------------------------------------------------
    def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> int:
        request = trace_rules.check_delete(experiment_id, max_timestamp_millis, max_traces,
                                           trace_ids)
        experiment = self.get_experiment(request.experiment_id).experiment_id
        if request.max_timestamp_millis is None:
            return self._delete_ids(request.trace_ids or [], experiment, dry_run)
        return self._delete_older(experiment, request.max_timestamp_millis,
                                  request.max_traces, dry_run)

    def delete_trace_ids(self, trace_ids: Sequence[str], *, dry_run: bool = False) -> int:
        return self._delete_ids(trace_rules.check_trace_ids(trace_ids), None, dry_run)

    # --- assessments (see docs/assessments.md) ---------------------------------------------
    @staticmethod
    def _found(book: AssessmentBook, trace_id: str, assessment_id: str) -> Assessment:
        found = book.find(assessment_id)
        if found is None:
            raise assessment_rules.assessment_not_found(trace_id, assessment_id)
        if found.trace_id is None:  # imported without one: it belongs to this trace
            found.trace_id = trace_id
        return found

    def create_assessment(self, assessment: Assessment) -> Assessment:
        assessment_rules.check_assessment(assessment)
        trace_id = str(assessment.trace_id)

        def work(book: AssessmentBook) -> Assessment:
            owner = book.owner_of(assessment.assessment_id)
            assessment_rules.check_assessment_id_free(assessment, owner)
            if assessment.overrides is not None:
                book.replace(assessment_rules.invalidated(
                    self._found(book, trace_id, assessment.overrides)))
            book.add(assessment)
            return assessment

        return self._assessments(
            trace_id, f"create assessment {assessment.name!r} on trace {trace_id!r}", work,
            write=True)

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        trace_id, assessment_id = assessment_rules.check_assessment_ref(trace_id, assessment_id)
        return self._assessments(trace_id, f"get assessment {assessment_id!r}",
                                 lambda book: self._found(book, trace_id, assessment_id),
                                 write=False)

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
        trace_id, assessment_id = assessment_rules.check_assessment_ref(trace_id, assessment_id)
        changes = assessment_rules.AssessmentChanges(name=name, value=value, rationale=rationale,
                                          metadata=metadata, error=error, source=source)

        def work(book: AssessmentBook) -> Assessment:
            edited, new = assessment_rules.apply_changes(self._found(book, trace_id, assessment_id),
                                              changes)
            book.replace(edited)
            if new is None:
                return edited
            book.add(new)
            return new

        return self._assessments(trace_id, f"update assessment {assessment_id!r}", work,
                                 write=True)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete; the assessment it overrode becomes valid again if it was the current one.

        Deleting one from the middle of a history (an invalid one) re-links its successor to
        its predecessor, so ``overrides`` never points at a deleted id.
        """
        trace_id, assessment_id = assessment_rules.check_assessment_ref(trace_id, assessment_id)

        def work(book: AssessmentBook) -> None:
            gone = self._found(book, trace_id, assessment_id)
            book.remove(assessment_id)
            successors = book.overriding(assessment_id)
            previous = None if successors or gone.overrides is None else book.find(
                gone.overrides)
            for changed in assessment_rules.relinked_after_delete(gone, successors, previous):
                book.replace(changed)

        self._assessments(trace_id, f"delete assessment {assessment_id!r}", work, write=True)
