"""Python functions SQLite lacks for analysis: percentiles and the sample order.

``spanscope_quantiles(value, quantiles_json)`` is an aggregate returning the JSON list of
the group's quantiles, interpolated like ``percentile_cont`` (``store.aggregates.percentile``).
It keeps the group's values in a compact array (8 bytes each: 8 MB per million) and
sorts them once at the end. ``spanscope_sample_key(trace_id, seed)`` is the md5 order
``Sample`` uses, the same text PostgreSQL's ``md5()`` gives. Neither ever raises: an
exception inside a user function would abort the query.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from array import array
from typing import Any

from spanscope.store.aggregates import percentile, sample_key

__all__ = ["register_aggregates"]

logger = logging.getLogger(__name__)
_NUMPY_FROM = 50_000  # sort big groups with numpy: faster and without a float per value


class _Quantiles:
    def __init__(self) -> None:
        self.values = array("d")
        self.spec: str | None = None

    def step(self, value: Any, spec: str) -> None:
        if value is not None:
            try:
                self.values.append(value)
            except TypeError:  # text in a numeric column: not a number, skip it
                return
        if self.spec is None:
            self.spec = spec

    def finalize(self) -> str | None:
        try:
            quantiles = [float(q) for q in json.loads(self.spec or "[]")]
            if len(self.values) >= _NUMPY_FROM:
                import numpy as np

                ordered: Any = np.sort(np.frombuffer(self.values, dtype=np.float64))
            else:
                ordered = sorted(self.values)
            return json.dumps([percentile(ordered, q) for q in quantiles])
        except Exception:  # never raise inside SQLite; log and return no value
            logger.exception("spanscope_quantiles failed")
            return None


def _sample_key(trace_id: str | None, seed: int | None) -> str | None:
    if trace_id is None:
        return None
    return sample_key(trace_id, int(seed or 0))


def register_aggregates(connection: sqlite3.Connection) -> None:
    """Register the functions on a new ``sqlite3`` connection."""
    connection.create_aggregate("spanscope_quantiles", 2, _Quantiles)  # type: ignore[arg-type]
    connection.create_function("spanscope_sample_key", 2, _sample_key, deterministic=True)
