"""Evaluation datasets in SQL: versioned records kept as row validity ranges.

A ``dataset_records`` row is one state of one record and belongs to the versions
``valid_from <= v < valid_to`` (``valid_to`` NULL: the current version). A merge locks
the dataset row (``FOR UPDATE`` on PostgreSQL; SQLite write transactions are exclusive),
reads only the current rows whose ``input_hash`` it touches, closes the rows of records
it changes and inserts their new states with ``valid_from`` = the new version. Unchanged
records are not copied, so a version costs rows only for what it changed, and any old
version reads back with one range query. The digest is recomputed from the current rows'
``content_hash`` column alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.entities.dataset import (
    EMPTY_DIGEST,
    Dataset,
    DatasetRecord,
    DatasetVersion,
    MergeResult,
    RecordUpdate,
    digest_of,
)
from spanscope.store import dataset_rules, trace_rules
from spanscope.store.sql import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["create_dataset", "delete_dataset", "get_dataset", "get_dataset_by_name",
           "list_versions", "merge_records", "read_records", "search_datasets", "set_tags"]

_CHUNK = 500


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _experiment_keys(conn: Connection, experiment_ids: Sequence[str]) -> list[int]:
    keys = []
    table = schema.experiments
    for experiment_id in experiment_ids:  # canonical ids
        key = int(experiment_id)
        if conn.execute(sa.select(table.c.experiment_id)
                        .where(table.c.experiment_id == key)).first() is None:
            raise trace_rules.experiment_not_found(experiment_id)
        keys.append(key)
    return keys


def _datasets(conn: Connection, rows: Sequence[Any]) -> list[Dataset]:
    ids = [row.dataset_id for row in rows]
    experiments: dict[str, list[str]] = {i: [] for i in ids}
    link = schema.dataset_experiments
    for start in range(0, len(ids), _CHUNK):
        for found in conn.execute(sa.select(link.c.dataset_id, link.c.experiment_id)
                                  .where(link.c.dataset_id.in_(ids[start:start + _CHUNK]))
                                  .order_by(link.c.dataset_id, link.c.experiment_id)):
            experiments[found.dataset_id].append(str(found.experiment_id))
    return [Dataset(dataset_id=row.dataset_id, name=row.name,
                    experiment_ids=experiments[row.dataset_id], tags=_loads(row.tags) or {},
                    version=row.current_version, digest=row.digest,
                    record_count=row.record_count, created_time=row.created_time,
                    last_update_time=row.last_update_time, created_by=row.created_by)
            for row in rows]


def _row(conn: Connection, dataset_id: str, *, lock: bool = False) -> Any:
    table = schema.datasets
    query = sa.select(table).where(table.c.dataset_id == dataset_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise dataset_rules.dataset_not_found(dataset_id)
    return row


def create_dataset(conn: Connection, dataset: Dataset) -> Dataset | None:
    """Insert a checked dataset at version 0; None if its name is taken."""
    table = schema.datasets
    if conn.execute(sa.select(table.c.dataset_id)
                    .where(table.c.name == dataset.name)).first() is not None:
        return None
    keys = _experiment_keys(conn, dataset.experiment_ids)
    conn.execute(table.insert().values(
        dataset_id=dataset.dataset_id, name=dataset.name, tags=_dumps(dataset.tags),
        current_version=0, digest=EMPTY_DIGEST, record_count=0,
        created_time=dataset.created_time, last_update_time=dataset.last_update_time,
        created_by=dataset.created_by))
    if keys:
        conn.execute(schema.dataset_experiments.insert(),
                     [{"dataset_id": dataset.dataset_id, "experiment_id": k} for k in keys])
    conn.execute(schema.dataset_versions.insert().values(
        dataset_id=dataset.dataset_id, version=0, digest=EMPTY_DIGEST, record_count=0,
        created_time=dataset.created_time))
    return get_dataset(conn, dataset.dataset_id)


def get_dataset(conn: Connection, dataset_id: str) -> Dataset:
    return _datasets(conn, [_row(conn, dataset_id)])[0]


def get_dataset_by_name(conn: Connection, name: str) -> Dataset | None:
    table = schema.datasets
    row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    return None if row is None else _datasets(conn, [row])[0]


def delete_dataset(conn: Connection, dataset_id: str) -> None:
    _row(conn, dataset_id, lock=True)
    # Children first: cascades need SQLite's foreign_keys pragma, explicit deletes do not.
    for table in (schema.dataset_records, schema.dataset_versions,
                  schema.dataset_experiments, schema.datasets):
        conn.execute(sa.delete(table).where(table.c.dataset_id == dataset_id))


def search_datasets(conn: Connection, experiment_keys: list[int] | None) -> list[Dataset]:
    table = schema.datasets
    query = sa.select(table)
    if experiment_keys is not None:
        link = schema.dataset_experiments
        query = query.where(table.c.dataset_id.in_(
            sa.select(link.c.dataset_id).where(link.c.experiment_id.in_(experiment_keys))))
    return _datasets(conn, conn.execute(query.order_by(table.c.created_time.desc(),
                                                       table.c.name)).all())


def set_tags(conn: Connection, dataset_id: str, tags: Mapping[str, str | None],
             now: int) -> Dataset:
    row = _row(conn, dataset_id, lock=True)
    merged = dict(_loads(row.tags) or {})
    for key, value in tags.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    conn.execute(sa.update(schema.datasets).where(schema.datasets.c.dataset_id == dataset_id)
                 .values(tags=_dumps(merged), last_update_time=max(now, row.last_update_time)))
    return get_dataset(conn, dataset_id)


def _record(row: Any) -> DatasetRecord:
    return DatasetRecord(
        record_id=row.record_id, inputs=json.loads(row.inputs),
        expectations=_loads(row.expectations), outputs=_loads(row.outputs),
        tags=_loads(row.tags), source=_loads(row.source), source_trace_id=row.source_trace_id,
        created_time=row.created_time, last_update_time=row.last_update_time, seq=row.seq)


def _record_row(dataset_id: str, record: DatasetRecord, version: int) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "record_id": record.record_id, "valid_from": version,
            "valid_to": None, "seq": record.seq, "input_hash": record.input_hash,
            "content_hash": record.content_hash, "inputs": _dumps(record.inputs),
            "expectations": _dumps(record.expectations), "outputs": _dumps(record.outputs),
            "tags": _dumps(record.tags), "source": _dumps(record.source),
            "source_trace_id": record.source_trace_id, "created_time": record.created_time,
            "last_update_time": record.last_update_time}


def merge_records(conn: Connection, dataset_id: str, updates: Mapping[str, RecordUpdate],
                  now: int) -> MergeResult:
    """Upsert ``updates`` (keyed by input hash) as a new version of the dataset."""
    row = _row(conn, dataset_id, lock=True)
    version = row.current_version + 1
    table = schema.dataset_records
    current: dict[str, DatasetRecord] = {}
    hashes = list(updates)
    for start in range(0, len(hashes), _CHUNK):
        for found in conn.execute(sa.select(table).where(
                table.c.dataset_id == dataset_id, table.c.valid_to.is_(None),
                table.c.input_hash.in_(hashes[start:start + _CHUNK]))):
            current[found.input_hash] = _record(found)
    top = conn.execute(sa.select(sa.func.max(table.c.seq))
                       .where(table.c.dataset_id == dataset_id)).scalar()
    next_seq = 0 if top is None else top + 1
    inserted = updated = unchanged = 0
    closed: list[str] = []
    rows: list[dict[str, Any]] = []
    for key, update in updates.items():
        existing = current.get(key)
        if existing is None:
            record = DatasetRecord.new(update, record_id=dataset_rules.new_record_id(),
                                       now=now, seq=next_seq)
            next_seq += 1
            inserted += 1
        else:
            updated += 1
            record = existing.merged(update, now=now)
            if record is existing:
                unchanged += 1
                continue
            closed.append(existing.record_id)
        rows.append(_record_row(dataset_id, record, version))
    for start in range(0, len(closed), _CHUNK):
        conn.execute(sa.update(table).where(
            table.c.dataset_id == dataset_id, table.c.valid_to.is_(None),
            table.c.record_id.in_(closed[start:start + _CHUNK])).values(valid_to=version))
    if rows:
        conn.execute(table.insert(), rows)
    content = conn.execute(sa.select(table.c.content_hash).where(
        table.c.dataset_id == dataset_id, table.c.valid_to.is_(None))).scalars().all()
    digest = digest_of(content)
    conn.execute(schema.dataset_versions.insert().values(
        dataset_id=dataset_id, version=version, digest=digest, record_count=len(content),
        created_time=now, inserted=inserted, updated=updated))
    conn.execute(sa.update(schema.datasets).where(schema.datasets.c.dataset_id == dataset_id)
                 .values(current_version=version, digest=digest, record_count=len(content),
                         last_update_time=max(now, row.last_update_time)))
    return MergeResult(get_dataset(conn, dataset_id), inserted, updated, unchanged)


def read_records(conn: Connection, dataset_id: str, version: int | None) -> list[DatasetRecord]:
    """The records of one version (default: the current one), oldest first."""
    row = _row(conn, dataset_id)
    table = schema.dataset_records
    query = sa.select(table).where(table.c.dataset_id == dataset_id)
    if version is not None:
        dataset_rules.check_version(version, row.current_version, row.name)
    if version is None or version == row.current_version:
        query = query.where(table.c.valid_to.is_(None))
    else:
        query = query.where(table.c.valid_from <= version,
                            sa.or_(table.c.valid_to.is_(None), table.c.valid_to > version))
    return [_record(found) for found in conn.execute(query.order_by(table.c.seq))]


def list_versions(conn: Connection, dataset_id: str) -> list[DatasetVersion]:
    _row(conn, dataset_id)
    table = schema.dataset_versions
    return [DatasetVersion(version=found.version, digest=found.digest,
                           record_count=found.record_count, created_time=found.created_time,
                           inserted=found.inserted, updated=found.updated)
            for found in conn.execute(sa.select(table).where(table.c.dataset_id == dataset_id)
                                      .order_by(table.c.version))]
