"""The online scorer store on SQLite and PostgreSQL: registrations, atomic claims across
processes, stale claims, the judge-call count, and the migration from a 0006 database."""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from factories import make_trace
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.online_scorers import (
    Finished,
    InMemoryOnlineScorerStore,
    OnlineScorerStore,
    changed,
    new_registration,
    open_online_scorer_store,
)
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import HEAD, VERSION_TABLE, alembic_config

SPEC = {"kind": "code", "import_path": "online_code_scorers:span_count"}


@pytest.fixture(params=["memory", "sql"])
def scorers(request: pytest.FixtureRequest, store_uri: str) -> Any:
    opened = InMemoryOnlineScorerStore() if request.param == "memory" else \
        open_online_scorer_store(store_uri)
    yield opened
    opened.close()


def test_registrations_round_trip_and_names_are_unique_per_experiment(
        scorers: OnlineScorerStore) -> None:
    first = scorers.create_online_scorer(new_registration("0", "spans", SPEC,
                                                          sample_rate=0.25, delay_s=5))
    assert scorers.get_online_scorer("0", "spans") == first
    with pytest.raises(InvalidInputError, match="already has an online scorer named 'spans'"):
        scorers.create_online_scorer(new_registration("0", "spans", SPEC))
    other = scorers.create_online_scorer(new_registration("1", "spans", SPEC))
    assert [s.registration_id for s in scorers.list_online_scorers()] == [
        first.registration_id, other.registration_id]
    assert scorers.list_online_scorers("1") == [other]
    updated = scorers.save_online_scorer(changed(first, {"sample_rate": 0.5}))
    assert (updated.sample_rate, updated.version) == (0.5, 1)
    respec = scorers.save_online_scorer(changed(updated, {"spec": {**SPEC, "x": 1}}))
    assert respec.version == 2
    scorers.advance_scan(first.registration_id, first.scan_from_ms + 10)
    scorers.advance_scan(first.registration_id, first.scan_from_ms + 5)  # never backward
    assert scorers.get_online_scorer("0", "spans").scan_from_ms == first.scan_from_ms + 10
    scorers.delete_online_scorer(first.registration_id)
    with pytest.raises(NotFoundError, match="no online scorer named 'spans'"):
        scorers.get_online_scorer("0", "spans")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sample_rate", 0.0, "sample_rate must be a number in"),
    ("sample_rate", 1.5, "sample_rate must be a number in"),
    ("delay_s", -1, "delay_s must be"),
    ("max_judge_calls_per_hour", 0, "max_judge_calls_per_hour must be"),
    ("name", "bad;name", "online scorer name"),
])
def test_bad_fields_are_refused(field: str, value: Any, message: str) -> None:
    options: dict[str, Any] = {field: value} if field != "name" else {}
    with pytest.raises(InvalidInputError, match=message):
        new_registration("0", value if field == "name" else "ok", SPEC, **options)


def test_claims_stale_takeover_release_and_judge_calls(scorers: OnlineScorerStore) -> None:
    reg = scorers.create_online_scorer(new_registration("0", "spans", SPEC)).registration_id
    assert scorers.claim_traces(reg, 1, ["a", "b", "c"], worker_id="w1", now_ms=1000) == [
        "a", "b", "c"]
    assert scorers.claim_traces(reg, 1, ["b", "d"], worker_id="w2", now_ms=1000) == ["d"]
    assert scorers.claim_traces(reg, 2, ["b"], worker_id="w2", now_ms=1000) == ["b"]
    scorers.finish_claims(reg, 1, [Finished("a", judge_calls=3)], worker_id="w1",
                          now_ms=1100)
    scorers.finish_claims(reg, 1, [Finished("d")], worker_id="w1", now_ms=1100)  # not w1's
    assert scorers.judge_calls_since(reg, 0) == 3 + 1 + 1 + 1 + 1  # b, c, d (v1), b (v2)
    assert scorers.take_over_stale(reg, 1, worker_id="w3", now_ms=1500, lease_ms=1000,
                                   limit=10) == []
    assert sorted(scorers.take_over_stale(reg, 1, worker_id="w3", now_ms=2500,
                                          lease_ms=1000, limit=10)) == ["b", "c", "d"]
    scorers.release_claims(reg, 1, ["b", "c"], worker_id="w1")  # no longer w1's: no-op
    scorers.release_claims(reg, 1, ["c"], worker_id="w3")  # given back, still claimed ...
    assert scorers.claim_traces(reg, 1, ["c"], worker_id="w4", now_ms=3000) == []
    assert scorers.take_over_stale(reg, 1, worker_id="w4", now_ms=3000, lease_ms=1000,
                                   limit=10) == ["c"]  # ... and anyone's to take over
    assert scorers.checkpoint_counts(reg) == {"claimed": 4, "scored": 1, "skipped": 0}


def _claim_in_process(uri: str, reg: str, ids: list[str], name: str,
                      start: Any, results: Any) -> None:
    try:
        scorers = open_online_scorer_store(uri)
        start.wait(60)
        won: list[str] = []
        for begin in range(0, len(ids), 25):  # many small claims, interleaving
            won += scorers.claim_traces(reg, 1, ids[begin:begin + 25], worker_id=name,
                                        now_ms=1)
        scorers.close()
        results.put(("ok", won))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def test_processes_claiming_the_same_traces_win_each_exactly_once(store_uri: str) -> None:
    scorers = open_online_scorer_store(store_uri)
    reg = scorers.create_online_scorer(new_registration("0", "spans", SPEC)).registration_id
    ids = [f"tr-{i:04d}" for i in range(400)]
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(3), ctx.Queue()
    workers = [ctx.Process(target=_claim_in_process, args=(
        store_uri, reg, ids if i % 2 else list(reversed(ids)), f"p{i}", start, results))
        for i in range(3)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    except queue.Empty:
        pytest.fail("a claiming process did not finish in 120 s")
    finally:
        for worker in workers:
            worker.join(30)
        scorers.close()
    assert [kind for kind, _ in outcomes] == ["ok"] * 3, outcomes
    won = [trace_id for _, claimed in outcomes for trace_id in claimed]
    assert sorted(won) == ids  # every trace won once, by one process


def test_a_0006_database_migrates_and_keeps_its_traces(store_uri: str) -> None:
    with SqlStore(store_uri) as store:
        store.log_traces([make_trace(2, trace_id="tr-kept")])
    engine = sa.create_engine(parse_uri(store_uri))
    try:
        with engine.begin() as conn:  # a database as Spanscope left it at revision 0006
            command.downgrade(alembic_config(conn), "0006")
        tables = set(sa.inspect(engine).get_table_names())
        assert "api_keys" in tables and "online_scorers" not in tables
        scorers = open_online_scorer_store(store_uri)  # opening it migrates to HEAD
        try:
            created = scorers.create_online_scorer(new_registration("0", "spans", SPEC))
            assert scorers.list_online_scorers("0") == [created]
        finally:
            scorers.close()
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
                                ).scalar() == HEAD
            assert conn.execute(sa.text("SELECT trace_id FROM traces")).scalars().all() == [
                "tr-kept"]
    finally:
        engine.dispose()
