"""``compare``: what changed between two cohorts of traces (versions, environments, dates).

For each cohort the store reads the selection once (``trace_sample``): its size, and the
per-trace numbers and spans of a uniform sample of at most ``sample_size`` traces (every
trace when the cohort is smaller, so then every number is exact). Metrics ``a``/``b``
are computed on those samples (percentiles interpolate linearly, as everywhere), and
every difference ``b - a`` gets a percentile-bootstrap confidence interval from
``resamples`` resamples of them (numpy, seeded, so a seed reproduces it). A difference
is significant when its interval excludes 0; the verdict names significant changes of at
least ``MIN_CHANGE`` (5%).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spanscope.analysis.selection import TimeLike, describe, make_selection, store_for
from spanscope.analysis.stats import bootstrap_diff, bootstrap_intervals
from spanscope.exceptions import InvalidInputError
from spanscope.store.aggregates import Sample, Selection, SpanValue, TraceSample, TraceValues

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from spanscope.store.base import AnalyticsStore

__all__ = ["METRIC_TABLE_COLUMNS", "MIN_CHANGE", "SPAN_TABLE_COLUMNS", "Cohort",
           "CohortComparison", "compare"]

MIN_CHANGE = 0.05
SPAN_BOOTSTRAP_CAP = 2_000
METRIC_TABLE_COLUMNS = ("metric", "a", "b", "diff", "rel_change", "ci_low", "ci_high",
                        "significant", "n_a", "n_b")
SPAN_TABLE_COLUMNS = ("span_type", "span_name", "count_a", "count_b", "p50_a_ms", "p50_b_ms",
                      "p50_diff_ms", "p50_ci_low", "p50_ci_high", "p50_significant",
                      "error_rate_a", "error_rate_b", "error_rate_diff", "error_ci_low",
                      "error_ci_high", "error_significant")
# metric name -> (what it is in a sentence, unit, "worse" direction: +1 up is worse)
_DESCRIBE = {
    "error_rate": ("error rate", "%", 1),
    "latency_p50_ms": ("latency p50", "ms", 1),
    "latency_p95_ms": ("latency p95", "ms", 1),
    "latency_mean_ms": ("mean latency", "ms", 1),
    "input_tokens_per_trace": ("input tokens per trace", "", 1),
    "output_tokens_per_trace": ("output tokens per trace", "", 1),
    "total_tokens_per_trace": ("tokens per trace", "", 1),
}


@dataclass
class Cohort:
    label: str
    filter_string: str | None
    traces: int  # in the cohort
    sampled: int  # of them, read for confidence intervals

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "filter_string": self.filter_string,
                "traces": self.traces, "sampled": self.sampled}


@dataclass
class CohortComparison:
    """``metrics`` (``METRIC_TABLE_COLUMNS``, one row per metric) and ``spans``
    (``SPAN_TABLE_COLUMNS``, one row per span type and name), plus the verdict."""

    a: Cohort
    b: Cohort
    metrics: pd.DataFrame
    spans: pd.DataFrame
    verdict: str
    changes: list[str] = field(default_factory=list)
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0
    selection: Selection | None = None

    def to_dict(self) -> dict[str, Any]:
        from spanscope.analysis._frames import frame_records

        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "verdict": self.verdict,
                "changes": self.changes, "confidence": self.confidence,
                "resamples": self.resamples, "seed": self.seed,
                "metrics": frame_records(self.metrics), "spans": frame_records(self.spans)}


def _stat_quantile(q: float) -> Callable[[np.ndarray], np.ndarray]:
    import numpy as np

    return lambda rows: np.quantile(rows, q, axis=1)


def _stat_mean(rows: np.ndarray) -> np.ndarray:
    return rows.mean(axis=1)


def _trace_arrays(rows: Sequence[TraceValues]) -> dict[str, np.ndarray]:
    import numpy as np

    latency = np.array([r.latency_ms for r in rows if r.latency_ms is not None], dtype=float)
    arrays = {
        "error_rate": np.array([1.0 if r.error else 0.0 for r in rows]),
        "latency_p50_ms": latency, "latency_p95_ms": latency, "latency_mean_ms": latency,
        "input_tokens_per_trace": np.array([float(r.input_tokens or 0) for r in rows]),
        "output_tokens_per_trace": np.array([float(r.output_tokens or 0) for r in rows]),
        "total_tokens_per_trace": np.array([float(r.total_tokens or 0) for r in rows]),
    }
    names = sorted({name for r in rows for name in r.assessments})
    for name in names:
        arrays[f"feedback.{name}"] = np.array(
            [r.assessments[name] for r in rows if name in r.assessments], dtype=float)
    return arrays


def _statistic(metric: str) -> Callable[[np.ndarray], np.ndarray]:
    if metric == "latency_p50_ms":
        return _stat_quantile(0.5)
    if metric == "latency_p95_ms":
        return _stat_quantile(0.95)
    return _stat_mean


def _rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / abs(a)


def _significant(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and (low > 0 or high < 0)


def compare(
    filter_a: str | None,
    filter_b: str | None,
    *,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    labels: tuple[str, str] | None = None,
    sample_size: int = 5_000,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_spans: int = 20,
    store: AnalyticsStore | None = None,
) -> CohortComparison:
    """Compare cohort A (``filter_a``) with cohort B (``filter_b``): per-metric and
    per-span-name latency, error rate, tokens and feedback, with bootstrap confidence
    intervals of ``b - a`` and a plain-language verdict.

    Both cohorts are taken from ``experiment_ids`` (default: the active experiment)
    between ``start`` and ``end``; e.g. ``compare("tags.app_version = '1.4'",
    "tags.app_version = '1.5'")`` or, before and after a release, two filters on
    ``trace.timestamp``. ``min_spans`` is the fewest spans of a name in each sample for
    its latency to be compared.
    """
    import numpy as np
    import pandas as pd

    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise InvalidInputError(f"resamples must be an integer >= 100, got {resamples!r}")
    if not 0.5 <= confidence < 1:
        raise InvalidInputError(f"confidence must be in [0.5, 1), got {confidence!r}")
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 10:
        raise InvalidInputError(f"sample_size must be an integer >= 10, got {sample_size!r}")
    label_a, label_b = labels or (filter_a or "all traces", filter_b or "all traces")
    reader = store_for(store)
    sample = Sample(sample_size, seed)
    selections = [make_selection(f, experiment_ids, start, end) for f in (filter_a, filter_b)]
    # The two cohorts are read at once: each is one pass of the database over its
    # selection, which runs outside the GIL, so on two cores they take the time of one.
    with ThreadPoolExecutor(max_workers=2) as pool:
        samples = list(pool.map(lambda s: reader.trace_sample(s, sample, spans=True),
                                selections))
    drawn: list[tuple[Cohort, TraceSample]] = []
    for (label, filter_string), selection, cohort in zip(
            ((label_a, filter_a), (label_b, filter_b)), selections, samples, strict=True):
        if not cohort.total:
            raise InvalidInputError(f"cohort {label!r} is empty: no traces match "
                                    f"({describe(selection)})")
        drawn.append((Cohort(label, filter_string, cohort.total, len(cohort.traces)), cohort))
    rng = np.random.default_rng(seed)
    (info_a, sample_a), (info_b, sample_b) = drawn
    metric_rows = _metric_rows(info_a, info_b, sample_a.traces, sample_b.traces, resamples,
                               confidence, rng)
    span_rows = _span_rows(sample_a.spans, sample_b.spans, resamples, confidence, rng,
                           min_spans)
    metrics = pd.DataFrame.from_records(metric_rows, columns=list(METRIC_TABLE_COLUMNS))
    spans = pd.DataFrame.from_records(span_rows, columns=list(SPAN_TABLE_COLUMNS))
    changes = _changes(metric_rows, span_rows, info_a, info_b, confidence)
    verdict = _verdict(changes, info_a, info_b, confidence)
    return CohortComparison(a=info_a, b=info_b, metrics=metrics, spans=spans,
                            verdict=verdict, changes=changes, confidence=confidence,
                            resamples=resamples, seed=seed,
                            selection=make_selection(None, experiment_ids, start, end))


def _metric_rows(info_a: Cohort, info_b: Cohort, values_a: Sequence[TraceValues],
                 values_b: Sequence[TraceValues], resamples: int, confidence: float,
                 rng: np.random.Generator) -> list[dict[str, Any]]:
    arrays_a, arrays_b = _trace_arrays(values_a), _trace_arrays(values_b)
    rows = [{"metric": "traces", "a": info_a.traces, "b": info_b.traces,
             "diff": info_b.traces - info_a.traces,
             "rel_change": _rel(info_a.traces, info_b.traces), "ci_low": None,
             "ci_high": None, "significant": False, "n_a": info_a.traces,
             "n_b": info_b.traces}]
    metrics = [*_DESCRIBE, *sorted((set(arrays_a) | set(arrays_b)) - set(_DESCRIBE))]
    intervals = _latency_intervals(arrays_a["latency_p50_ms"], arrays_b["latency_p50_ms"],
                                   resamples, confidence, rng)
    for metric in metrics:
        a_values, b_values = arrays_a.get(metric), arrays_b.get(metric)
        statistic = _statistic(metric)
        a = _point(a_values, statistic)
        b = _point(b_values, statistic)
        low = high = None
        if a is not None and b is not None:
            if metric in intervals:
                low, high = intervals[metric]
            else:
                low, high = bootstrap_diff(a_values, b_values,  # type: ignore[arg-type]
                                           statistic, resamples=resamples,
                                           confidence=confidence, rng=rng)
        rows.append({"metric": metric, "a": a, "b": b,
                     "diff": None if a is None or b is None else b - a,
                     "rel_change": _rel(a, b), "ci_low": low, "ci_high": high,
                     "significant": _significant(low, high),
                     "n_a": 0 if a_values is None else int(a_values.size),
                     "n_b": 0 if b_values is None else int(b_values.size)})
    return rows


def _latency_intervals(a: np.ndarray, b: np.ndarray, resamples: int, confidence: float,
                       rng: np.random.Generator,
                       ) -> dict[str, tuple[float | None, float | None]]:
    """Intervals of the p50, p95 and mean latency differences from the same resamples."""
    import numpy as np

    if a.size == 0 or b.size == 0:
        return {}

    def statistic(rows: np.ndarray) -> np.ndarray:
        quantiles = np.quantile(rows, [0.5, 0.95], axis=1).T
        return np.column_stack([quantiles, rows.mean(axis=1)])

    p50, p95, mean = bootstrap_intervals(a, b, statistic, resamples=resamples,
                                         confidence=confidence, rng=rng)
    return {"latency_p50_ms": p50, "latency_p95_ms": p95, "latency_mean_ms": mean}


def _point(values: np.ndarray | None, statistic: Callable[[np.ndarray], np.ndarray],
           ) -> float | None:
    """The statistic of one sample (None for no values)."""
    if values is None or values.size == 0:
        return None
    return float(statistic(values.reshape(1, -1))[0])


def _span_rows(spans_a: Sequence[SpanValue], spans_b: Sequence[SpanValue], resamples: int,
               confidence: float, rng: np.random.Generator,
               min_spans: int) -> list[dict[str, Any]]:
    import numpy as np

    def grouped(spans: Sequence[SpanValue]) -> dict[tuple[str, str], tuple[list[float],
                                                                          list[float]]]:
        out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for span in spans:
            durations, errors = out.setdefault((span.span_type, span.name), ([], []))
            if span.duration_ms is not None:
                durations.append(span.duration_ms)
            errors.append(1.0 if span.error else 0.0)
        return out

    by_a, by_b = grouped(spans_a), grouped(spans_b)
    rows = []
    for key in sorted(set(by_a) | set(by_b)):
        da, ea = (np.array(v, dtype=float) for v in by_a.get(key, ([], [])))
        db, eb = (np.array(v, dtype=float) for v in by_b.get(key, ([], [])))
        count_a, count_b = ea.size, eb.size
        p50_a = float(np.quantile(da, 0.5)) if da.size else None
        p50_b = float(np.quantile(db, 0.5)) if db.size else None
        er_a = float(ea.mean()) if ea.size else None
        er_b = float(eb.mean()) if eb.size else None
        p_low = p_high = e_low = e_high = None
        if da.size >= min_spans and db.size >= min_spans:
            p_low, p_high = bootstrap_diff(_cap(da, rng), _cap(db, rng), _stat_quantile(0.5),
                                           resamples=resamples, confidence=confidence,
                                           rng=rng)
        if ea.size >= min_spans and eb.size >= min_spans:
            e_low, e_high = bootstrap_diff(_cap(ea, rng), _cap(eb, rng), _stat_mean,
                                           resamples=resamples, confidence=confidence,
                                           rng=rng)
        rows.append({
            "span_type": key[0], "span_name": key[1], "count_a": int(count_a),
            "count_b": int(count_b), "p50_a_ms": p50_a, "p50_b_ms": p50_b,
            "p50_diff_ms": None if p50_a is None or p50_b is None else p50_b - p50_a,
            "p50_ci_low": p_low, "p50_ci_high": p_high,
            "p50_significant": _significant(p_low, p_high),
            "error_rate_a": er_a, "error_rate_b": er_b,
            "error_rate_diff": None if er_a is None or er_b is None else er_b - er_a,
            "error_ci_low": e_low, "error_ci_high": e_high,
            "error_significant": _significant(e_low, e_high)})
    rows.sort(key=lambda r: (-abs(r["p50_diff_ms"] or 0.0), r["span_type"], r["span_name"]))
    return rows


def _cap(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most ``SPAN_BOOTSTRAP_CAP`` of a span name's values (a random subset), so a name
    with many spans per trace does not dominate the work; its interval widens a little."""
    if values.size <= SPAN_BOOTSTRAP_CAP:
        return values
    return rng.choice(values, SPAN_BOOTSTRAP_CAP, replace=False)


def _number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:,.2f} ms"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def _signed(value: float, unit: str) -> str:
    text = _number(abs(value), unit)
    if unit == "%":
        text = f"{abs(value) * 100:.1f} points"
    return ("+" if value >= 0 else "-") + text


def _sentence(what: str, a: float, b: float, low: float, high: float, unit: str,
              confidence: float) -> str:
    rel = _rel(a, b)
    direction = "rose" if b > a else "fell"
    change = f" {abs(rel) * 100:.0f}%" if rel is not None and unit != "%" else ""
    return (f"{what} {direction}{change} ({_number(a, unit)} → {_number(b, unit)}; "
            f"{confidence:.0%} CI {_signed(low, unit)} to {_signed(high, unit)})")


def _big_enough(a: float | None, b: float | None, unit: str) -> bool:
    if a is None or b is None:
        return False
    if unit == "%":  # rates: a change of at least half a point, or 5% relative
        return abs(b - a) >= 0.005 or (a > 0 and abs(b - a) / a >= MIN_CHANGE)
    rel = _rel(a, b)
    return rel is None or abs(rel) >= MIN_CHANGE


def _changes(metric_rows: list[dict[str, Any]], span_rows: list[dict[str, Any]],
             info_a: Cohort, info_b: Cohort, confidence: float) -> list[str]:
    changes = []
    for row in metric_rows:
        if not row["significant"]:
            continue
        what, unit, _ = _DESCRIBE.get(row["metric"], (row["metric"], "", 0))
        if not _big_enough(row["a"], row["b"], unit):
            continue
        changes.append(_sentence(what, row["a"], row["b"], row["ci_low"], row["ci_high"],
                                 unit, confidence))
    for row in span_rows:
        name = f"span {row['span_name']!r} ({row['span_type']})"
        if row["p50_significant"] and _big_enough(row["p50_a_ms"], row["p50_b_ms"], "ms"):
            changes.append(_sentence(f"{name} p50", row["p50_a_ms"], row["p50_b_ms"],
                                     row["p50_ci_low"], row["p50_ci_high"], "ms", confidence))
        if row["error_significant"] and _big_enough(row["error_rate_a"], row["error_rate_b"],
                                                    "%"):
            changes.append(_sentence(f"{name} error rate", row["error_rate_a"],
                                     row["error_rate_b"], row["error_ci_low"],
                                     row["error_ci_high"], "%", confidence))
        if row["count_a"] == 0 and row["count_b"] >= 1:
            changes.append(f"{name} appears only in {info_b.label}")
        elif row["count_b"] == 0 and row["count_a"] >= 1:
            changes.append(f"{name} appears only in {info_a.label}")
    return changes


def _verdict(changes: list[str], info_a: Cohort, info_b: Cohort, confidence: float) -> str:
    head = (f"{info_b.label} ({info_b.traces:,} traces) vs {info_a.label} "
            f"({info_a.traces:,} traces): ")
    if not changes:
        return head + (f"no significant change at {confidence:.0%} confidence "
                       f"(differences under {MIN_CHANGE:.0%} are not reported).")
    listed = changes[:5]
    more = f"; and {len(changes) - 5} more" if len(changes) > 5 else ""
    return head + "; ".join(listed) + more + "."

