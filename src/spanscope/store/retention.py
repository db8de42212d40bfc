"""Retention rules, the deletion log and dataset lineage: the ``RetentionStore`` protocol.

Only the data-lifecycle work needs these (``spanscope.lifecycle``: the retention pass of
the server's worker, ``spanscope retention``, privacy deletion), so they are kept off the
trace store protocols, as API keys are (``store/keys.py``). SQL stores keep them in their
own database (``spanscope.store.sql.retention``: tables ``retention_rules`` and
``deletion_log``); a ``memory://`` store keeps them beside its traces.

What a rule means, and how rules combine, is ``spanscope.lifecycle.retention``'s business;
here a rule is checked (its filter parses, its fraction is in (0, 1], its duration is
positive) and stored. The deletion log keeps who deleted, when, with what selector and
how much, never what was deleted: a user or session id is logged as its SHA-256 only
(``selector_digest``), so an auditor who knows the id can find the entry and the id itself
is not kept.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import secrets
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from spanscope.entities.dataset import digest_of
from spanscope.exceptions import InvalidInputError, InvalidUriError, NotFoundError

__all__ = [
    "DeletionRecord",
    "InMemoryRetentionStore",
    "RetentionRule",
    "RetentionStore",
    "StorageSize",
    "TraceContents",
    "check_rule",
    "open_retention_store",
    "selector_digest",
]

NAME_LENGTH = 256
FILTER_LENGTH = 10_000
DELETION_KINDS = ("privacy", "retention")


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return secrets.token_hex(8)


def selector_digest(value: str) -> str:
    """How a user or session id appears in the deletion log: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(str(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RetentionRule:
    """Keep the traces of ``experiment_id`` matching ``filter_string`` (None: all) and in
    the deterministic sample ``sample_fraction`` for ``keep_ms`` after their start time
    (None: forever)."""

    rule_id: str
    experiment_id: str
    filter_string: str | None = None
    keep_ms: int | None = None
    sample_fraction: float = 1.0
    name: str | None = None
    created_time: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetentionRule:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class DeletionRecord:
    """One deletion run as logged: never the deleted content."""

    deletion_id: str
    kind: str  # privacy | retention
    time: int  # epoch milliseconds
    actor: str | None
    selector: dict[str, Any]
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TraceContents:
    """How many rows of each kind these traces hold (what a deletion takes with it)."""

    traces: int = 0
    spans: int = 0
    assessments: int = 0
    tags: int = 0
    metadata: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class StorageSize:
    """How big the store is: ``used_bytes`` is what its data occupies (what a capacity is
    checked against: space freed by deletions and reusable is not counted), ``disk_bytes``
    what its files take on disk (SQLite: file, WAL and shared memory; PostgreSQL: both are
    ``pg_database_size``)."""

    used_bytes: int
    disk_bytes: int


def check_rule(experiment_id: str, *, filter_string: str | None, keep_ms: int | None,
               sample_fraction: float, name: str | None) -> tuple[str | None, str | None]:
    """Checked ``(filter_string, name)``; ``InvalidInputError``/``FilterError`` otherwise."""
    from spanscope.query import parse_filter

    if not isinstance(experiment_id, str) or not experiment_id:
        raise InvalidInputError("a retention rule needs an experiment id")
    if filter_string is not None:
        if not isinstance(filter_string, str) or len(filter_string) > FILTER_LENGTH:
            raise InvalidInputError(
                f"a rule's filter is a string of at most {FILTER_LENGTH} characters")
        filter_string = filter_string.strip() or None
        if filter_string is not None:
            parse_filter(filter_string)  # FilterError pointing at the bad token
    if keep_ms is not None and (isinstance(keep_ms, bool) or not isinstance(keep_ms, int)
                                or keep_ms <= 0):
        raise InvalidInputError(f"keep_ms must be a positive number of milliseconds or None "
                                f"(forever), not {keep_ms!r}")
    if (isinstance(sample_fraction, bool) or not isinstance(sample_fraction, (int, float))
            or not 0.0 < float(sample_fraction) <= 1.0):
        raise InvalidInputError(
            f"sample_fraction must be in (0, 1], e.g. 0.1 for 10%, not {sample_fraction!r}")
    if name is not None:
        if not isinstance(name, str) or len(name) > NAME_LENGTH:
            raise InvalidInputError(f"a rule name is a string of at most {NAME_LENGTH} "
                                    "characters")
        name = name.strip() or None
    return filter_string, name


def check_kind(kind: str) -> str:
    if kind not in DELETION_KINDS:
        raise InvalidInputError(f"deletion kind {kind!r}: use one of {', '.join(DELETION_KINDS)}")
    return kind


def rule_not_found(rule_id: str) -> NotFoundError:
    return NotFoundError(f"no retention rule with id {rule_id!r}")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@runtime_checkable
class RetentionStore(Protocol):
    """Retention rules, the deletion log, dataset lineage and the store's size."""

    def add_rule(self, experiment_id: str, *, filter_string: str | None = None,
                 keep_ms: int | None = None, sample_fraction: float = 1.0,
                 name: str | None = None) -> RetentionRule:
        """Store a checked rule; ``NotFoundError`` for an unknown experiment."""
        ...

    def list_rules(self, experiment_id: str | None = None) -> list[RetentionRule]:
        """Rules (of one experiment, or all), oldest first."""
        ...

    def delete_rule(self, rule_id: str) -> RetentionRule:
        """Remove a rule and return it; ``NotFoundError`` for an unknown id."""
        ...

    def log_deletion(self, kind: str, *, actor: str | None, selector: Mapping[str, Any],
                     counts: Mapping[str, int]) -> DeletionRecord:
        """Record one deletion run (the caller makes sure ``selector`` holds no content)."""
        ...

    def list_deletions(self, *, kind: str | None = None, limit: int = 100) -> list[DeletionRecord]:
        """The newest logged deletions first."""
        ...

    def trace_contents(self, trace_ids: Sequence[str]) -> TraceContents:
        """Rows held by these traces (unknown ids count nothing)."""
        ...

    def count_dataset_records(self, trace_ids: Sequence[str]) -> int:
        """Dataset records (distinct per dataset) whose source is one of these traces."""
        ...

    def unlink_dataset_records(self, trace_ids: Sequence[str]) -> int:
        """Forget these traces as sources of dataset records (every version); the records
        stay. Returns how many records were unlinked."""
        ...

    def delete_dataset_records(self, trace_ids: Sequence[str]) -> int:
        """Remove the dataset records that came from these traces from every version of
        their datasets (versions' counts and digests recomputed). Returns how many."""
        ...

    def storage_size(self) -> StorageSize:
        """How big the store is now (see ``spanscope.lifecycle.capacity``)."""
        ...

    def reclaim_space(self) -> None:
        """Make the space of deleted rows reusable now, so ``storage_size`` counts it
        free (PostgreSQL: a plain VACUUM; elsewhere nothing is needed)."""
        ...

    def close(self) -> None:
        ...


@dataclass
class _MemoryState:
    rules: dict[str, RetentionRule] = field(default_factory=dict)
    deletions: list[DeletionRecord] = field(default_factory=list)


_MEMORY_STATES: weakref.WeakKeyDictionary[Any, _MemoryState] = weakref.WeakKeyDictionary()
_MEMORY_LOCK = threading.Lock()


class InMemoryRetentionStore:
    """The ``RetentionStore`` of a ``memory://`` store: rules and log live as long as it."""

    def __init__(self, store: Any) -> None:
        from spanscope.store.memory import InMemoryStore

        if not isinstance(store, InMemoryStore):
            raise InvalidInputError("InMemoryRetentionStore needs an InMemoryStore")
        self._store = store
        with _MEMORY_LOCK:
            self._state = _MEMORY_STATES.setdefault(store, _MemoryState())

    def add_rule(self, experiment_id: str, *, filter_string: str | None = None,
                 keep_ms: int | None = None, sample_fraction: float = 1.0,
                 name: str | None = None) -> RetentionRule:
        experiment_id = str(experiment_id)
        filter_string, name = check_rule(experiment_id, filter_string=filter_string,
                                         keep_ms=keep_ms, sample_fraction=sample_fraction,
                                         name=name)
        self._store.get_experiment(experiment_id)  # NotFoundError
        rule = RetentionRule(new_id(), experiment_id, filter_string, keep_ms,
                             float(sample_fraction), name, now_ms())
        with self._store._lock:
            self._state.rules[rule.rule_id] = rule
        return rule

    def list_rules(self, experiment_id: str | None = None) -> list[RetentionRule]:
        with self._store._lock:
            rules = list(self._state.rules.values())
        known = set(self._store._experiments)
        return [r for r in rules if r.experiment_id in known
                and (experiment_id is None or r.experiment_id == str(experiment_id))]

    def delete_rule(self, rule_id: str) -> RetentionRule:
        with self._store._lock:
            if rule_id not in self._state.rules:
                raise rule_not_found(rule_id)
            return self._state.rules.pop(rule_id)

    def log_deletion(self, kind: str, *, actor: str | None, selector: Mapping[str, Any],
                     counts: Mapping[str, int]) -> DeletionRecord:
        record = DeletionRecord(new_id(), check_kind(kind), now_ms(), actor,
                                json.loads(dumps(dict(selector))), dict(counts))
        with self._store._lock:
            self._state.deletions.append(record)
        return record

    def list_deletions(self, *, kind: str | None = None, limit: int = 100) -> list[DeletionRecord]:
        with self._store._lock:
            found = [d for d in reversed(self._state.deletions) if kind in (None, d.kind)]
        return found[:limit]

    def trace_contents(self, trace_ids: Sequence[str]) -> TraceContents:
        contents = TraceContents()
        with self._store._lock:
            for trace_id in set(trace_ids):
                trace = self._store._traces.get(trace_id)
                if trace is None:
                    continue
                contents.traces += 1
                contents.spans += len(trace.data.spans)
                contents.assessments += len(trace.info.assessments)
                contents.tags += len(trace.info.tags)
                contents.metadata += len(trace.info.trace_metadata)
        return contents

    def _datasets(self) -> list[Any]:
        return list(self._store._state.datasets.values())

    def count_dataset_records(self, trace_ids: Sequence[str]) -> int:
        wanted = set(trace_ids)
        with self._store._lock:
            return sum(len({r.record_id for snap in stored.snapshots for r in snap
                            if r.source_trace_id in wanted})
                       for stored in self._datasets())

    def unlink_dataset_records(self, trace_ids: Sequence[str]) -> int:
        wanted = set(trace_ids)
        unlinked = 0
        with self._store._lock:
            for stored in self._datasets():
                ids = set()
                snapshots = []
                for snap in stored.snapshots:
                    kept = []
                    for record in snap:
                        if record.source_trace_id in wanted:
                            ids.add(record.record_id)
                            record = dataclasses.replace(record, source=None,
                                                         source_trace_id=None)
                        kept.append(record)
                    snapshots.append(tuple(kept))
                stored.snapshots = snapshots
                unlinked += len(ids)
        return unlinked

    def delete_dataset_records(self, trace_ids: Sequence[str]) -> int:
        wanted = set(trace_ids)
        removed = 0
        with self._store._lock:
            for stored in self._datasets():
                doomed = {r.record_id for snap in stored.snapshots for r in snap
                          if r.source_trace_id in wanted}
                if not doomed:
                    continue
                removed += len(doomed)
                stored.snapshots = [tuple(r for r in snap if r.record_id not in doomed)
                                    for snap in stored.snapshots]
                stored.versions = [dataclasses.replace(
                    v, digest=digest_of(r.content_hash for r in snap), record_count=len(snap))
                    for v, snap in zip(stored.versions, stored.snapshots, strict=True)]
                last = stored.versions[-1]
                stored.dataset = dataclasses.replace(stored.dataset, digest=last.digest,
                                                     record_count=last.record_count)
        return removed

    def storage_size(self) -> StorageSize:
        with self._store._lock:
            traces = [copy.copy(t) for t in self._store._traces.values()]
        size = sum(len(t.to_json()) for t in traces)  # the JSON the traces would take
        return StorageSize(size, size)

    def reclaim_space(self) -> None:
        pass  # memory is given back as traces go

    def close(self) -> None:
        pass


def open_retention_store(store: Any) -> RetentionStore:
    """The ``RetentionStore`` beside an open trace store (same database, or same memory)."""
    from spanscope.store.memory import InMemoryStore

    if isinstance(store, InMemoryStore):
        return InMemoryRetentionStore(store)
    uri = str(getattr(store, "uri", ""))
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from spanscope.store.sql.retention import SqlRetentionStore

        return SqlRetentionStore(uri)
    raise InvalidUriError(
        f"retention rules and privacy deletion work on the server's own store; {uri!r} is not "
        "one (use the sqlite:/// or postgresql:// URI the server runs on, or the server's "
        "REST API: /api/retention, /api/privacy, /api/storage)")
