"""``profile_trace(trace)``: where one trace's time went, per span type and per span name.

Each row has the count, total, mean, p50 and p95 duration (ms) and the share of the
trace's time. Durations of nested spans overlap (an AGENT span contains its LLM calls),
so shares of ``total`` add up to more than 1; ``self_ms``/``self_share`` count each
moment once (time not covered by a child) and add up to the trace's duration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from spanscope.analysis.structure import TraceIndex
from spanscope.entities import Span, SpanStatusCode, Trace

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ProfileRow", "TraceProfile", "percentile", "profile_trace"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class ProfileRow:
    """Timing of one group of spans (one span type or one span name)."""

    key: str
    count: int
    total_ms: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    share: float  # total_ms over the trace's duration
    self_ms: float
    self_share: float
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TraceProfile:
    """Per-type and per-name rows, each sorted by total time, longest first."""

    trace_id: str
    duration_ms: float
    by_type: list[ProfileRow] = field(default_factory=list)
    by_name: list[ProfileRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "duration_ms": self.duration_ms,
                "by_type": [r.to_dict() for r in self.by_type],
                "by_name": [r.to_dict() for r in self.by_name]}

    def to_pandas(self, by: str = "type") -> pd.DataFrame:
        """The rows as a DataFrame; ``by`` is ``"type"`` (column span_type) or ``"name"``."""
        import pandas as pd

        if by not in ("type", "name"):
            raise ValueError(f"by must be 'type' or 'name', not {by!r}")
        rows = self.by_type if by == "type" else self.by_name
        column = "span_type" if by == "type" else "span_name"
        frame = pd.DataFrame([r.to_dict() for r in rows],
                             columns=[f.name for f in fields(ProfileRow)])
        return frame.rename(columns={"key": column})


def _rows(spans: list[Span], key: Callable[[Span], str], index: TraceIndex,
          trace_ns: int) -> list[ProfileRow]:
    groups: dict[str, list[Span]] = {}
    for span in spans:
        groups.setdefault(key(span), []).append(span)
    rows = []
    for name, members in groups.items():
        durations = [(s.duration_ns or 0) / 1e6 for s in members]
        total = sum(durations)
        self_ms = sum(index.self_time_ns(s) for s in members) / 1e6
        rows.append(ProfileRow(
            key=name, count=len(members), total_ms=round(total, 3),
            mean_ms=round(total / len(members), 3),
            p50_ms=round(percentile(durations, 50) or 0.0, 3),
            p95_ms=round(percentile(durations, 95) or 0.0, 3),
            share=round(total * 1e6 / trace_ns, 4) if trace_ns else 0.0,
            self_ms=round(self_ms, 3),
            self_share=round(self_ms * 1e6 / trace_ns, 4) if trace_ns else 0.0,
            errors=sum(s.status.status_code == SpanStatusCode.ERROR for s in members)))
    return sorted(rows, key=lambda r: (-r.total_ms, r.key))


def profile_trace(trace: Trace) -> TraceProfile:
    """Per span type and per span name timing of ``trace`` (unfinished spans left out)."""
    index = TraceIndex(trace)
    finished = [s for s in index.spans if s.end_time_ns is not None]
    trace_ns = index.duration_ns
    return TraceProfile(
        trace_id=trace.info.trace_id,
        duration_ms=round(trace_ns / 1e6, 3),
        by_type=_rows(finished, lambda s: str(s.span_type), index, trace_ns),
        by_name=_rows(finished, lambda s: s.name, index, trace_ns),
    )
