"""Rules every store applies to dataset writes, written once (like ``store/trace_rules.py``).

The upsert itself (what a record becomes when merged) is ``DatasetRecord.merged`` in the
entities; this module validates arguments and folds a batch so each inputs key appears
once. Pure logic: no I/O.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanscope.entities.dataset import RecordUpdate
from spanscope.exceptions import InvalidInputError, NotFoundError

__all__ = ["NAME_LENGTH", "check_dataset_name", "check_dataset_tags", "check_version",
           "dataset_not_found", "fold_updates", "name_taken", "new_dataset_id",
           "new_record_id", "now_ms"]

NAME_LENGTH = 255
TAG_KEY_LENGTH = 255
TAG_VALUE_LENGTH = 5000  # MLflow's evaluation_dataset_tags.value


def now_ms() -> int:
    return int(time.time() * 1000)


def dataset_not_found(dataset_id: str) -> NotFoundError:
    return NotFoundError(f"dataset {dataset_id!r} not found")


def name_taken(name: str) -> InvalidInputError:
    return InvalidInputError(f"a dataset named {name!r} already exists")


def new_dataset_id() -> str:
    return "d-" + uuid.uuid4().hex


def new_record_id() -> str:
    return "dr-" + uuid.uuid4().hex


def check_dataset_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"dataset name must be a non-empty string, got {name!r}")
    if len(name) > NAME_LENGTH:
        raise InvalidInputError(f"dataset name is {len(name)} characters; the limit is "
                                f"{NAME_LENGTH}")
    return name


def check_dataset_tags(tags: Mapping[str, Any] | None, *,
                       allow_none: bool = False) -> dict[str, str | None]:
    """Tags as str -> str (``None`` values allowed when they mean "delete this tag")."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInputError(f"dataset tags must be a dict, got {type(tags).__name__}")
    checked: dict[str, str | None] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > TAG_KEY_LENGTH:
            raise InvalidInputError(f"dataset tag key must be a non-empty string of at most "
                                    f"{TAG_KEY_LENGTH} characters, got {key!r}")
        if value is None and allow_none:
            checked[key] = None
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text) > TAG_VALUE_LENGTH:
            raise InvalidInputError(f"dataset tag {key!r} has a value of {len(text)} "
                                    f"characters; the limit is {TAG_VALUE_LENGTH}")
        checked[key] = text
    return checked


def check_version(version: Any, current: int, dataset: str) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(f"version must be an integer, got {version!r}")
    if version < 0 or version > current:
        raise InvalidInputError(f"dataset {dataset!r} has versions 0 to {current}; "
                                f"there is no version {version}")
    return version


def fold_updates(records: Iterable[RecordUpdate]) -> dict[str, RecordUpdate]:
    """One update per inputs key (by ``input_hash``), in first-seen order; later ones win."""
    folded: dict[str, RecordUpdate] = {}
    for record in records:
        if not isinstance(record, RecordUpdate):
            raise InvalidInputError(f"merge_dataset_records takes RecordUpdate objects, "
                                    f"got {type(record).__name__}")
        key = record.input_hash
        folded[key] = folded[key].then(record) if key in folded else record
    return folded


def check_experiment_ids(experiment_ids: Sequence[Any] | str | None) -> list[str]:
    if experiment_ids is None:
        return []
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [experiment_ids]
    return list(dict.fromkeys(str(e) for e in experiment_ids))
