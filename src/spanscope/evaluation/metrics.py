"""Aggregate metrics of an evaluation: ``NAME/mean`` and friends, per feedback name.

Every feedback name gets ``NAME/count`` (rows with a value) and ``NAME/error_count``
(rows whose scorer failed). Values that count as numbers (numbers, bools and the
``"yes"``/``"no"`` of pass/fail judges as 1/0) get the scorer's aggregations, ``mean`` by
default; other strings are counted only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from spanscope.entities import Feedback

__all__ = ["aggregate", "compute_metrics", "numeric_value"]

_YES_NO = {"yes": 1.0, "no": 0.0}


def numeric_value(value: Any) -> float | None:
    """The number a feedback value counts as, or None (free text, lists, dicts)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return _YES_NO.get(value.strip().lower())
    return None


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    position = 0.9 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def aggregate(name: str, values: list[float]) -> float:
    """One aggregation (mean, min, max, median, variance (population), p90) of ``values``."""
    if name == "mean":
        return statistics.fmean(values)
    if name == "min":
        return min(values)
    if name == "max":
        return max(values)
    if name == "median":
        return float(statistics.median(values))
    if name == "variance":
        return float(statistics.pvariance(values))
    if name == "p90":
        return _p90(values)
    raise ValueError(f"unknown aggregation {name!r}")


def compute_metrics(feedback_rows: Iterable[Sequence[Feedback]],
                    aggregations: dict[str, Sequence[str]]) -> dict[str, float]:
    """Metrics over all rows' feedbacks; ``aggregations`` maps a feedback name to its list."""
    numbers: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    for feedbacks in feedback_rows:
        for feedback in feedbacks:
            name = feedback.name
            counts.setdefault(name, 0)
            errors.setdefault(name, 0)
            numbers.setdefault(name, [])
            if feedback.error is not None:
                errors[name] += 1
                continue
            counts[name] += 1
            number = numeric_value(feedback.value)
            if number is not None:
                numbers[name].append(number)
    metrics: dict[str, float] = {}
    for name in counts:
        if numbers[name]:
            for how in aggregations.get(name, ("mean",)):
                metrics[f"{name}/{how}"] = aggregate(how, numbers[name])
        metrics[f"{name}/count"] = float(counts[name])
        metrics[f"{name}/error_count"] = float(errors[name])
    return metrics
