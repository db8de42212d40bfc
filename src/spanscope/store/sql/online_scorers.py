"""``SqlOnlineScorerStore``: online scorers in a SQLite or PostgreSQL database.

Tables ``online_scorers`` and ``online_scorer_checkpoints`` (migration 0008). Claiming is
one ``INSERT ... ON CONFLICT DO NOTHING ... RETURNING``: the checkpoint's primary key
(registration, version, trace) decides, inside the database, which of several workers
(threads or processes) gets each trace, and each learns which ones it won. Taking over a
stale claim is a conditional ``UPDATE ... RETURNING``, atomic the same way. Like
``SqlKeyStore`` it opens its own small engine on the store's URI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.online_scorers import (
    CLAIMED,
    SCORED,
    SKIPPED,
    Finished,
    OnlineScorer,
    check_registration,
)
from spanscope.store.sql.schema import online_scorer_checkpoints as checkpoints
from spanscope.store.sql.schema import online_scorers
from spanscope.store.sql.side import SqlSideStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

__all__ = ["SqlOnlineScorerStore"]

_CLAIM_CHUNK = 500  # rows per INSERT (8 parameters each: far below SQLite's limit)


def _scorer_of(row: Row) -> OnlineScorer:
    return OnlineScorer(
        registration_id=row.registration_id, experiment_id=str(row.experiment_id),
        name=row.name, spec=json.loads(row.spec), version=row.version,
        sample_rate=row.sample_rate, filter_string=row.filter_string, delay_s=row.delay_s,
        max_judge_calls_per_hour=row.max_judge_calls_per_hour, active=bool(row.active),
        scan_from_ms=row.scan_from_ms, created_time=row.created_time,
        last_update_time=row.last_update_time)


def _row_of(scorer: OnlineScorer) -> dict[str, Any]:
    row = scorer.to_dict()
    row["spec"] = json.dumps(scorer.spec, sort_keys=True)
    try:
        row["experiment_id"] = int(scorer.experiment_id)
    except ValueError:
        raise InvalidInputError(f"experiment id {scorer.experiment_id!r} is not a "
                                f"number") from None
    return row


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(checkpoints)


class SqlOnlineScorerStore(SqlSideStore):
    """Online scorers in the database at ``uri``."""

    _what = "online scorer store"

    # --- registrations --------------------------------------------------------------
    def _name_taken(self, conn: Connection, scorer: OnlineScorer) -> bool:
        found = conn.execute(sa.select(online_scorers.c.registration_id).where(
            online_scorers.c.experiment_id == int(scorer.experiment_id),
            online_scorers.c.name == scorer.name)).scalar()
        return found is not None and found != scorer.registration_id

    def create_online_scorer(self, scorer: OnlineScorer) -> OnlineScorer:
        scorer = check_registration(scorer)
        row = _row_of(scorer)

        def work(conn: Connection) -> None:
            if self._name_taken(conn, scorer):
                raise InvalidInputError(f"experiment {scorer.experiment_id} already has an "
                                        f"online scorer named {scorer.name!r}")
            conn.execute(online_scorers.insert().values(**row))

        self._run("register online scorer", work, write=True)
        return scorer

    def get_online_scorer(self, experiment_id: str, name: str) -> OnlineScorer:
        try:
            experiment = int(experiment_id)
        except ValueError:
            raise NotFoundError(f"no experiment with id {experiment_id!r}") from None
        row = self._run("get online scorer", lambda conn: conn.execute(
            sa.select(online_scorers).where(online_scorers.c.experiment_id == experiment,
                                            online_scorers.c.name == name)).first())
        if row is None:
            raise NotFoundError(f"no online scorer named {name!r} in experiment "
                                f"{experiment_id}")
        return _scorer_of(row)

    def list_online_scorers(self, experiment_id: str | None = None) -> list[OnlineScorer]:
        query = sa.select(online_scorers).order_by(online_scorers.c.experiment_id,
                                                   online_scorers.c.name)
        if experiment_id is not None:
            try:
                query = query.where(online_scorers.c.experiment_id == int(experiment_id))
            except ValueError:
                return []
        return self._run("list online scorers",
                         lambda conn: [_scorer_of(row) for row in conn.execute(query)])

    def save_online_scorer(self, scorer: OnlineScorer) -> OnlineScorer:
        scorer = check_registration(scorer)
        row = _row_of(scorer)
        del row["scan_from_ms"], row["registration_id"], row["created_time"]

        def work(conn: Connection) -> OnlineScorer:
            if self._name_taken(conn, scorer):
                raise InvalidInputError(f"experiment {scorer.experiment_id} already has an "
                                        f"online scorer named {scorer.name!r}")
            key = online_scorers.c.registration_id == scorer.registration_id
            if conn.execute(online_scorers.update().where(key).values(**row)).rowcount == 0:
                raise NotFoundError(f"no online scorer with id {scorer.registration_id!r}")
            return _scorer_of(conn.execute(sa.select(online_scorers).where(key)).one())

        return self._run("update online scorer", work, write=True)

    def delete_online_scorer(self, registration_id: str) -> None:
        def work(conn: Connection) -> None:
            conn.execute(checkpoints.delete().where(
                checkpoints.c.registration_id == registration_id))
            deleted = conn.execute(online_scorers.delete().where(
                online_scorers.c.registration_id == registration_id)).rowcount
            if deleted == 0:
                raise NotFoundError(f"no online scorer with id {registration_id!r}")

        self._run("delete online scorer", work, write=True)

    def advance_scan(self, registration_id: str, scan_from_ms: int) -> None:
        self._run("advance online scorer scan", lambda conn: conn.execute(
            online_scorers.update().where(
                online_scorers.c.registration_id == registration_id,
                online_scorers.c.scan_from_ms < scan_from_ms).values(
                scan_from_ms=scan_from_ms)), write=True)

    # --- checkpoints ----------------------------------------------------------------
    def claim_traces(self, registration_id: str, version: int, trace_ids: Sequence[str], *,
                     worker_id: str, now_ms: int) -> list[str]:
        wanted = list(dict.fromkeys(trace_ids))
        if not wanted:
            return []

        def work(conn: Connection) -> list[str]:
            won: set[str] = set()
            for start in range(0, len(wanted), _CLAIM_CHUNK):
                rows = [{"registration_id": registration_id, "version": version,
                         "trace_id": trace_id, "status": CLAIMED, "worker_id": worker_id,
                         "claimed_time": now_ms}
                        for trace_id in wanted[start:start + _CLAIM_CHUNK]]
                statement = (_insert(conn).values(rows).on_conflict_do_nothing()
                             .returning(checkpoints.c.trace_id))
                won.update(conn.execute(statement).scalars())
            return [trace_id for trace_id in wanted if trace_id in won]

        return self._run("claim traces", work, write=True)

    def take_over_stale(self, registration_id: str, version: int, *, worker_id: str,
                        now_ms: int, lease_ms: int, limit: int) -> list[str]:
        cutoff = now_ms - lease_ms
        stale = sa.and_(checkpoints.c.registration_id == registration_id,
                        checkpoints.c.version == version, checkpoints.c.status == CLAIMED,
                        checkpoints.c.claimed_time < cutoff)

        def work(conn: Connection) -> list[str]:
            candidates = list(conn.execute(sa.select(checkpoints.c.trace_id).where(stale)
                                           .order_by(checkpoints.c.claimed_time)
                                           .limit(limit)).scalars())
            if not candidates:
                return []
            # Re-checked row by row by the UPDATE itself: a concurrent taker that got there
            # first has moved claimed_time, so the row no longer matches here.
            return list(conn.execute(
                checkpoints.update().where(stale, checkpoints.c.trace_id.in_(candidates))
                .values(worker_id=worker_id, claimed_time=now_ms)
                .returning(checkpoints.c.trace_id)).scalars())

        return self._run("take over stale claims", work, write=True)

    def finish_claims(self, registration_id: str, version: int,
                      finished: Sequence[Finished], *, worker_id: str, now_ms: int) -> None:
        if not finished:
            return
        statement = checkpoints.update().where(
            checkpoints.c.registration_id == registration_id,
            checkpoints.c.version == version,
            checkpoints.c.trace_id == sa.bindparam("b_trace_id"),
            checkpoints.c.status == CLAIMED,
            checkpoints.c.worker_id == worker_id).values(
            status=sa.bindparam("b_status"), judge_calls=sa.bindparam("b_calls"),
            done_time=now_ms)
        params = [{"b_trace_id": f.trace_id, "b_status": f.status, "b_calls": f.judge_calls}
                  for f in finished]
        self._run("finish claims", lambda conn: conn.execute(statement, params), write=True)

    def release_claims(self, registration_id: str, version: int, trace_ids: Sequence[str],
                       *, worker_id: str) -> None:
        if not trace_ids:
            return
        # Kept, but with no owner and an age beyond any lease: the next pass of any worker
        # takes it over, whatever the scan position has become meanwhile.
        statement = checkpoints.update().where(
            checkpoints.c.registration_id == registration_id,
            checkpoints.c.version == version, checkpoints.c.status == CLAIMED,
            checkpoints.c.worker_id == worker_id,
            checkpoints.c.trace_id.in_(list(trace_ids))).values(worker_id="", claimed_time=0)
        self._run("release claims", lambda conn: conn.execute(statement), write=True)

    def judge_calls_since(self, registration_id: str, since_ms: int) -> int:
        total = self._run("count judge calls", lambda conn: conn.execute(
            sa.select(sa.func.sum(sa.func.coalesce(checkpoints.c.judge_calls, 1))).where(
                checkpoints.c.registration_id == registration_id,
                checkpoints.c.claimed_time >= since_ms)).scalar())
        return int(total or 0)

    def checkpoint_counts(self, registration_id: str) -> dict[str, int]:
        rows = self._run("count checkpoints", lambda conn: conn.execute(
            sa.select(checkpoints.c.status, sa.func.count()).where(
                checkpoints.c.registration_id == registration_id)
            .group_by(checkpoints.c.status)).all())
        counts = {CLAIMED: 0, SCORED: 0, SKIPPED: 0}
        counts.update({status: int(n) for status, n in rows})
        return counts

