"""Evaluation datasets: ``EvaluationDataset`` and ``create/get/delete/search_datasets``.

A dataset is a named, versioned set of records (``inputs`` plus ``expectations``, and
optionally ``outputs`` and ``tags``) that an app is evaluated against. ``merge_records``
upserts by inputs and makes a new immutable version each time; ``to_df(version=N)``
reads any version back. The rules (upsert, digest) are ``spanscope.entities.dataset``'s
and the store applies them in one transaction; this module resolves names, converts
what users pass (``dataset_records``) and reads/writes files (``dataset_io``). The
public names are re-exported by ``spanscope.genai.datasets``; see ``docs/datasets.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spanscope import tracking
from spanscope.entities import PagedList
from spanscope.entities.dataset import Dataset, DatasetRecord, DatasetVersion, MergeResult
from spanscope.exceptions import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from spanscope.store.base import DatasetStore

__all__ = [
    "DATAFRAME_COLUMNS",
    "EvaluationDataset",
    "create_dataset",
    "delete_dataset",
    "delete_dataset_tag",
    "export_dataset",
    "get_dataset",
    "import_dataset",
    "search_datasets",
    "set_dataset_tags",
]

DATAFRAME_COLUMNS = ["inputs", "expectations", "outputs", "tags", "source", "source_trace_id",
                     "record_id", "created_time", "last_update_time"]


class EvaluationDataset:
    """A dataset in the store: records, versions, digest; merge, read, export.

    Attributes describe the version this object last saw (``merge_records`` and
    ``refresh()`` update them); ``to_df()`` and ``records`` always read the store's
    current version.
    """

    def __init__(self, dataset: Dataset, store_uri: str) -> None:
        self._dataset = dataset
        self._store_uri = store_uri
        self.last_merge: MergeResult | None = None
        self.last_sample: Any = None  # build_dataset_from_traces' SampleResult

    def _store(self) -> DatasetStore:
        return tracking.get_store(self._store_uri)

    # --- identity and state ---------------------------------------------------------------
    @property
    def dataset_id(self) -> str:
        return self._dataset.dataset_id

    @property
    def name(self) -> str:
        return self._dataset.name

    @property
    def digest(self) -> str:
        """SHA-256 over the records' content (inputs, expectations, outputs, tags)."""
        return self._dataset.digest

    @property
    def version(self) -> int:
        """The version number: 0 when created, +1 for every merge."""
        return self._dataset.version

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._dataset.tags)

    @property
    def experiment_ids(self) -> list[str]:
        return list(self._dataset.experiment_ids)

    @property
    def record_count(self) -> int:
        return self._dataset.record_count

    @property
    def created_time(self) -> int:
        return self._dataset.created_time

    @property
    def last_update_time(self) -> int:
        return self._dataset.last_update_time

    @property
    def created_by(self) -> str | None:
        return self._dataset.created_by

    @property
    def records(self) -> list[DatasetRecord]:
        """The current version's records, in the order they were first added."""
        return self._store().get_dataset_records(self.dataset_id)

    def __len__(self) -> int:
        return self._dataset.record_count

    def __repr__(self) -> str:
        return (f"EvaluationDataset(name={self.name!r}, dataset_id={self.dataset_id!r}, "
                f"version={self.version}, records={self.record_count}, "
                f"digest={self.digest[:12]!r})")

    def refresh(self) -> EvaluationDataset:
        """Re-read the dataset's current state from the store; returns ``self``."""
        self._dataset = self._store().get_dataset(self.dataset_id)
        return self

    def to_dict(self) -> dict[str, Any]:
        return self._dataset.to_dict()

    # --- records and versions -------------------------------------------------------------
    def merge_records(self, records: Any) -> EvaluationDataset:
        """Upsert records and make the result a new version; returns ``self``.

        ``records``: a list of dicts (``inputs`` required; ``expectations``,
        ``outputs``, ``tags``, ``source``, ``source_trace_id``), a DataFrame of those
        columns, a list of ``Trace`` or a ``search_traces`` DataFrame. A record whose
        inputs equal a stored record's updates it: expectations and tags merge key by
        key (new values win), outputs are replaced when given. ``last_merge`` says how
        many records were inserted and updated.
        """
        from spanscope.evaluation.dataset_records import record_updates

        updates = record_updates(records)
        result = self._store().merge_dataset_records(self.dataset_id, updates)
        self._dataset = result.dataset
        self.last_merge = result
        return self

    def versions(self) -> list[DatasetVersion]:
        """Every version, oldest first: number, digest, record count, creation time."""
        return self._store().list_dataset_versions(self.dataset_id)

    list_versions = versions  # MLflow 3.17's name

    def get_records(self, version: int | None = None) -> list[DatasetRecord]:
        return self._store().get_dataset_records(self.dataset_id, version=version)

    def to_df(self, version: int | None = None) -> pd.DataFrame:
        """The records of ``version`` (default: current) as a DataFrame.

        Columns: ``inputs``, ``expectations``, ``outputs``, ``tags``, ``source``,
        ``source_trace_id``, ``record_id``, ``created_time``, ``last_update_time``.
        """
        import pandas as pd

        rows = [record.to_dict() for record in self.get_records(version)]
        # object columns: pandas would otherwise read a column of strings and None as
        # its string dtype and turn None into NaN
        frame = pd.DataFrame(rows, columns=DATAFRAME_COLUMNS, dtype=object)
        for column in ("created_time", "last_update_time"):
            frame[column] = frame[column].astype("int64")
        return frame

    # --- tags -------------------------------------------------------------------------------
    def set_tags(self, tags: Mapping[str, Any]) -> EvaluationDataset:
        """Set tags (a ``None`` value deletes one); returns ``self``."""
        self._dataset = self._store().set_dataset_tags(self.dataset_id, tags)
        return self

    def delete_tag(self, key: str) -> EvaluationDataset:
        return self.set_tags({key: None})

    # --- files ------------------------------------------------------------------------------
    def export(self, path: str | os.PathLike[str], format: str | None = None, *,
               version: int | None = None) -> Path:
        """Write the records of ``version`` to a CSV, JSONL or Parquet file (by extension)."""
        from spanscope.evaluation.dataset_io import write_records

        return write_records(self.get_records(version), path, format)

    def import_records(self, path: str | os.PathLike[str],
                       format: str | None = None) -> EvaluationDataset:
        """Merge the records of a CSV, JSONL or Parquet file (one new version)."""
        from spanscope.evaluation.dataset_io import read_records

        return self.merge_records_from(read_records(path, format))

    def merge_records_from(self, updates: Sequence[Any]) -> EvaluationDataset:
        """Merge already-converted ``RecordUpdate`` entities (one new version)."""
        result = self._store().merge_dataset_records(self.dataset_id, list(updates))
        self._dataset = result.dataset
        self.last_merge = result
        return self


# --- module functions (MLflow's mlflow.genai.datasets) --------------------------------------
def _name(name: str | None, uc_table_name: str | None) -> str | None:
    if name is not None and uc_table_name is not None and name != uc_table_name:
        raise InvalidInputError(f"name {name!r} and uc_table_name {uc_table_name!r} differ; "
                                "give one of them (they mean the same)")
    return name if name is not None else uc_table_name


def _experiments(experiment_id: str | Sequence[str] | None) -> list[str]:
    if experiment_id is None:
        return [tracking.get_experiment_id()]
    if isinstance(experiment_id, (str, int)):
        return [str(experiment_id)]
    return [str(e) for e in experiment_id]


def create_dataset(name: str | None = None, *, uc_table_name: str | None = None,
                   experiment_id: str | Sequence[str] | None = None,
                   tags: Mapping[str, Any] | None = None) -> EvaluationDataset:
    """Create an empty dataset (version 0) linked to ``experiment_id`` (default: active).

    ``uc_table_name`` is accepted as another spelling of ``name`` (for code written for
    Databricks). ``InvalidInputError`` if the name is missing or already taken.
    """
    from spanscope.store.run_rules import current_user

    resolved = _name(name, uc_table_name)
    if resolved is None:
        raise InvalidInputError("create_dataset needs a name (or uc_table_name)")
    store = tracking.get_store()
    dataset = store.create_dataset(resolved, experiment_ids=_experiments(experiment_id),
                                   tags=tags, created_by=current_user())
    return EvaluationDataset(dataset, store.uri)


def _resolve(name: str | None, uc_table_name: str | None,
             dataset_id: str | None) -> tuple[DatasetStore, Dataset]:
    resolved = _name(name, uc_table_name)
    if (resolved is None) == (dataset_id is None):
        raise InvalidInputError("give exactly one of name (or uc_table_name) and dataset_id")
    store = tracking.get_store()
    if dataset_id is not None:
        return store, store.get_dataset(dataset_id)
    found = store.get_dataset_by_name(str(resolved))
    if found is None:
        raise NotFoundError(f"dataset {resolved!r} not found")
    return store, found


def get_dataset(name: str | None = None, *, uc_table_name: str | None = None,
                dataset_id: str | None = None) -> EvaluationDataset:
    """The dataset with this name or id; ``NotFoundError`` if there is none."""
    store, dataset = _resolve(name, uc_table_name, dataset_id)
    return EvaluationDataset(dataset, store.uri)


def delete_dataset(name: str | None = None, *, uc_table_name: str | None = None,
                   dataset_id: str | None = None) -> None:
    """Delete a dataset with every version and record; ``NotFoundError`` if unknown."""
    store, dataset = _resolve(name, uc_table_name, dataset_id)
    store.delete_dataset(dataset.dataset_id)


def search_datasets(experiment_ids: str | Sequence[str] | None = None,
                    filter_string: str | None = None, max_results: int | None = None,
                    order_by: str | Sequence[str] | None = None) -> PagedList[EvaluationDataset]:
    """Datasets linked to these experiments (default: all), newest first.

    ``filter_string`` is AND-only over ``name``, ``created_time``, ``last_update_time``,
    ``created_by``, ``version``, ``record_count`` and ``tags.KEY`` (e.g.
    ``"name LIKE 'support%' AND tags.team = 'qa'"``); ``order_by`` items such as
    ``"name ASC"`` or ``"last_update_time DESC"``.
    """
    store = tracking.get_store()
    found = store.search_datasets(experiment_ids, filter_string=filter_string,
                                  order_by=order_by, max_results=max_results)
    return PagedList([EvaluationDataset(d, store.uri) for d in found], None)


def set_dataset_tags(dataset_id: str, tags: Mapping[str, Any]) -> None:
    """Set tags on a dataset (a ``None`` value deletes that tag)."""
    tracking.get_store().set_dataset_tags(dataset_id, tags)


def delete_dataset_tag(dataset_id: str, key: str) -> None:
    tracking.get_store().set_dataset_tags(dataset_id, {key: None})


def export_dataset(dataset: EvaluationDataset | str, path: str | os.PathLike[str],
                   format: str | None = None, *, version: int | None = None) -> Path:
    """Write a dataset (object or name) to CSV, JSONL or Parquet, chosen by extension."""
    if isinstance(dataset, str):
        dataset = get_dataset(dataset)
    if not isinstance(dataset, EvaluationDataset):
        raise InvalidInputError(f"export_dataset takes an EvaluationDataset or a dataset "
                                f"name, not {type(dataset).__name__}")
    return dataset.export(path, format, version=version)


def import_dataset(name: str, path: str | os.PathLike[str], format: str | None = None, *,
                   experiment_id: str | Sequence[str] | None = None,
                   tags: Mapping[str, Any] | None = None) -> EvaluationDataset:
    """Create dataset ``name`` from a CSV, JSONL or Parquet file (its version 1).

    The file is read and checked before the dataset is created, so a bad file creates
    nothing. To add a file to an existing dataset use ``get_dataset(name).import_records``.
    """
    from spanscope.evaluation.dataset_io import read_records

    updates = read_records(path, format)
    dataset = create_dataset(name, experiment_id=experiment_id, tags=tags)
    return dataset.merge_records_from(updates)
