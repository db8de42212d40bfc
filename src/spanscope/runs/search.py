"""``search_runs``: runs as a pandas DataFrame (MLflow's columns) or a list of ``Run``.

DataFrame columns, as MLflow's: ``run_id``, ``experiment_id``, ``status``,
``artifact_uri``, ``start_time``, ``end_time`` (UTC datetimes), then ``metrics.KEY``
(floats), ``params.KEY`` and ``tags.KEY`` (strings), each group sorted by key. pandas is
imported only when a DataFrame is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from spanscope import tracking
from spanscope.entities.run import Run
from spanscope.exceptions import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RUN_COLUMNS", "runs_to_dataframe", "search_runs"]

RUN_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def search_runs(
    experiment_ids: Sequence[str] | str | None = None,
    filter_string: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int = 1000,
    output_format: Literal["pandas", "list"] = "pandas",
    *,
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> pd.DataFrame | list[Run]:
    """Runs matching ``filter_string``, newest first unless ``order_by`` says otherwise.

    Experiments: ``experiment_ids`` or ``experiment_names``; by default the active
    experiment, or every experiment with ``search_all_experiments=True``. The filter is
    MLflow's AND-only language over ``params.KEY``, ``metrics.KEY``, ``tags.KEY`` and
    ``attributes.NAME`` (``run_name``, ``status``, ``start_time`` …), e.g.
    ``"params.model = 'gpt-4o' AND metrics.accuracy > 0.8"``; ``order_by`` items look
    like ``"metrics.accuracy DESC"``. A bad filter is a ``FilterError``.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidInputError(f"output_format must be 'pandas' or 'list', not "
                                f"{output_format!r}")
    store = tracking.get_store()
    ids: list[str] | None
    if experiment_names is not None:
        if experiment_ids is not None:
            raise InvalidInputError("give experiment_ids or experiment_names, not both")
        ids = []
        for name in [experiment_names] if isinstance(experiment_names, str) else experiment_names:
            found = store.get_experiment_by_name(name)
            if found is None:
                raise InvalidInputError(f"no experiment named {name!r}")
            ids.append(found.experiment_id)
    elif experiment_ids is not None:
        ids = [str(experiment_ids)] if isinstance(experiment_ids, (str, int)) else [
            str(e) for e in experiment_ids]
    else:
        ids = None if search_all_experiments else [tracking.get_experiment_id()]
    runs = store.search_runs(ids, filter_string=filter_string or None, order_by=order_by,
                             max_results=max_results)
    if output_format == "list":
        return runs
    return runs_to_dataframe(runs)


def runs_to_dataframe(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run with MLflow's ``search_runs`` columns."""
    import pandas as pd

    metric_keys = sorted({k for r in runs for k in r.data.metrics})
    param_keys = sorted({k for r in runs for k in r.data.params})
    tag_keys = sorted({k for r in runs for k in r.data.tags})
    columns: dict[str, list[object]] = {c: [] for c in RUN_COLUMNS}
    for run in runs:
        info = run.info
        columns["run_id"].append(info.run_id)
        columns["experiment_id"].append(info.experiment_id)
        columns["status"].append(str(info.status))
        columns["artifact_uri"].append(info.artifact_uri)
        columns["start_time"].append(info.start_time)
        columns["end_time"].append(info.end_time)
    frame = pd.DataFrame(columns, columns=RUN_COLUMNS)
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    extra = {}
    for key in metric_keys:
        extra[f"metrics.{key}"] = pd.array([r.data.metrics.get(key, math.nan) for r in runs],
                                           dtype="float64")
    for key in param_keys:
        extra[f"params.{key}"] = pd.Series([r.data.params.get(key) for r in runs],
                                           dtype=object)
    for key in tag_keys:
        extra[f"tags.{key}"] = pd.Series([r.data.tags.get(key) for r in runs], dtype=object)
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1)
    return frame
