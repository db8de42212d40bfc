"""Evaluation datasets: records (inputs + expectations), versions and content digests.

Pure data and the rules every store applies the same way, so a dataset behaves
identically in SQLite, PostgreSQL and memory:

- **Identity of a record is its inputs.** ``input_hash`` is the SHA-256 of the inputs'
  canonical JSON (sorted keys, no whitespace), as MLflow keys records. Merging a record
  whose inputs are already present updates that record (``DatasetRecord.merged``), it
  never adds a duplicate.
- **Digest = content.** Each record has a ``content_hash`` over its canonical inputs,
  expectations, outputs and tags (not ids, times or source); a version's digest is the
  SHA-256 of its records' content hashes, sorted, one per line. Equal content gives an
  equal digest whatever the order, ids or history that produced it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "Dataset",
    "DatasetRecord",
    "DatasetVersion",
    "MergeResult",
    "RecordUpdate",
    "canonical_json",
    "content_hash",
    "digest_of",
    "input_hash",
    "is_missing",
    "jsonable",
    "trace_source",
]

SOURCE_TRACE = "TRACE"


class NotJsonError(TypeError):
    """A value that has no JSON form (raised by ``jsonable``; callers add context)."""


def _default(obj: Any) -> Any:
    """JSON form of the non-JSON values records commonly carry (numpy, pandas, pydantic)."""
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "isoformat"):  # datetime, date, pandas Timestamp
        return obj.isoformat()
    if hasattr(obj, "model_dump"):  # pydantic models
        return obj.model_dump()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise NotJsonError(f"{type(obj).__name__} is not JSON serialisable")


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists, numpy numbers Python numbers).

    Raises ``NotJsonError`` for values with no JSON form and for NaN/infinity, which JSON
    cannot represent and which would make two equal-looking records hash differently.
    """
    try:
        text = json.dumps(value, default=_default, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN or infinity
        raise NotJsonError(f"{exc}") from None
    except RecursionError:
        raise NotJsonError("the value contains itself (a reference cycle)") from None
    return json.loads(text)


def canonical_json(value: Any) -> str:
    """The one JSON text of a plain-JSON value: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def input_hash(inputs: Mapping[str, Any]) -> str:
    """The key a record is upserted by: SHA-256 of the inputs' canonical JSON."""
    return _sha256(canonical_json(inputs))


def content_hash(inputs: Any, expectations: Any, outputs: Any, tags: Any) -> str:
    return _sha256(canonical_json({"inputs": inputs, "expectations": expectations,
                                   "outputs": outputs, "tags": tags}))


def digest_of(content_hashes: Iterable[str]) -> str:
    """A version's digest from its records' content hashes (order does not matter)."""
    return _sha256("\n".join(sorted(content_hashes)))


def trace_source(trace_id: str) -> dict[str, Any]:
    """MLflow's record source for a record taken from a trace."""
    return {"source_type": SOURCE_TRACE, "source_data": {"trace_id": trace_id}}


@dataclass(frozen=True)
class RecordUpdate:
    """One record as a caller merges it: inputs (the key) plus what to set.

    ``None`` means "not given": merging leaves the stored value as it is. Values are
    plain JSON (see ``jsonable``); ``expectations`` and ``tags`` merge key by key.
    """

    inputs: dict[str, Any]
    expectations: dict[str, Any] | None = None
    outputs: Any = None
    tags: dict[str, str] | None = None
    source: dict[str, Any] | None = None
    source_trace_id: str | None = None

    @property
    def input_hash(self) -> str:
        return input_hash(self.inputs)

    def then(self, later: RecordUpdate) -> RecordUpdate:
        """Two updates of the same inputs in one batch folded into one (later wins)."""
        return RecordUpdate(
            inputs=self.inputs,
            expectations=_merge_dicts(self.expectations, later.expectations),
            outputs=later.outputs if later.outputs is not None else self.outputs,
            tags=_merge_dicts(self.tags, later.tags),
            source=self.source if self.source is not None else later.source,
            source_trace_id=self.source_trace_id or later.source_trace_id)


def _merge_dicts(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    if new is None:
        return None if old is None else dict(old)
    return {**(old or {}), **new}


@dataclass(frozen=True)
class DatasetRecord:
    """A stored record of one dataset version. Times are epoch milliseconds.

    ``source`` is MLflow's source dict (``{"source_type": "TRACE", "source_data":
    {"trace_id": ...}}`` for a record taken from a trace); ``source_trace_id`` is that
    trace id, kept as its own field for lineage queries. ``seq`` orders records by
    when they were first added.
    """

    record_id: str
    inputs: dict[str, Any]
    expectations: dict[str, Any] | None = None
    outputs: Any = None
    tags: dict[str, str] | None = None
    source: dict[str, Any] | None = None
    source_trace_id: str | None = None
    created_time: int = 0
    last_update_time: int = 0
    seq: int = 0

    @property
    def input_hash(self) -> str:
        return input_hash(self.inputs)

    @property
    def content_hash(self) -> str:
        return content_hash(self.inputs, self.expectations, self.outputs, self.tags)

    @classmethod
    def new(cls, update: RecordUpdate, *, record_id: str, now: int, seq: int) -> DatasetRecord:
        return cls(record_id=record_id, inputs=update.inputs,
                   expectations=None if update.expectations is None else dict(update.expectations),
                   outputs=update.outputs,
                   tags=None if update.tags is None else dict(update.tags),
                   source=update.source, source_trace_id=update.source_trace_id,
                   created_time=now, last_update_time=now, seq=seq)

    def merged(self, update: RecordUpdate, *, now: int) -> DatasetRecord:
        """This record after merging ``update`` (same inputs), or ``self`` if unchanged.

        Expectations and tags merge key by key with the update's values winning; outputs
        are replaced when the update has some; the first known source is kept (a record
        that had none takes the update's).
        """
        changed = replace(
            self,
            expectations=_merge_dicts(self.expectations, update.expectations),
            outputs=update.outputs if update.outputs is not None else self.outputs,
            tags=_merge_dicts(self.tags, update.tags),
            source=self.source if self.source is not None else update.source,
            source_trace_id=self.source_trace_id or update.source_trace_id)
        if (changed.content_hash == self.content_hash and changed.source == self.source
                and changed.source_trace_id == self.source_trace_id):
            return self
        return replace(changed, last_update_time=max(now, self.last_update_time))

    def to_dict(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "inputs": self.inputs,
                "expectations": self.expectations, "outputs": self.outputs, "tags": self.tags,
                "source": self.source, "source_trace_id": self.source_trace_id,
                "created_time": self.created_time, "last_update_time": self.last_update_time}


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable state of a dataset. Version 0 is the empty dataset at creation."""

    version: int
    digest: str
    record_count: int
    created_time: int
    inserted: int = 0
    updated: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest,
                "record_count": self.record_count, "created_time": self.created_time,
                "inserted": self.inserted, "updated": self.updated}


EMPTY_DIGEST = digest_of([])


@dataclass(frozen=True)
class MergeResult:
    """What ``merge_dataset_records`` did: the dataset after it and the record counts.

    ``updated`` counts records whose inputs were already present (MLflow counts them so),
    ``unchanged`` those of them the merge left exactly as they were.
    """

    dataset: Dataset
    inserted: int
    updated: int
    unchanged: int = 0


@dataclass(frozen=True)
class Dataset:
    """What a store knows about a dataset: identity, tags and its current version."""

    dataset_id: str
    name: str
    experiment_ids: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    version: int = 0
    digest: str = EMPTY_DIGEST
    record_count: int = 0
    created_time: int = 0
    last_update_time: int = 0
    created_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dataset_id": self.dataset_id, "name": self.name,
                "experiment_ids": list(self.experiment_ids), "tags": dict(self.tags),
                "version": self.version, "digest": self.digest,
                "record_count": self.record_count, "created_time": self.created_time,
                "last_update_time": self.last_update_time, "created_by": self.created_by}


def is_missing(value: Any) -> bool:
    """None, a float NaN or pandas' NA/NaT: how an empty DataFrame cell reads."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")
