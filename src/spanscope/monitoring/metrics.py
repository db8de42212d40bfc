"""A monitor's metric over its window, read from the store's aggregates (never by loading
traces): ``trace_stats`` for counts, errors, latency and tokens, ``model_usage`` priced by
``spanscope.analysis`` for cost, ``assessment_stats`` for judges, ``span_stats`` for spans.

``MetricReader`` serves one pass of the worker: monitors over the same experiments,
filter and window share each aggregate (one query for all of them).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from spanscope.entities.monitor import Monitor
from spanscope.monitoring.definition import span_target
from spanscope.monitoring.states import Measurement
from spanscope.store.aggregates import Selection, TraceStats

if TYPE_CHECKING:
    from spanscope.store.base import AnalyticsStore

__all__ = ["QUANTILES", "MetricReader", "selection_of"]

QUANTILES = (0.5, 0.95, 0.99)
T = TypeVar("T")


def selection_of(monitor: Monitor, now_ms: int) -> Selection:
    """The traces a monitor looks at when evaluated at ``now_ms``: ``[now - window, now)``."""
    return Selection(monitor.experiment_ids, monitor.filter_string,
                     now_ms - monitor.window_ms, now_ms)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class MetricReader:
    """Measures monitors over one store, remembering each aggregate it ran (per pass)."""

    def __init__(self, store: AnalyticsStore) -> None:
        self.store = store
        self._memo: dict[Hashable, Any] = {}
        self.queries = 0  # aggregates actually run (the rest came from the memo)

    def _once(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self.queries += 1
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[no-any-return]

    def _traces(self, selection: Selection) -> TraceStats | None:
        rows = self._once(("trace_stats", selection), lambda: self.store.trace_stats(
            selection, quantiles=QUANTILES))
        return rows[0] if rows else None

    def _cost(self, selection: Selection) -> float | None:
        """The priced cost of the window's model calls: 0.0 without any call, None when
        there were calls but none could be priced (unpriced is never counted as $0)."""
        from spanscope.analysis.pricing import selection_cost

        total = self._once(("cost", selection), lambda: selection_cost(self.store, selection))
        return 0.0 if total.calls == 0 else total.cost

    def measure(self, monitor: Monitor, now_ms: int) -> Measurement:
        """The metric's value over the window ending at ``now_ms`` and its sample size."""
        selection = selection_of(monitor, now_ms)
        kind = monitor.metric.kind
        if kind.startswith("assessment_"):
            name = str(monitor.metric.argument)
            stats = self._once(("assessment_stats", selection, name),
                               lambda: self.store.assessment_stats(selection, name))
            if kind == "assessment_mean":
                return Measurement(stats.mean, stats.numeric_n)
            return Measurement(stats.pass_rate, stats.count - stats.errors)
        if monitor.metric.on_spans:
            return self._spans(monitor, selection)
        row = self._traces(selection)
        traces = row.traces if row else 0
        if kind == "trace_count":
            return Measurement(float(traces), traces)
        if row is None:
            zero = 0.0 if kind in ("tokens_sum", "cost_sum") else None
            return Measurement(zero, 0)
        if kind == "error_rate":
            return Measurement(_ratio(row.errors, traces), traces)
        if kind == "latency_mean":
            return Measurement(row.latency_mean_ms, row.latency_n)
        if kind.startswith("latency_p"):
            return Measurement(row.latency(monitor.metric.quantile or 0.5), row.latency_n)
        if kind == "tokens_sum":
            return Measurement(float(row.total_tokens), traces)
        if kind == "tokens_mean":
            return Measurement(_ratio(row.total_tokens, traces), traces)
        cost = self._cost(selection)
        if kind == "cost_sum":
            return Measurement(cost, traces)
        return Measurement(None if cost is None else cost / traces, traces)  # cost_mean

    def _spans(self, monitor: Monitor, selection: Selection) -> Measurement:
        target = span_target(monitor.filter_string)
        assert target is not None, "check_monitor ensures a span metric names its spans"
        span_type, name = target
        rows = self._once(("span_stats", selection, span_type), lambda: self.store.span_stats(
            selection, quantiles=QUANTILES, span_types=[span_type]))
        row = next((r for r in rows if r.span_type == span_type and r.name == name), None)
        if row is None:
            return Measurement(None, 0)
        if monitor.metric.kind == "span_error_rate":
            return Measurement(_ratio(row.errors, row.count), row.count)
        quantile = monitor.metric.quantile or 0.95
        return Measurement(row.duration_quantiles_ms[QUANTILES.index(quantile)],
                           row.duration_n)
