"""Filtering and ordering runs and datasets, the same way in every store.

Stores read the candidate runs (or datasets) of the requested experiments and pass them
here: the filter (``spanscope.query.parse_entity_filter``) and order are applied in Python.
Runs and datasets number in the hundreds or thousands per experiment, not millions like
traces, so this keeps one definition of the semantics without a SQL compiler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanscope.entities.dataset import Dataset
from spanscope.entities.run import Run
from spanscope.exceptions import InvalidInputError
from spanscope.query import (
    EntityFields,
    filter_entities,
    parse_entity_filter,
    parse_entity_order_by,
    sort_entities,
)

__all__ = ["DATASET_FIELDS", "RUN_FIELDS", "check_max_results", "select_datasets",
           "select_runs"]

RUN_FIELDS = EntityFields(
    kinds=frozenset({"param", "metric", "tag"}),
    attributes=frozenset({"run_id", "run_name", "status", "start_time", "end_time",
                          "artifact_uri", "user_id", "experiment_id", "lifecycle_stage"}),
    numeric_attributes=frozenset({"start_time", "end_time"}),
    what="search_runs filter",
)

DATASET_FIELDS = EntityFields(
    kinds=frozenset({"tag"}),
    attributes=frozenset({"dataset_id", "name", "digest", "created_time",
                          "last_update_time", "created_by", "version", "record_count"}),
    numeric_attributes=frozenset({"created_time", "last_update_time", "version",
                                  "record_count"}),
    what="search_datasets filter",
)


def _run_value(run: Run, kind: str, key: str) -> Any:
    if kind == "param":
        return run.data.params.get(key)
    if kind == "metric":
        return run.data.metrics.get(key)
    if kind == "tag":
        return run.data.tags.get(key)
    return getattr(run.info, key)


def _dataset_value(dataset: Dataset, kind: str, key: str) -> Any:
    if kind == "tag":
        return dataset.tags.get(key)
    return getattr(dataset, key)


def check_max_results(max_results: Any, *, allow_none: bool = True) -> int | None:
    if max_results is None and allow_none:
        return None
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidInputError(f"max_results must be an integer >= 1, got {max_results!r}")
    return max_results


def select_runs(runs: Sequence[Run], *, filter_string: str | None,
                order_by: Sequence[str] | str | None, max_results: int | None) -> list[Run]:
    """The runs matching the filter, in order (default: newest start first, then id)."""
    clauses = parse_entity_filter(filter_string, RUN_FIELDS)
    order = parse_entity_order_by(order_by, RUN_FIELDS)
    found = filter_entities(runs, clauses, _run_value)
    found = sort_entities(found, order, _run_value,
                          default=lambda r: (-(r.info.start_time or 0), r.info.run_id))
    return found if max_results is None else found[:max_results]


def select_datasets(datasets: Sequence[Dataset], *, filter_string: str | None,
                    order_by: Sequence[str] | str | None,
                    max_results: int | None) -> list[Dataset]:
    """The datasets matching the filter, in order (default: newest first, then name)."""
    clauses = parse_entity_filter(filter_string, DATASET_FIELDS)
    order = parse_entity_order_by(order_by, DATASET_FIELDS)
    found = filter_entities(datasets, clauses, _dataset_value)
    found = sort_entities(found, order, _dataset_value,
                          default=lambda d: (-d.created_time, d.name))
    return found if max_results is None else found[:max_results]
