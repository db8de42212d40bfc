"""``compare_evaluations``: what changed between two evaluations, per metric and per row.

Each side is an ``EvaluationResult`` or a run id (its metrics come from the run, its
rows from the run's ``eval_results_table.json`` artifact). Rows are matched by their
inputs (canonical JSON: key order does not matter; a repeated input is matched by order
of occurrence). Pass/fail values count as 1/0, so a ``delta`` of -1 is a regression.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spanscope.evaluation.metrics import numeric_value
from spanscope.evaluation.results import TABLE_ARTIFACT, EvaluationResult
from spanscope.evaluation.rows import is_missing
from spanscope.exceptions import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EvaluationComparison", "compare_evaluations"]


@dataclass
class EvaluationComparison:
    """``metrics``: metric, a, b, delta (b - a). ``rows``: one row per distinct input with
    each score on both sides (``NAME/a``, ``NAME/b``, ``NAME/delta``), both outputs and
    ``changed`` (a value, an output or the row's presence differs)."""

    run_a: str
    run_b: str
    metrics: pd.DataFrame
    rows: pd.DataFrame

    @property
    def changed_rows(self) -> pd.DataFrame:
        return self.rows[self.rows["changed"]]

    def __repr__(self) -> str:
        return (f"EvaluationComparison(run_a={self.run_a!r}, run_b={self.run_b!r}, "
                f"metrics={len(self.metrics)}, rows={len(self.rows)}, "
                f"changed_rows={int(self.rows['changed'].sum())})")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def _side(side: EvaluationResult | str) -> tuple[str, dict[str, float], list[dict[str, Any]]]:
    """(run id, metrics, rows as dicts) of one side of the comparison."""
    if isinstance(side, EvaluationResult):
        return side.run_id, dict(side.metrics), _records(side.result_df)
    if not isinstance(side, str) or not side:
        raise InvalidInputError(f"compare_evaluations takes EvaluationResults or run ids, "
                                f"not {type(side).__name__}")
    from spanscope.runs import fluent as runs

    run = runs.get_run(side)
    try:
        table = runs.load_table(TABLE_ARTIFACT, run_ids=[side])
    except NotFoundError:
        raise NotFoundError(f"run {side!r} has no {TABLE_ARTIFACT}; is it an evaluation "
                            f"run?") from None
    return side, dict(run.data.metrics), _records(table)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: None if is_missing(v) else v for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def _keyed(rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    seen: Counter[str] = Counter()
    keyed = {}
    for row in rows:
        key = _canonical(row.get("inputs"))
        keyed[(key, seen[key])] = row
        seen[key] += 1
    return keyed


def _score_names(*sides: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for rows in sides:
        for row in rows[:1]:
            for column in row:
                if column.endswith("/value"):
                    names.setdefault(column[: -len("/value")], None)
    return list(names)


def _delta(a: Any, b: Any) -> float | None:
    x, y = numeric_value(a), numeric_value(b)
    return None if x is None or y is None else y - x


def compare_evaluations(run_a: EvaluationResult | str,
                        run_b: EvaluationResult | str) -> EvaluationComparison:
    """Per-metric and per-row differences between two evaluations (b relative to a)."""
    import pandas as pd

    id_a, metrics_a, rows_a = _side(run_a)
    id_b, metrics_b, rows_b = _side(run_b)
    metric_rows = [{"metric": key, "a": metrics_a.get(key), "b": metrics_b.get(key),
                    "delta": (metrics_b[key] - metrics_a[key]
                              if key in metrics_a and key in metrics_b else None)}
                   for key in sorted(set(metrics_a) | set(metrics_b))]
    metrics = pd.DataFrame(metric_rows, columns=["metric", "a", "b", "delta"])

    names = _score_names(rows_a, rows_b)
    keyed_a, keyed_b = _keyed(rows_a), _keyed(rows_b)
    out = []
    for key in list(keyed_a) + [k for k in keyed_b if k not in keyed_a]:
        a, b = keyed_a.get(key), keyed_b.get(key)
        row: dict[str, Any] = {"inputs": (a or b or {}).get("inputs"),
                               "in_a": a is not None, "in_b": b is not None}
        changed = a is None or b is None
        for name in names:
            value_a = None if a is None else a.get(f"{name}/value")
            value_b = None if b is None else b.get(f"{name}/value")
            row[f"{name}/a"], row[f"{name}/b"] = value_a, value_b
            row[f"{name}/delta"] = _delta(value_a, value_b)
            changed = changed or _canonical(value_a) != _canonical(value_b)
        row["outputs/a"] = None if a is None else a.get("outputs")
        row["outputs/b"] = None if b is None else b.get("outputs")
        row["changed"] = changed or _canonical(row["outputs/a"]) != _canonical(row["outputs/b"])
        out.append(row)
    columns = ["inputs", "in_a", "in_b"]
    for name in names:
        columns += [f"{name}/a", f"{name}/b", f"{name}/delta"]
    columns += ["outputs/a", "outputs/b", "changed"]
    return EvaluationComparison(id_a, id_b, metrics, pd.DataFrame(out, columns=columns))
