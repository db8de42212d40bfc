"""The ``AnalyticsStore`` methods, written once over each store's aggregate steps.

The checks of a selection and of the options, the answer for a selection of no
experiment, and the canonical row order (``spanscope.store.aggregates``) are decided here;
a store implements only the computation (``_trace_stats`` … over SQL in
``store/sql/aggregates.py``, over entities in ``store/memory_aggregates.py``), so two
stores cannot accept different options or order rows differently.
"""

from __future__ import annotations

from collections.abc import Sequence

from spanscope.exceptions import InvalidInputError
from spanscope.store import aggregates as agg
from spanscope.store import trace_rules

__all__ = ["AnalyticsMethods"]


class AnalyticsMethods:
    """Public aggregate methods over a store's private computations.

    Each step gets a checked selection whose ``experiment_ids`` are canonical and never
    an empty tuple (an empty selection is answered here), and checked options.
    """

    # --- steps each store implements -----------------------------------------------------
    def _trace_stats(self, selection: agg.Selection, bucket_ms: int | None,
                     group_by: agg.GroupKey | None,
                     quantiles: tuple[float, ...]) -> list[agg.TraceStats]:
        raise NotImplementedError

    def _model_usage(self, selection: agg.Selection, bucket_ms: int | None,
                     group_by: agg.GroupKey | None,
                     periods: tuple[int, ...]) -> list[agg.ModelUsageRow]:
        raise NotImplementedError

    def _latency_histogram(self, selection: agg.Selection, edges: list[float]) -> list[int]:
        raise NotImplementedError

    def _span_stats(self, selection: agg.Selection, quantiles: tuple[float, ...],
                    span_types: tuple[str, ...] | None = None) -> list[agg.SpanStats]:
        raise NotImplementedError

    def _error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        raise NotImplementedError

    def _trace_sample(self, selection: agg.Selection, sample: agg.Sample | None,
                      spans: bool, assessments: bool) -> agg.TraceSample:
        raise NotImplementedError

    def _numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                       y: agg.NumericField) -> agg.NumericPairs:
        raise NotImplementedError

    def _assessment_stats(self, selection: agg.Selection, name: str) -> agg.AssessmentStats:
        raise NotImplementedError

    # --- the protocol ----------------------------------------------------------------------
    @staticmethod
    def _checked(selection: agg.Selection) -> agg.Selection | None:
        """The selection with canonical experiment ids; None when it names no experiment."""
        agg.check_selection(selection)
        ids = trace_rules.check_experiment_ids(selection.experiment_ids)
        if ids == []:
            return None
        if ids is not None and tuple(ids) != selection.experiment_ids:
            return agg.Selection(tuple(ids), selection.filter_string, selection.start_ms,
                                 selection.end_ms)
        return selection

    def trace_stats(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None,
                    quantiles: Sequence[float] = agg.TRACE_QUANTILES) -> list[agg.TraceStats]:
        agg.check_options(bucket_ms=bucket_ms, group_by=group_by, quantiles=quantiles)
        if group_by is not None and group_by.kind == "span_type":
            from spanscope.exceptions import InvalidInputError

            raise InvalidInputError("trace_stats cannot group by span type (a trace holds "
                                    "spans of several types); model_usage can")
        checked = self._checked(selection)
        if checked is None:
            return []
        return agg.sort_trace_stats(self._trace_stats(checked, bucket_ms, group_by,
                                                      tuple(quantiles)))

    def model_usage(self, selection: agg.Selection, *, bucket_ms: int | None = None,
                    group_by: agg.GroupKey | None = None,
                    periods: Sequence[int] = ()) -> list[agg.ModelUsageRow]:
        agg.check_options(bucket_ms=bucket_ms, group_by=group_by)
        bounds = agg.check_periods(periods)
        checked = self._checked(selection)
        if checked is None:
            return []
        return agg.sort_model_usage(self._model_usage(checked, bucket_ms, group_by, bounds))

    def latency_histogram(self, selection: agg.Selection, edges: Sequence[float]) -> list[int]:
        bounds = agg.check_edges(edges)
        checked = self._checked(selection)
        if checked is None:
            return [0] * max(0, len(bounds) - 1)
        return self._latency_histogram(checked, bounds)

    def span_stats(self, selection: agg.Selection, *,
                   quantiles: Sequence[float] = agg.SPAN_QUANTILES,
                   span_types: Sequence[str] | None = None) -> list[agg.SpanStats]:
        agg.check_options(quantiles=quantiles)
        if span_types is not None and (isinstance(span_types, str) or not all(
                isinstance(t, str) for t in span_types)):
            raise InvalidInputError(f"span_types must be a list of span type names, "
                                    f"got {span_types!r}")
        checked = self._checked(selection)
        if checked is None:
            return []
        types = None if span_types is None else tuple(sorted(set(span_types)))
        return agg.sort_span_stats(self._span_stats(checked, tuple(quantiles), types))

    def error_spans(self, selection: agg.Selection) -> list[agg.ErrorSpan]:
        checked = self._checked(selection)
        return [] if checked is None else self._error_spans(checked)

    def trace_sample(self, selection: agg.Selection, sample: agg.Sample | None = None, *,
                     spans: bool = False, assessments: bool = True) -> agg.TraceSample:
        agg.check_options(sample=sample)
        checked = self._checked(selection)
        if checked is None:
            return agg.TraceSample(0, [])
        return self._trace_sample(checked, sample, spans, assessments)

    def numeric_pairs(self, selection: agg.Selection, x: agg.NumericField,
                      y: agg.NumericField) -> agg.NumericPairs:
        agg.check_field(x)
        agg.check_field(y)
        checked = self._checked(selection)
        if checked is None:
            none = agg.FieldCoverage(0, 0)
            return agg.NumericPairs([], [], none, none)
        return self._numeric_pairs(checked, x, y)

    def assessment_stats(self, selection: agg.Selection, name: str) -> agg.AssessmentStats:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"an assessment name is a non-empty string, got {name!r}")
        checked = self._checked(selection)
        if checked is None:
            return agg.AssessmentStats(name, 0, 0, 0, 0.0, 0)
        return self._assessment_stats(checked, name)
