"""Python functions SQLite lacks for analysis: percentiles and the sample order.

Percentiles: a group's values arrive as one ``json_group_array`` (the array is built in
C, so no Python runs per row) and ``json_quantiles`` interpolates them like
``percentile_cont`` (``store.aggregates.percentile``), sorting big groups with numpy (8
bytes a value: 8 MB per million). ``spanscope_sample_key(trace_id, seed)`` is the md5
order ``Sample`` uses, the same text PostgreSQL's ``md5()`` gives; it never raises (an
exception inside a user function would abort the query).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from spanscope.store.aggregates import percentile, sample_key

__all__ = ["difference", "json_quantiles", "register_aggregates", "sorted_numbers"]

_NUMPY_FROM = 100  # numpy from here: parses and sorts 2x faster than a list (the time
# panel holds ~700 buckets of ~1,400 values at a million traces), 8 bytes a value


def json_quantiles(raw: str | None, quantiles: Sequence[float]) -> tuple[float | None, ...]:
    """The ``quantiles`` of the numbers in a JSON array (nulls and text left out, as
    ``percentile_cont`` leaves out NULLs); None each for an array without numbers."""
    values = json.loads(raw) if raw else []
    ordered: Any
    if len(values) >= _NUMPY_FROM:
        import numpy as np

        try:  # numbers and nulls (NaN here) only: the usual case, converted in C
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.array(_numbers(values), dtype=np.float64)
        ordered = np.sort(array[~np.isnan(array)])
    else:
        ordered = sorted(_numbers(values))
    return tuple(percentile(ordered, float(q)) for q in quantiles)


def difference(ordered: Any, parts: Sequence[Any]) -> Any:
    """The sorted numpy array ``ordered`` less the numbers of the arrays ``parts`` (a
    multiset difference: each number of a part removes one equal number), sorted. What a
    group of traces holds when its values are the selection's minus the other groups'
    (``aggregates._trace_stats_by_value``): the k-th copy of a number in the parts removes
    the k-th copy in the whole, found by binary search."""
    import numpy as np

    removed = np.sort(np.concatenate(parts)) if parts else ordered[:0]
    if not len(removed):
        return ordered
    at = (np.searchsorted(ordered, removed, "left")
          + np.arange(len(removed)) - np.searchsorted(removed, removed, "left"))
    found = at < len(ordered)
    found[found] = ordered[at[found]] == removed[found]
    keep = np.ones(len(ordered), dtype=bool)
    keep[at[found]] = False
    return ordered[keep]


def sorted_numbers(raw: str | None) -> Any:
    """The numbers of a JSON array as a sorted numpy array, nulls and text left out."""
    import numpy as np

    values = json.loads(raw) if raw else []
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.array(_numbers(values), dtype=np.float64)
    return np.sort(array[~np.isnan(array)])


def _numbers(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _sample_key(trace_id: str | None, seed: int | None) -> str | None:
    if trace_id is None:
        return None
    return sample_key(trace_id, int(seed or 0))


def register_aggregates(connection: sqlite3.Connection) -> None:
    """Register the functions on a new ``sqlite3`` connection."""
    connection.create_function("spanscope_sample_key", 2, _sample_key, deterministic=True)
