"""The run and dataset half of a store: validation and search written once for every store.

``SqlStore`` and ``InMemoryStore`` inherit these public methods and implement the small
private primitives below them (``_create_run``, ``_log_batch``, ``_merge_records`` …), so
argument checking, default values, filtering and ordering cannot drift between stores.
The methods are the ``RunStore`` and ``DatasetStore`` protocols (``store/base.py``); the
trace half is ``store/trace_methods.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanscope.entities.dataset import (
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
)
from spanscope.entities.run import Metric, Run, RunInfo, RunStatus, RunTagKey
from spanscope.exceptions import InvalidInputError
from spanscope.store import dataset_rules, run_rules, trace_rules
from spanscope.store.artifacts import run_artifact_uri
from spanscope.store.entity_search import check_max_results, select_datasets, select_runs

__all__ = ["RunsAndDatasets"]


class RunsAndDatasets:
    """Public run and dataset methods over a store's private primitives."""

    uri: str

    # --- primitives each store implements ------------------------------------------------
    def _create_run(self, info: RunInfo, tags: dict[str, str]) -> Run:
        """Store a new run (``trace_rules.experiment_not_found`` if its experiment is not)."""
        raise NotImplementedError

    def _get_run(self, run_id: str) -> Run:
        """The run (``run_rules.run_not_found`` if unknown), as every other step reports."""
        raise NotImplementedError

    def _metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of ``key``, in logging order at least within a step and timestamp."""
        raise NotImplementedError

    def _update_run(self, run_id: str, status: str | None, end_time: int | None,
                    run_name: str | None) -> RunInfo:
        raise NotImplementedError

    def _log_batch(self, run_id: str, batch: run_rules.Batch) -> None:
        raise NotImplementedError

    def _runs_of(self, experiment_ids: list[str] | None) -> list[Run]:
        raise NotImplementedError

    def _create_dataset(self, dataset: Dataset) -> Dataset | None:
        """Store a new dataset; None if its name is taken."""
        raise NotImplementedError

    def _get_dataset(self, dataset_id: str) -> Dataset:
        """The dataset (``dataset_rules.dataset_not_found`` if unknown)."""
        raise NotImplementedError

    def _dataset_named(self, name: str) -> Dataset | None:
        raise NotImplementedError

    def _delete_dataset(self, dataset_id: str) -> None:
        raise NotImplementedError

    def _records(self, dataset_id: str, version: int | None) -> list[DatasetRecord]:
        """The records of a version (``dataset_rules.check_version`` against the current)."""
        raise NotImplementedError

    def _versions(self, dataset_id: str) -> list[DatasetVersion]:
        raise NotImplementedError

    def _datasets_of(self, experiment_ids: list[str] | None) -> list[Dataset]:
        raise NotImplementedError

    def _set_dataset_tags(self, dataset_id: str, tags: dict[str, str | None],
                          now: int) -> Dataset:
        raise NotImplementedError

    def _merge_records(self, dataset_id: str, updates: dict[str, RecordUpdate],
                       now: int) -> MergeResult:
        raise NotImplementedError

    # --- runs ------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, *, run_name: str | None = None,
                   start_time: int | None = None, tags: Mapping[str, Any] | None = None,
                   user_id: str | None = None) -> Run:
        """Start a RUNNING run in an experiment (``NotFoundError`` if it does not exist).

        The run's ``artifact_uri`` is fixed now, under the artifact root of this store
        (``spanscope.store.artifacts``). ``run_name`` is also set as the
        ``mlflow.runName`` tag, as MLflow does.
        """
        experiment_id = _existing_experiment(experiment_id)
        run_name = run_rules.check_run_name(run_name)
        checked = run_rules.check_batch(tags=tags).tags
        if run_name is None:
            run_name = checked.get(RunTagKey.RUN_NAME)
        if run_name is not None:
            checked[RunTagKey.RUN_NAME] = run_name
        run_id = run_rules.new_run_id()
        info = RunInfo(run_id=run_id, experiment_id=experiment_id, run_name=run_name,
                       status=RunStatus.RUNNING,
                       start_time=int(time.time() * 1000) if start_time is None else start_time,
                       artifact_uri=run_artifact_uri(self.uri, experiment_id, run_id),
                       user_id=user_id)
        return self._create_run(info, checked)

    def get_run(self, run_id: str) -> Run:
        """The run with params, latest metrics and tags; ``NotFoundError`` if unknown."""
        return self._get_run(run_rules.check_run_id(run_id))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged value of a metric, by step, timestamp, then logging order."""
        history = self._metric_history(run_rules.check_run_id(run_id), key)
        return sorted(history, key=lambda m: (m.step, m.timestamp))  # stable

    def update_run_info(self, run_id: str, *, status: str | None = None,
                        end_time: int | None = None, run_name: str | None = None) -> RunInfo:
        """Change a run's status, end time or name; ``NotFoundError`` for an unknown run."""
        run_id = run_rules.check_run_id(run_id)
        checked = None if status is None else str(run_rules.check_status(status))
        return self._update_run(run_id, checked, end_time, run_rules.check_run_name(run_name))

    def log_batch(self, run_id: str, *, metrics: Iterable[Metric] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        """Log metrics, params and tags to a run in one transaction (all or nothing).

        Params are stored as ``str(value)``; a param already logged with a different value
        is an ``InvalidInputError`` (MLflow's rule). Tags are replaced. Every metric value
        is kept in the history; ``Run.data.metrics`` shows the latest per key.
        """
        run_id = run_rules.check_run_id(run_id)
        batch = run_rules.check_batch(metrics, params, tags)
        if batch.metrics or batch.params or batch.tags:
            self._log_batch(run_id, batch)

    def search_runs(self, experiment_ids: Sequence[str] | str | None = None, *,
                    filter_string: str | None = None,
                    order_by: Sequence[str] | str | None = None,
                    max_results: int | None = 1000) -> list[Run]:
        """Runs of these experiments (None: all) matching ``filter_string``, in order.

        The filter is ``spanscope.query.entity_filter``'s AND-only subset of MLflow's
        (``params.x = '1' AND metrics.m > 0.5``); the default order is newest first.
        """
        max_results = check_max_results(max_results)
        ids = trace_rules.check_experiment_ids(experiment_ids)
        return select_runs(self._runs_of(ids), filter_string=filter_string,
                           order_by=order_by, max_results=max_results)

    # --- datasets --------------------------------------------------------------------------
    def create_dataset(self, name: str, *, experiment_ids: Sequence[str] | str | None = None,
                       tags: Mapping[str, Any] | None = None,
                       created_by: str | None = None) -> Dataset:
        """A new empty dataset (version 0); ``InvalidInputError`` if the name is taken."""
        now = dataset_rules.now_ms()
        checked_tags = {k: v for k, v in dataset_rules.check_dataset_tags(tags).items()
                        if v is not None}
        dataset = Dataset(dataset_id=dataset_rules.new_dataset_id(),
                          name=dataset_rules.check_dataset_name(name),
                          experiment_ids=sorted({
                              _existing_experiment(e)
                              for e in dataset_rules.check_experiment_ids(experiment_ids)},
                              key=int),
                          tags=checked_tags, created_time=now, last_update_time=now,
                          created_by=created_by)
        created = self._create_dataset(dataset)
        if created is None:
            raise dataset_rules.name_taken(dataset.name)
        return created

    def get_dataset(self, dataset_id: str) -> Dataset:
        return self._get_dataset(str(dataset_id))

    def get_dataset_by_name(self, name: str) -> Dataset | None:
        return self._dataset_named(str(name))

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset with all its versions and records."""
        self._delete_dataset(str(dataset_id))

    def search_datasets(self, experiment_ids: Sequence[str] | str | None = None, *,
                        filter_string: str | None = None,
                        order_by: Sequence[str] | str | None = None,
                        max_results: int | None = None) -> list[Dataset]:
        """Datasets linked to any of these experiments (None: all), filtered and ordered."""
        max_results = check_max_results(max_results)
        ids = trace_rules.check_experiment_ids(experiment_ids)
        return select_datasets(self._datasets_of(ids), filter_string=filter_string,
                               order_by=order_by, max_results=max_results)

    def set_dataset_tags(self, dataset_id: str, tags: Mapping[str, Any]) -> Dataset:
        """Set tags on a dataset (a ``None`` value deletes that tag); returns the dataset."""
        checked = dataset_rules.check_dataset_tags(tags, allow_none=True)
        return self._set_dataset_tags(str(dataset_id), checked, dataset_rules.now_ms())

    def merge_dataset_records(self, dataset_id: str,
                              records: Sequence[RecordUpdate]) -> MergeResult:
        """Upsert records by their inputs and make the result a new version.

        One transaction: either every record is merged and the version exists, or
        nothing changed. An empty ``records`` makes no version and returns the dataset
        as it is.
        """
        updates = dataset_rules.fold_updates(records)
        if not updates:
            return MergeResult(self.get_dataset(str(dataset_id)), 0, 0, 0)
        return self._merge_records(str(dataset_id), updates, dataset_rules.now_ms())

    def get_dataset_records(self, dataset_id: str, *,
                            version: int | None = None) -> list[DatasetRecord]:
        """The records of a version (default: current), in the order first added."""
        return self._records(str(dataset_id), version)

    def list_dataset_versions(self, dataset_id: str) -> list[DatasetVersion]:
        return self._versions(str(dataset_id))


def _existing_experiment(experiment_id: Any) -> str:
    """The canonical id of an experiment a run or dataset joins; an id that cannot name
    one is "not found", as ``get_experiment`` says."""
    try:
        return trace_rules.check_experiment_id(experiment_id)
    except InvalidInputError:
        raise trace_rules.experiment_not_found(experiment_id) from None
