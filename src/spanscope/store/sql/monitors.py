"""``SqlMonitorStore``: the ``MonitorStore`` of a SQLite or PostgreSQL store.

Tables ``monitors`` (definition as JSON, current status in columns), ``monitor_evaluations``
and ``monitor_deliveries``. Like ``SqlKeyStore`` it opens its own small engine on the
store's URI, so the trace store's protocol stays free of monitors. Claims are conditional
updates (``WHERE next_due_ms = <the value read>``): of several processes that read the
same due monitor, exactly one moves it on and evaluates it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.entities.monitor import (
    Monitor,
    MonitorEvaluation,
    MonitorState,
    MonitorStatus,
    monitor_from_dict,
    next_due,
)
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.monitors import (
    CLAIM_LEASE_MS,
    Delivery,
    check_name,
    new_monitor_id,
    now_ms,
)
from spanscope.store.sql.schema import monitor_deliveries, monitor_evaluations, monitors
from spanscope.store.sql.side import SqlSideStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

__all__ = ["SqlMonitorStore"]



def _state(text: str | None) -> MonitorState | None:
    return None if text is None else MonitorState(text)


def _monitor_of(row: Row[Any]) -> Monitor:
    return monitor_from_dict({**json.loads(row.definition), "monitor_id": row.monitor_id,
                              "created_ms": row.created_ms})


def _status_of(row: Row[Any]) -> MonitorStatus:
    return MonitorStatus(state=_state(row.state), since_ms=row.since_ms,
                         last_eval_ms=row.last_eval_ms, last_notified_ms=row.last_notified_ms,
                         notified=_state(row.notified), next_due_ms=int(row.next_due_ms))


def _evaluation_of(row: Row[Any]) -> MonitorEvaluation:
    return MonitorEvaluation(monitor_id=row.monitor_id, time_ms=int(row.time_ms),
                             state=MonitorState(row.state), value=row.value,
                             samples=int(row.samples), window_start_ms=int(row.window_start_ms),
                             window_end_ms=int(row.window_end_ms), event=row.event)


def _delivery_of(row: Row[Any]) -> Delivery:
    return Delivery(delivery_id=row.delivery_id, monitor_id=row.monitor_id, url=row.url,
                    body=row.body, event=row.event, created_ms=int(row.created_ms),
                    next_attempt_ms=int(row.next_attempt_ms), attempts=int(row.attempts),
                    status=row.status, last_error=row.last_error, sent_ms=row.sent_ms)


class SqlMonitorStore(SqlSideStore):
    """Monitors in the database at ``uri``."""

    _what = "monitor store"

    @staticmethod
    def _row(conn: Connection, id_or_name: str) -> Row[Any]:
        row = conn.execute(sa.select(monitors).where(sa.or_(
            monitors.c.monitor_id == id_or_name, monitors.c.name == id_or_name))).first()
        if row is None:
            raise NotFoundError(f"no monitor with id or name {id_or_name!r}")
        return row

    # --- definitions ------------------------------------------------------------------
    def create_monitor(self, monitor: Monitor, *, created_ms: int | None = None) -> Monitor:
        name = check_name(monitor.name)
        stored = monitor.with_id(new_monitor_id(), now_ms() if created_ms is None
                                 else created_ms)
        stored = replace(stored, name=name)
        definition = {k: v for k, v in stored.to_dict(reveal_secret=True).items()
                      if k not in ("monitor_id", "created_ms")}

        def work(conn: Connection) -> None:
            taken = conn.execute(sa.select(monitors.c.monitor_id).where(
                monitors.c.name == name)).first()
            if taken is not None:
                raise InvalidInputError(f"a monitor named {name!r} already exists")
            conn.execute(monitors.insert().values(
                monitor_id=stored.monitor_id, name=name, definition=json.dumps(definition),
                created_ms=stored.created_ms, next_due_ms=stored.created_ms))

        self._run("create monitor", work, write=True)
        return stored

    def get_monitor(self, id_or_name: str) -> Monitor:
        return self._run("get monitor", lambda conn: _monitor_of(self._row(conn, id_or_name)))

    def list_monitors(self) -> list[Monitor]:
        return self._run("list monitors", lambda conn: [
            _monitor_of(row) for row in conn.execute(
                sa.select(monitors).order_by(monitors.c.name))])

    def delete_monitor(self, id_or_name: str) -> Monitor:
        def work(conn: Connection) -> Monitor:
            row = self._row(conn, id_or_name)
            for table in (monitor_deliveries, monitor_evaluations):  # children first
                conn.execute(table.delete().where(table.c.monitor_id == row.monitor_id))
            conn.execute(monitors.delete().where(monitors.c.monitor_id == row.monitor_id))
            return _monitor_of(row)

        return self._run("delete monitor", work, write=True)

    def get_status(self, monitor_id: str) -> MonitorStatus:
        return self._run("get monitor status",
                         lambda conn: _status_of(self._row(conn, monitor_id)))

    # --- the worker's steps --------------------------------------------------------------
    def claim_due(self, now_ms: int) -> list[tuple[Monitor, MonitorStatus]]:
        due = sa.select(monitors).where(monitors.c.next_due_ms <= now_ms).order_by(
            monitors.c.name)
        # Read first: most ticks find nothing due and then take no write lock at all.
        if not self._run("find due monitors", lambda conn: conn.execute(due).first()):
            return []

        def work(conn: Connection) -> list[tuple[Monitor, MonitorStatus]]:
            out = []
            for row in conn.execute(due).all():
                monitor = _monitor_of(row)
                moved = conn.execute(
                    monitors.update().where(monitors.c.monitor_id == row.monitor_id,
                                            monitors.c.next_due_ms == row.next_due_ms)
                    .values(next_due_ms=next_due(int(row.next_due_ms), monitor.cadence_ms,
                                                 now_ms)))
                if moved.rowcount == 1:
                    out.append((monitor, _status_of(row)))
            return out

        return self._run("claim due monitors", work, write=True)

    def record_evaluation(self, evaluation: MonitorEvaluation, status: MonitorStatus,
                          deliveries: Sequence[Delivery] = ()) -> None:
        def work(conn: Connection) -> None:
            updated = conn.execute(monitors.update().where(
                monitors.c.monitor_id == evaluation.monitor_id).values(
                state=None if status.state is None else status.state.value,
                since_ms=status.since_ms, last_eval_ms=status.last_eval_ms,
                last_notified_ms=status.last_notified_ms,
                notified=None if status.notified is None else status.notified.value))
            if updated.rowcount == 0:
                raise NotFoundError(f"no monitor with id {evaluation.monitor_id!r}")
            conn.execute(monitor_evaluations.insert().values(
                monitor_id=evaluation.monitor_id, time_ms=evaluation.time_ms,
                state=evaluation.state.value, value=evaluation.value,
                samples=evaluation.samples, window_start_ms=evaluation.window_start_ms,
                window_end_ms=evaluation.window_end_ms, event=evaluation.event))
            if deliveries:
                conn.execute(monitor_deliveries.insert(), [
                    {"delivery_id": d.delivery_id, "monitor_id": d.monitor_id, "url": d.url,
                     "body": d.body, "event": d.event, "created_ms": d.created_ms,
                     "next_attempt_ms": d.next_attempt_ms, "attempts": d.attempts,
                     "status": d.status, "last_error": d.last_error, "sent_ms": d.sent_ms}
                    for d in deliveries])

        self._run("record monitor evaluation", work, write=True)

    def list_evaluations(self, monitor_id: str, *, since_ms: int | None = None,
                         limit: int | None = None) -> list[MonitorEvaluation]:
        table = monitor_evaluations

        def work(conn: Connection) -> list[MonitorEvaluation]:
            found = self._row(conn, monitor_id).monitor_id
            query = sa.select(table).where(table.c.monitor_id == found)
            if since_ms is not None:
                query = query.where(table.c.time_ms >= since_ms)
            query = query.order_by(table.c.time_ms.desc(), table.c.evaluation_id.desc())
            if limit is not None:
                query = query.limit(max(0, int(limit)))
            return [_evaluation_of(row) for row in reversed(conn.execute(query).all())]

        return self._run("list monitor evaluations", work)

    def claim_deliveries(self, now_ms: int, *, limit: int = 100) -> list[Delivery]:
        table = monitor_deliveries
        due = (sa.select(table).where(table.c.status == "pending",
                                      table.c.next_attempt_ms <= now_ms)
               .order_by(table.c.created_ms, table.c.delivery_id).limit(limit))
        if not self._run("find due deliveries", lambda conn: conn.execute(due).first()):
            return []

        def work(conn: Connection) -> list[Delivery]:
            out = []
            for row in conn.execute(due).all():
                moved = conn.execute(table.update().where(
                    table.c.delivery_id == row.delivery_id,
                    table.c.next_attempt_ms == row.next_attempt_ms,
                    table.c.status == "pending").values(next_attempt_ms=now_ms + CLAIM_LEASE_MS))
                if moved.rowcount == 1:
                    out.append(_delivery_of(row))
            return out

        return self._run("claim deliveries", work, write=True)

    def finish_delivery(self, delivery_id: str, *, status: str, attempts: int,
                        next_attempt_ms: int, error: str | None,
                        sent_ms: int | None = None) -> None:
        table = monitor_deliveries
        self._run("record delivery", lambda conn: conn.execute(table.update().where(
            table.c.delivery_id == delivery_id).values(
            status=status, attempts=attempts, next_attempt_ms=next_attempt_ms,
            last_error=error, sent_ms=sent_ms)), write=True)

    def list_deliveries(self, monitor_id: str | None = None) -> list[Delivery]:
        table = monitor_deliveries
        query = sa.select(table).order_by(table.c.created_ms, table.c.delivery_id)
        if monitor_id is not None:
            query = query.where(table.c.monitor_id == monitor_id)
        return self._run("list deliveries",
                         lambda conn: [_delivery_of(row) for row in conn.execute(query)])

