"""Runs in SQL: create, read, end, and ``log_batch`` (params, tags, metric history).

Every write to a run first locks its row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
write transactions are already exclusive), so concurrent ``log_metric`` calls on one run
keep ``run_latest_metrics`` right and parameter conflicts are always seen. NaN metric
values are stored as NULL (SQLite cannot store NaN) and read back as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.entities.run import Metric, Run, RunData, RunInfo, RunTagKey, latest_metric
from spanscope.store import run_rules, trace_rules
from spanscope.store.sql import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["create_run", "get_run", "log_batch", "metric_history", "search_runs",
           "update_run"]

_CHUNK = 500  # ids per IN (...) list


def _experiment_key(conn: Connection, experiment_id: str) -> int:
    """The key of an existing experiment (``experiment_id`` is canonical)."""
    key = int(experiment_id)
    table = schema.experiments
    if conn.execute(sa.select(table.c.experiment_id)
                    .where(table.c.experiment_id == key)).first() is None:
        raise trace_rules.experiment_not_found(experiment_id)
    return key


def create_run(conn: Connection, info: RunInfo, tags: dict[str, str]) -> Run:
    key = _experiment_key(conn, info.experiment_id)
    conn.execute(schema.runs.insert().values(
        run_id=info.run_id, experiment_id=key, run_name=info.run_name,
        status=str(info.status), start_time=info.start_time, end_time=info.end_time,
        artifact_uri=info.artifact_uri, user_id=info.user_id,
        lifecycle_stage=info.lifecycle_stage))
    if tags:
        conn.execute(schema.run_tags.insert(),
                     [{"run_id": info.run_id, "key": k, "value": v} for k, v in tags.items()])
    return Run(info, RunData(tags=dict(tags)))


def _lock_run(conn: Connection, run_id: str) -> Any:
    table = schema.runs
    row = conn.execute(sa.select(table).where(table.c.run_id == run_id)
                       .with_for_update()).first()
    if row is None:
        raise run_rules.run_not_found(run_id)
    return row


def _info(row: Any) -> RunInfo:
    return RunInfo(run_id=row.run_id, experiment_id=str(row.experiment_id),
                   run_name=row.run_name, status=row.status, start_time=row.start_time,
                   end_time=row.end_time, artifact_uri=row.artifact_uri, user_id=row.user_id,
                   lifecycle_stage=row.lifecycle_stage)


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _load(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Runs for these ``runs`` rows, params, tags and latest metrics read in bulk."""
    ids = [row.run_id for row in rows]
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for table, into in ((schema.run_params, params), (schema.run_tags, tags)):
            for found in conn.execute(sa.select(table.c.run_id, table.c["key"], table.c.value)
                                      .where(table.c.run_id.in_(chunk))
                                      .order_by(table.c.run_id, table.c["key"])):
                into[found.run_id][found.key] = found.value
        latest = schema.run_latest_metrics
        for found in conn.execute(sa.select(latest.c.run_id, latest.c["key"], latest.c.value)
                                  .where(latest.c.run_id.in_(chunk))
                                  .order_by(latest.c.run_id, latest.c["key"])):
            metrics[found.run_id][found.key] = _value(found.value)
    return [Run(_info(row), RunData(params=params[row.run_id], metrics=metrics[row.run_id],
                                    tags=tags[row.run_id])) for row in rows]


def get_run(conn: Connection, run_id: str) -> Run:
    table = schema.runs
    row = conn.execute(sa.select(table).where(table.c.run_id == run_id)).first()
    if row is None:
        raise run_rules.run_not_found(run_id)
    return _load(conn, [row])[0]


def update_run(conn: Connection, run_id: str, *, status: str | None, end_time: int | None,
               run_name: str | None) -> RunInfo:
    _lock_run(conn, run_id)
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = status
    if end_time is not None:
        values["end_time"] = end_time
    if run_name is not None:
        values["run_name"] = run_name
        _set_tags(conn, run_id, {RunTagKey.RUN_NAME: run_name})
    if values:
        conn.execute(sa.update(schema.runs).where(schema.runs.c.run_id == run_id)
                     .values(**values))
    return _info(conn.execute(sa.select(schema.runs)
                              .where(schema.runs.c.run_id == run_id)).one())


def _set_tags(conn: Connection, run_id: str, tags: dict[str, str]) -> None:
    table = schema.run_tags
    stored = {row.key: row.value for row in conn.execute(
        sa.select(table.c["key"], table.c.value)
        .where(table.c.run_id == run_id, table.c["key"].in_(list(tags))))}
    for key, value in tags.items():
        if key not in stored:
            conn.execute(table.insert().values(run_id=run_id, key=key, value=value))
        elif stored[key] != value:
            conn.execute(sa.update(table).where(table.c.run_id == run_id,
                                                table.c["key"] == key).values(value=value))


def log_batch(conn: Connection, run_id: str, batch: run_rules.Batch) -> None:
    """Write validated params, tags and metrics to one run (which must exist)."""
    _lock_run(conn, run_id)
    if batch.params:
        table = schema.run_params
        stored = {row.key: row.value for row in conn.execute(
            sa.select(table.c["key"], table.c.value)
            .where(table.c.run_id == run_id, table.c["key"].in_(list(batch.params))))}
        run_rules.conflicting_param(run_id, stored, batch.params)
        new = [{"run_id": run_id, "key": k, "value": v}
               for k, v in batch.params.items() if k not in stored]
        if new:
            conn.execute(table.insert(), new)
    if batch.tags:
        _set_tags(conn, run_id, batch.tags)
        if RunTagKey.RUN_NAME in batch.tags:
            conn.execute(sa.update(schema.runs).where(schema.runs.c.run_id == run_id)
                         .values(run_name=run_rules.run_name_of_tag(
                             batch.tags[RunTagKey.RUN_NAME])))
    if batch.metrics:
        _log_metrics(conn, run_id, batch.metrics)


def _log_metrics(conn: Connection, run_id: str, metrics: list[Metric]) -> None:
    conn.execute(schema.run_metrics.insert(), [
        {"run_id": run_id, "key": m.key, "value": run_rules.nan_to_none(m.value),
         "timestamp": m.timestamp, "step": m.step} for m in metrics])
    table = schema.run_latest_metrics
    keys = sorted({m.key for m in metrics})
    stored = {row.key: Metric(row.key, _value(row.value), row.timestamp, row.step)
              for row in conn.execute(sa.select(table).where(table.c.run_id == run_id,
                                                             table.c["key"].in_(keys)))}
    latest: dict[str, Metric] = {}
    for metric in metrics:
        latest[metric.key] = latest_metric(latest.get(metric.key) or stored.get(metric.key),
                                           metric)
    for key, metric in latest.items():
        values = {"value": run_rules.nan_to_none(metric.value), "timestamp": metric.timestamp,
                  "step": metric.step}
        if key not in stored:
            conn.execute(table.insert().values(run_id=run_id, key=key, **values))
        elif metric is not stored[key]:
            conn.execute(sa.update(table).where(table.c.run_id == run_id,
                                                table.c["key"] == key).values(**values))


def metric_history(conn: Connection, run_id: str, key: str) -> list[Metric]:
    table = schema.runs
    if conn.execute(sa.select(table.c.run_id).where(table.c.run_id == run_id)).first() is None:
        raise run_rules.run_not_found(run_id)
    metrics = schema.run_metrics
    rows = conn.execute(sa.select(metrics.c.value, metrics.c.timestamp, metrics.c.step)
                        .where(metrics.c.run_id == run_id, metrics.c["key"] == key)
                        .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.metric_id))
    return [Metric(key, _value(row.value), row.timestamp, row.step) for row in rows]


def search_runs(conn: Connection, experiment_keys: list[int] | None) -> list[Run]:
    """Every active run of these experiments (None: all), for ``entity_search``."""
    table = schema.runs
    query = sa.select(table).where(table.c.lifecycle_stage == "active")
    if experiment_keys is not None:
        query = query.where(table.c.experiment_id.in_(experiment_keys))
    rows = conn.execute(query.order_by(table.c.start_time.desc(), table.c.run_id)).all()
    return _load(conn, rows)
