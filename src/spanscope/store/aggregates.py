"""Types of the store's aggregate queries (``TraceStore.trace_stats`` and friends).

Analysis over many traces runs in the store: SQL in ``SqlStore``, plain Python over the
reference filter evaluator in ``InMemoryStore`` (which is what the SQL is tested against).
These plain dataclasses are what both return; ``analysis`` turns them into DataFrames.

Percentiles everywhere are the linear interpolation between closest ranks (numpy's default
``method="linear"``, PostgreSQL's ``percentile_cont``): for sorted values ``x`` and
quantile ``q``, ``h = (n - 1) * q`` and the result is ``x[floor(h)]`` plus the fraction of
``h`` times the step to the next value. Durations are milliseconds as floats.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ATTRIBUTE_FIELDS",
    "SPAN_QUANTILES",
    "TRACE_QUANTILES",
    "AssessmentStats",
    "ErrorSpan",
    "FieldCoverage",
    "GroupKey",
    "ModelUsageRow",
    "NumericField",
    "NumericPairs",
    "Sample",
    "Selection",
    "SpanStats",
    "SpanValue",
    "TraceSample",
    "TraceStats",
    "TraceValues",
    "as_dict",
    "exception_of",
    "histogram_bin",
    "percentile",
    "percentiles",
    "sample_key",
]

TRACE_QUANTILES = (0.5, 0.95, 0.99)
SPAN_QUANTILES = (0.5, 0.95)
# Numeric trace attributes ``NumericField("attribute", ...)`` can name.
ATTRIBUTE_FIELDS = ("latency_ms", "input_tokens", "output_tokens", "total_tokens",
                    "span_count", "request_time")


@dataclass(frozen=True)
class Selection:
    """Which traces an aggregate reads.

    ``experiment_ids=None`` is every experiment; ``filter_string`` is the filter language;
    ``start_ms``/``end_ms`` bound ``request_time`` (epoch ms; start inclusive, end
    exclusive).
    """

    experiment_ids: tuple[str, ...] | None = None
    filter_string: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def in_window(self, request_time: int) -> bool:
        return ((self.start_ms is None or request_time >= self.start_ms)
                and (self.end_ms is None or request_time < self.end_ms))


@dataclass(frozen=True)
class GroupKey:
    """Group traces by the value of one tag or metadata key (missing: group ``None``).

    ``GroupKey("span_type")`` groups model usage by the type of the span that reported
    it (``model_usage`` only: a trace holds spans of several types). ``GroupKey("trace")``
    makes each trace its own group (its id), for a page of traces: the trace list's cost
    column is one ``model_usage`` query over its page, not one per row.
    """

    kind: Literal["tag", "metadata", "span_type", "trace"]
    key: str = ""


@dataclass(frozen=True)
class Sample:
    """At most ``size`` traces, chosen by ``sample_key(trace_id, seed)`` (smallest first).

    The choice is a function of the trace ids only, so every store picks the same traces
    and a seed reproduces a sample.
    """

    size: int
    seed: int = 0


@dataclass(frozen=True)
class NumericField:
    """A number per trace: ``attribute`` (one of ``ATTRIBUTE_FIELDS``), the value of a
    ``tag`` or ``metadata`` key that reads as a number, or an ``assessment``'s numeric
    value (the latest valid one of that name; booleans are 1 and 0)."""

    kind: Literal["attribute", "tag", "metadata", "assessment"]
    key: str


@dataclass
class TraceStats:
    """Trace-level aggregates of one time bucket and/or group (both None: all traces)."""

    bucket_ms: int | None
    group: str | None
    traces: int
    errors: int
    in_progress: int
    latency_n: int  # traces with a duration (finished ones)
    latency_sum_ms: float
    latency_min_ms: float | None
    latency_max_ms: float | None
    quantiles: tuple[float, ...]
    latency_quantiles_ms: tuple[float | None, ...]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    first_ms: int | None
    last_ms: int | None

    @property
    def latency_mean_ms(self) -> float | None:
        return self.latency_sum_ms / self.latency_n if self.latency_n else None

    def latency(self, q: float) -> float | None:
        return self.latency_quantiles_ms[self.quantiles.index(q)]


@dataclass
class AssessmentStats:
    """One feedback name over the selected traces: the latest valid feedback of that name
    on each trace (as the filter's ``feedback.NAME`` reads it).

    ``count`` traces have one; ``errors`` of those carry an error instead of a value;
    ``numeric_n`` read as a number (booleans and ``"yes"``/``"no"`` are 1 and 0) summing
    to ``numeric_sum``; ``passed`` are ``true`` or ``"yes"`` (any case).
    """

    name: str
    count: int
    errors: int
    numeric_n: int
    numeric_sum: float
    passed: int

    @property
    def mean(self) -> float | None:
        return self.numeric_sum / self.numeric_n if self.numeric_n else None

    @property
    def pass_rate(self) -> float | None:
        """Passed among the feedbacks with a value (errors left out)."""
        judged = self.count - self.errors
        return self.passed / judged if judged else None


@dataclass
class ModelUsageRow:
    """Tokens one model consumed in the selected traces (``model`` "" when unnamed).

    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are part of
    ``input_tokens``, ``reasoning_tokens`` part of ``output_tokens``. ``period_ms`` is
    the start of the ``periods`` interval the traces fall in (None before the first
    boundary, or when not split); ``first_ms``/``last_ms`` bound their request times, so
    a price can be chosen by date (``spanscope.analysis.pricing.cost_of``).
    """

    bucket_ms: int | None
    group: str | None
    model: str
    traces: int
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    period_ms: int | None = None
    first_ms: int | None = None
    last_ms: int | None = None


@dataclass
class SpanStats:
    """Span durations of one span type (and name, when grouped by name)."""

    span_type: str
    name: str | None
    count: int
    errors: int
    duration_n: int
    total_ms: float
    max_ms: float | None
    quantiles: tuple[float, ...]
    duration_quantiles_ms: tuple[float | None, ...]

    @property
    def mean_ms(self) -> float | None:
        return self.total_ms / self.duration_n if self.duration_n else None


@dataclass
class ErrorSpan:
    """An ERROR span where a failure originated: none of its children is an ERROR span.

    ``exception_type``/``exception_message`` come from the span's last ``exception``
    event; ``status_message`` is the span status description. ``trace_failed``: the
    span's trace ended in ERROR (read with its request time, so error patterns need not
    list the failed traces again; None from a store that does not say).
    """

    trace_id: str
    span_id: str
    name: str
    span_type: str
    request_time: int
    exception_type: str | None
    exception_message: str | None
    status_message: str | None
    trace_failed: bool | None = None


@dataclass
class TraceValues:
    """One trace's summary numbers, for bootstrap and cohort comparisons."""

    trace_id: str
    request_time: int
    latency_ms: float | None
    error: bool
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    assessments: dict[str, float] = field(default_factory=dict)


@dataclass
class SpanValue:
    trace_id: str
    span_type: str
    name: str
    duration_ms: float | None
    error: bool


@dataclass
class TraceSample:
    """Per-trace numbers of the selected traces (or of a ``Sample`` of them).

    ``total`` is how many traces the selection holds; ``traces`` are ordered by request
    time then trace id; ``spans`` (when asked for) are the sampled traces' spans, ordered
    by trace id then span id.
    """

    total: int
    traces: list[TraceValues]
    spans: list[SpanValue] = field(default_factory=list)


@dataclass
class FieldCoverage:
    """How many selected traces have the field, how many of those read as a number, and
    one value that does not (for the error message)."""

    present: int
    numeric: int
    example: str | None = None


@dataclass
class NumericPairs:
    x: list[float]
    y: list[float]
    x_coverage: FieldCoverage
    y_coverage: FieldCoverage


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values by linear interpolation (None when empty)."""
    n = len(ordered)
    if n == 0:
        return None
    h = (n - 1) * q
    low = math.floor(h)
    high = min(low + 1, n - 1)
    return float(ordered[low] + (h - low) * (ordered[high] - ordered[low]))


def percentiles(values: Sequence[float], quantiles: Sequence[float]) -> tuple[float | None, ...]:
    ordered = sorted(values)
    return tuple(percentile(ordered, q) for q in quantiles)


def sample_key(trace_id: str, seed: int) -> str:
    """The sort key of ``Sample``: md5 hex of ``"<seed>:<trace_id>"`` (as PostgreSQL's md5)."""
    return hashlib.md5(f"{seed}:{trace_id}".encode()).hexdigest()


def histogram_bin(value: float, edges: Sequence[float]) -> int | None:
    """Index of the bin ``[edges[i], edges[i+1])`` holding ``value``; the last bin is closed.

    Values below the first edge or above the last fall in no bin (None).
    """
    if not edges or value < edges[0] or value > edges[-1]:
        return None
    for i in range(len(edges) - 1):
        if value < edges[i + 1]:
            return i
    return len(edges) - 2


def as_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a JSON-friendly dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(obj).items()}


def exception_of(events: Sequence[Any]) -> tuple[str | None, str | None]:
    """(type, message) of the last ``exception`` event (dicts of the trace JSON)."""
    for event in reversed(list(events)):
        if isinstance(event, dict) and event.get("name") == "exception":
            attributes = event.get("attributes") or {}
            if not isinstance(attributes, dict):
                return None, None
            return _text(attributes.get("exception.type")), _text(
                attributes.get("exception.message"))
    return None, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


# --- checks and canonical order, shared by every store --------------------------------------
def check_selection(selection: Selection) -> Selection:
    """``InvalidInputError`` for a malformed selection; returns it."""
    from spanscope.exceptions import InvalidInputError

    if not isinstance(selection, Selection):
        raise InvalidInputError(f"expected a Selection, got {type(selection).__name__}")
    if selection.filter_string is not None and not isinstance(selection.filter_string, str):
        raise InvalidInputError(f"filter_string must be a string, got "
                                f"{type(selection.filter_string).__name__}")
    for name in ("start_ms", "end_ms"):
        value = getattr(selection, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInputError(f"{name} must be epoch milliseconds (an int), got {value!r}")
    return selection


def check_options(*, bucket_ms: int | None = None, group_by: GroupKey | None = None,
                  quantiles: Sequence[float] = (), sample: Sample | None = None) -> None:
    from spanscope.exceptions import InvalidInputError

    if bucket_ms is not None and (isinstance(bucket_ms, bool) or not isinstance(bucket_ms, int)
                                  or bucket_ms < 1):
        raise InvalidInputError(f"bucket_ms must be a positive integer, got {bucket_ms!r}")
    if group_by is not None and (not isinstance(group_by, GroupKey) or not (
            (group_by.kind in ("tag", "metadata") and isinstance(group_by.key, str)
             and group_by.key) or (group_by.kind in ("span_type", "trace")
                                   and group_by.key == ""))):
        raise InvalidInputError(f"group_by must be GroupKey('tag'|'metadata', KEY), "
                                f"GroupKey('span_type') or GroupKey('trace'), got {group_by!r}")
    for q in quantiles:
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise InvalidInputError(f"quantiles must be numbers in [0, 1], got {q!r}")
    if sample is not None and (not isinstance(sample, Sample) or isinstance(sample.size, bool)
                               or not isinstance(sample.size, int) or sample.size < 1):
        raise InvalidInputError(f"sample must be Sample(size >= 1, seed), got {sample!r}")


def check_field(field: NumericField) -> NumericField:
    from spanscope.exceptions import InvalidInputError

    if not isinstance(field, NumericField) or field.kind not in (
            "attribute", "tag", "metadata", "assessment") or not field.key:
        raise InvalidInputError(f"not a numeric field: {field!r}")
    if field.kind == "attribute" and field.key not in ATTRIBUTE_FIELDS:
        raise InvalidInputError(f"unknown numeric attribute {field.key!r}; known: "
                                f"{', '.join(ATTRIBUTE_FIELDS)}")
    return field


def check_edges(edges: Sequence[float]) -> list[float]:
    from spanscope.exceptions import InvalidInputError

    values = [float(e) for e in edges]
    if any(not math.isfinite(v) for v in values) or any(
            b <= a for a, b in itertools.pairwise(values)):
        raise InvalidInputError("histogram edges must be finite and strictly increasing")
    return values


def _group_order(group: str | None) -> tuple[bool, str]:
    return group is None, group or ""


def sort_trace_stats(rows: list[TraceStats]) -> list[TraceStats]:
    """Canonical order: by bucket, then group (traces without the key last)."""
    return sorted(rows, key=lambda r: (r.bucket_ms or 0, *_group_order(r.group)))


def sort_model_usage(rows: list[ModelUsageRow]) -> list[ModelUsageRow]:
    return sorted(rows, key=lambda r: (r.bucket_ms or 0, *_group_order(r.group), r.model,
                                       r.period_ms is not None, r.period_ms or 0))


def check_periods(periods: Sequence[int]) -> tuple[int, ...]:
    """``periods`` as a sorted tuple of distinct epoch-ms boundaries (``InvalidInputError``
    for anything but integers)."""
    from spanscope.exceptions import InvalidInputError

    if isinstance(periods, (str, bytes)) or not isinstance(periods, Sequence):
        raise InvalidInputError(f"periods must be a list of epoch milliseconds, got {periods!r}")
    for value in periods:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"periods must be epoch milliseconds (ints), got {value!r}")
    if len(set(periods)) > 1000:
        raise InvalidInputError("periods: at most 1000 boundaries")
    return tuple(sorted(set(periods)))


def period_of(request_time: int, periods: Sequence[int]) -> int | None:
    """The largest boundary of sorted ``periods`` at or before ``request_time`` (None if
    none is)."""
    found = None
    for boundary in periods:
        if boundary > request_time:
            break
        found = boundary
    return found


def sort_span_stats(rows: list[SpanStats]) -> list[SpanStats]:
    """By span type; the type's own row (``name=None``) before its names."""
    return sorted(rows, key=lambda r: (r.span_type, r.name is not None, r.name or ""))
