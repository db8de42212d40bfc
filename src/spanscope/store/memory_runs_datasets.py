"""Runs and datasets for ``InMemoryStore``: the same rules as ``SqlStore``, over dicts.

A mixin so ``store/memory.py`` (traces) stays one concept; ``InMemoryStore`` inherits it
and provides ``_lock``, ``_check_open`` and ``_experiments``. Dataset versions are kept
as tuples of (immutable) records per version, sharing unchanged records between versions.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities.dataset import (
    EMPTY_DIGEST,
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
    digest_of,
)
from spanscope.entities.experiment import Experiment
from spanscope.entities.run import Metric, Run, RunData, RunInfo, RunTagKey, latest_metric
from spanscope.store import dataset_rules, run_rules, trace_rules
from spanscope.store.runs_datasets import RunsAndDatasets

__all__ = ["InMemoryRunsAndDatasets"]


@dataclass
class _StoredRun:
    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[Metric]] = field(default_factory=dict)
    latest: dict[str, Metric] = field(default_factory=dict)

    def run(self) -> Run:
        return Run(self.info, RunData(
            params=dict(sorted(self.params.items())),
            metrics={k: m.value for k, m in sorted(self.latest.items())},
            tags=dict(sorted(self.tags.items()))))


@dataclass
class _StoredDataset:
    dataset: Dataset
    versions: list[DatasetVersion]
    snapshots: list[tuple[DatasetRecord, ...]]


@dataclass
class _State:
    runs: dict[str, _StoredRun] = field(default_factory=dict)
    datasets: dict[str, _StoredDataset] = field(default_factory=dict)


class InMemoryRunsAndDatasets(RunsAndDatasets):
    """Run and dataset primitives over plain Python objects (thread-safe)."""

    _lock: threading.RLock
    _experiments: dict[str, Experiment]

    def _check_open(self, action: str) -> None:  # provided by InMemoryStore
        raise NotImplementedError

    @property
    def _state(self) -> _State:
        state = self.__dict__.get("_runs_datasets_state")
        if state is None:
            with self._lock:
                state = self.__dict__.setdefault("_runs_datasets_state", _State())
        return state

    def _stored_run(self, run_id: str) -> _StoredRun:
        found = self._state.runs.get(run_id)
        if found is None:
            raise run_rules.run_not_found(run_id)
        return found

    def _require_experiment(self, experiment_id: str) -> None:
        if experiment_id not in self._experiments:
            raise trace_rules.experiment_not_found(experiment_id)

    # --- runs ------------------------------------------------------------------------------
    def _create_run(self, info: RunInfo, tags: dict[str, str]) -> Run:
        with self._lock:
            self._check_open(f"create run in experiment {info.experiment_id!r}")
            self._require_experiment(info.experiment_id)
            stored = self._state.runs[info.run_id] = _StoredRun(info, tags=dict(tags))
            return stored.run()

    def _get_run(self, run_id: str) -> Run:
        with self._lock:
            self._check_open(f"get run {run_id!r}")
            return self._stored_run(run_id).run()

    def _update_run(self, run_id: str, status: str | None, end_time: int | None,
                    run_name: str | None) -> RunInfo:
        with self._lock:
            self._check_open(f"update run {run_id!r}")
            stored = self._stored_run(run_id)
            changes: dict[str, Any] = {}
            if status is not None:
                changes["status"] = status
            if end_time is not None:
                changes["end_time"] = end_time
            if run_name is not None:
                changes["run_name"] = run_name
                stored.tags[RunTagKey.RUN_NAME] = run_name
            stored.info = dataclasses.replace(stored.info, **changes)
            return stored.info

    def _log_batch(self, run_id: str, batch: run_rules.Batch) -> None:
        with self._lock:
            self._check_open(f"log to run {run_id!r}")
            stored = self._stored_run(run_id)
            run_rules.conflicting_param(run_id, stored.params, batch.params)
            stored.params.update(batch.params)
            stored.tags.update(batch.tags)
            if RunTagKey.RUN_NAME in batch.tags:
                stored.info = dataclasses.replace(
                    stored.info, run_name=run_rules.run_name_of_tag(batch.tags[RunTagKey.RUN_NAME]))
            for metric in batch.metrics:
                stored.history.setdefault(metric.key, []).append(metric)
                stored.latest[metric.key] = latest_metric(stored.latest.get(metric.key), metric)

    def _metric_history(self, run_id: str, key: str) -> list[Metric]:
        with self._lock:
            self._check_open(f"get metric history {key!r} of run {run_id!r}")
            return list(self._stored_run(run_id).history.get(key, []))  # logging order

    def _runs_of(self, experiment_ids: list[str] | None) -> list[Run]:
        with self._lock:
            self._check_open("search runs")
            wanted = None if experiment_ids is None else set(experiment_ids)
            return [stored.run() for stored in self._state.runs.values()
                    if wanted is None or stored.info.experiment_id in wanted]

    # --- datasets --------------------------------------------------------------------------
    def _stored_dataset(self, dataset_id: str) -> _StoredDataset:
        found = self._state.datasets.get(dataset_id)
        if found is None:
            raise dataset_rules.dataset_not_found(dataset_id)
        return found

    def _create_dataset(self, dataset: Dataset) -> Dataset | None:
        with self._lock:
            self._check_open(f"create dataset {dataset.name!r}")
            if any(s.dataset.name == dataset.name for s in self._state.datasets.values()):
                return None
            for experiment_id in dataset.experiment_ids:
                self._require_experiment(experiment_id)
            self._state.datasets[dataset.dataset_id] = _StoredDataset(
                dataset, [DatasetVersion(0, EMPTY_DIGEST, 0, dataset.created_time)], [()])
            return dataset

    def _get_dataset(self, dataset_id: str) -> Dataset:
        with self._lock:
            self._check_open(f"get dataset {dataset_id!r}")
            return self._stored_dataset(dataset_id).dataset

    def _dataset_named(self, name: str) -> Dataset | None:
        with self._lock:
            self._check_open(f"get dataset {name!r}")
            return next((s.dataset for s in self._state.datasets.values()
                         if s.dataset.name == name), None)

    def _delete_dataset(self, dataset_id: str) -> None:
        with self._lock:
            self._check_open(f"delete dataset {dataset_id!r}")
            self._stored_dataset(dataset_id)
            del self._state.datasets[dataset_id]

    def _datasets_of(self, experiment_ids: list[str] | None) -> list[Dataset]:
        with self._lock:
            self._check_open("search datasets")
            wanted = None if experiment_ids is None else set(experiment_ids)
            return [s.dataset for s in self._state.datasets.values()
                    if wanted is None or wanted & set(s.dataset.experiment_ids)]

    def _set_dataset_tags(self, dataset_id: str, tags: dict[str, str | None],
                          now: int) -> Dataset:
        with self._lock:
            self._check_open(f"set tags of dataset {dataset_id!r}")
            stored = self._stored_dataset(dataset_id)
            merged = dict(stored.dataset.tags)
            for key, value in tags.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            stored.dataset = dataclasses.replace(
                stored.dataset, tags=merged,
                last_update_time=max(now, stored.dataset.last_update_time))
            return stored.dataset

    def _merge_records(self, dataset_id: str, updates: dict[str, RecordUpdate],
                       now: int) -> MergeResult:
        with self._lock:
            self._check_open(f"merge records into dataset {dataset_id!r}")
            stored = self._stored_dataset(dataset_id)
            updates = copy.deepcopy(updates)  # the caller keeps its dicts
            records = list(stored.snapshots[-1])
            index = {record.input_hash: i for i, record in enumerate(records)}
            next_seq = max((r.seq for r in records), default=-1) + 1
            inserted = updated = unchanged = 0
            for key, update in updates.items():
                position = index.get(key)
                if position is None:
                    records.append(DatasetRecord.new(
                        update, record_id=dataset_rules.new_record_id(), now=now, seq=next_seq))
                    next_seq += 1
                    inserted += 1
                    continue
                updated += 1
                merged = records[position].merged(update, now=now)
                unchanged += merged is records[position]
                records[position] = merged
            version = stored.dataset.version + 1
            digest = digest_of(r.content_hash for r in records)
            stored.snapshots.append(tuple(records))
            stored.versions.append(DatasetVersion(version, digest, len(records), now,
                                                  inserted, updated))
            stored.dataset = dataclasses.replace(
                stored.dataset, version=version, digest=digest, record_count=len(records),
                last_update_time=max(now, stored.dataset.last_update_time))
            return MergeResult(stored.dataset, inserted, updated, unchanged)

    def _records(self, dataset_id: str, version: int | None) -> list[DatasetRecord]:
        with self._lock:
            self._check_open(f"read records of dataset {dataset_id!r}")
            stored = self._stored_dataset(dataset_id)
            if version is not None:
                dataset_rules.check_version(version, stored.dataset.version,
                                            stored.dataset.name)
            found = stored.snapshots[-1 if version is None else version]
            return copy.deepcopy(list(found))  # callers may mutate what they get

    def _versions(self, dataset_id: str) -> list[DatasetVersion]:
        with self._lock:
            self._check_open(f"list versions of dataset {dataset_id!r}")
            return list(self._stored_dataset(dataset_id).versions)
