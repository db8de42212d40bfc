"""The online worker's pass on SQLite and PostgreSQL: deterministic sampling, exactly-once
scoring across a restart and concurrent workers, late spans, judge outages and the cap.

Passes run with a simulated clock (``now_ms``) over traces logged at fixed times, so
"the delay has passed" is a number, not a sleep.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import pytest
from online_fixtures import JUDGE_MODEL, T0, finished

from factories import make_trace
from spanscope.entities import AssessmentSourceType, Trace, TraceData
from spanscope.entities.sampling import in_sample
from spanscope.genai.scorers import Safety
from spanscope.monitoring.online import (
    REGISTRATION_KEY,
    SCORER_NAME_KEY,
    SCORER_VERSION_KEY,
    OnlineState,
    run_online_pass,
)
from spanscope.monitoring.registry import register
from spanscope.testing.fake_openai import FakeOpenAI, Reply

MINUTE = 60_000


def scored(store: Any, name: str) -> collections.Counter[str]:
    """How many assessments named ``name`` each trace has."""
    counts: collections.Counter[str] = collections.Counter()
    token = None
    while True:
        page = store.search_traces(None, max_results=1000, page_token=token,
                                   include_spans=False)
        for trace in page:
            counts[trace.info.trace_id] += sum(a.name == name
                                               for a in trace.info.assessments)
        token = page.token
        if not token:
            return +counts


def drain(store: Any, scorers: Any, now_ms: int, **kwargs: Any) -> int:
    """Run passes until one scores nothing; the number of traces scored."""
    total = 0
    state = kwargs.pop("state", None) or OnlineState()
    for _ in range(100):
        report = run_online_pass(store, scorers=scorers, now_ms=now_ms, state=state,
                                 **kwargs)
        total += report.scored
        if not report.claimed:
            return total
    raise AssertionError("the worker never ran out of work")


def test_in_sample_is_deterministic_close_to_the_rate_and_nested() -> None:
    ids = [f"tr-{i:032x}" for i in range(10_000)]
    tenth = {t for t in ids if in_sample(t, 0.1)}
    assert tenth == {t for t in ids if in_sample(t, 0.1)}  # the same answer every time
    assert 900 <= len(tenth) <= 1100  # 10 % of 10,000 within ~3 standard deviations
    assert {t for t in ids if in_sample(t, 0.02)} <= tenth  # a lower rate is a subset
    assert all(in_sample(t, 1.0) for t in ids[:100])


def test_sampling_over_10000_stored_traces(online: tuple[Any, Any]) -> None:
    store, scorers = online
    ids = finished(store, 10_000)
    for name, rate in (("tenth", 0.1), ("fiftieth", 0.02)):
        register("online_code_scorers:span_count", name=name, experiment_id="0",
                 sample_rate=rate, delay_s=60, backfill=True, store=scorers)
    now = T0 + 10_000 + 100 + MINUTE
    drain(store, scorers, now, max_traces=5000)
    tenth, fiftieth = scored(store, "tenth"), scored(store, "fiftieth")
    assert set(tenth) == {t for t in ids if in_sample(t, 0.1)}
    assert set(fiftieth) == {t for t in ids if in_sample(t, 0.02)}
    assert 900 <= len(tenth) <= 1100 and 140 <= len(fiftieth) <= 260
    assert set(tenth.values()) == {1} and set(fiftieth.values()) == {1}
    assert set(fiftieth) <= set(tenth)


def test_assessments_carry_source_name_version_and_registration(
        online: tuple[Any, Any], judge: FakeOpenAI) -> None:
    store, scorers = online
    ids = finished(store, 3)
    code = register("online_code_scorers:span_count", name="spans", experiment_id="0",
                    backfill=True, store=scorers)
    judged = register(Safety(), experiment_id="0", backfill=True, store=scorers)
    report = run_online_pass(store, scorers=scorers, now_ms=T0 + 1000 + MINUTE,
                             state=OnlineState())
    assert (report.scored, report.assessments, report.judge_calls) == (6, 6, 3)
    assert judge.request_count == 3
    for trace_id in ids:
        found = {a.name: a for a in store.get_trace(trace_id).info.assessments}
        assert found["spans"].value == 2
        assert found["spans"].source.source_type == AssessmentSourceType.CODE
        assert found["safety"].value == "yes"
        assert found["safety"].source.source_type == AssessmentSourceType.LLM_JUDGE
        assert found["safety"].source.source_id == JUDGE_MODEL
        for registration in (code, judged):
            metadata = found[registration.name].metadata
            assert metadata[SCORER_NAME_KEY] == registration.name
            assert metadata[SCORER_VERSION_KEY] == "1"
            assert metadata[REGISTRATION_KEY] == registration.registration_id


def test_only_finished_traces_past_the_delay_that_match_the_filter(
        online: tuple[Any, Any]) -> None:
    store, scorers = online
    prod = finished(store, 5, tags={"env": "prod"})
    finished(store, 5, T0 + 100, tags={"env": "dev"})
    running = make_trace(2, request_time=T0 + 200, state="IN_PROGRESS", tags={"env": "prod"})
    store.log_traces([running])
    register("online_code_scorers:span_count", experiment_id="0", delay_s=60,
             filter_string="tags.env = 'prod'", backfill=True, store=scorers)
    state = OnlineState()
    early = run_online_pass(store, scorers=scorers, now_ms=T0 + MINUTE, state=state)
    assert early.scored == 0  # every trace ended less than 60 s before
    report = run_online_pass(store, scorers=scorers, now_ms=T0 + 300 + MINUTE, state=state)
    assert report.scored == 5
    assert set(scored(store, "span_count")) == set(prod)


def test_late_spans_arriving_within_the_delay_are_seen(online: tuple[Any, Any]) -> None:
    store, scorers = online
    full = make_trace(4, request_time=T0)
    root = full.data.root_span
    store.log_traces([Trace(full.info, TraceData([root]))])  # the root first, alone
    register("online_code_scorers:span_count", experiment_id="0", delay_s=30,
             backfill=True, store=scorers)
    end = T0 + full.info.execution_duration
    state = OnlineState()
    assert run_online_pass(store, scorers=scorers, now_ms=end + 29_000,
                           state=state).scored == 0
    store.log_traces([full])  # the other spans arrive 29 s after the trace ended
    assert run_online_pass(store, scorers=scorers, now_ms=end + 30_000,
                           state=state).scored == 1
    (assessment,) = store.get_trace(full.info.trace_id).info.assessments
    assert assessment.value == 4


def test_two_concurrent_workers_score_each_trace_exactly_once(
        online: tuple[Any, Any]) -> None:
    store, scorers = online
    ids = finished(store, 400)
    register("online_code_scorers:span_count", experiment_id="0", backfill=True,
             store=scorers)
    now = T0 + 500 + MINUTE
    totals: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        try:
            start.wait(30)
            totals.append(drain(store, scorers, now, worker_id=name, max_traces=40,
                                concurrency=4, writers=2))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sum(totals) == 400
    counts = scored(store, "span_count")
    assert set(counts) == set(ids) and set(counts.values()) == {1}


def test_a_restart_mid_way_resumes_and_scores_each_trace_once(
        online: tuple[Any, Any]) -> None:
    store, scorers = online
    ids = finished(store, 120)
    registration = register("online_code_scorers:span_count", experiment_id="0",
                            backfill=True, store=scorers)
    now = T0 + 200 + MINUTE
    first = run_online_pass(store, scorers=scorers, now_ms=now, worker_id="before",
                            max_traces=50, state=OnlineState())
    assert first.scored == 50
    # A worker that died mid-pass: 10 traces claimed, 4 of them already scored by it.
    claimed = [t for t in ids if t not in scored(store, "span_count")][:10]
    won = scorers.claim_traces(registration.registration_id, 1, claimed,
                               worker_id="dead", now_ms=now)
    assert won == claimed
    for trace_id in claimed[:4]:
        store.create_assessment(_like_the_worker(registration, trace_id))
    # The restarted process (a fresh state): the dead worker's claims wait for the lease.
    after = OnlineState()
    assert drain(store, scorers, now, worker_id="after", state=after) == 60
    assert scorers.checkpoint_counts(registration.registration_id)["claimed"] == 10
    later = now + 11 * MINUTE  # the default lease is 10 minutes
    assert drain(store, scorers, later, worker_id="after", state=after) == 10
    counts = scored(store, "span_count")
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert scorers.checkpoint_counts(registration.registration_id) == {
        "claimed": 0, "scored": 120, "skipped": 0}


def _like_the_worker(registration: Any, trace_id: str) -> Any:
    from spanscope.entities import AssessmentSource, Feedback

    return Feedback(name=registration.name, value=2, trace_id=trace_id,
                    source=AssessmentSource(AssessmentSourceType.CODE, registration.name),
                    metadata={SCORER_NAME_KEY: registration.name, SCORER_VERSION_KEY: "1",
                              REGISTRATION_KEY: registration.registration_id})


def test_a_judge_outage_backs_off_and_resumes(online: tuple[Any, Any],
                                              judge: FakeOpenAI) -> None:
    store, scorers = online
    ids = finished(store, 12)
    register(Safety(), experiment_id="0", backfill=True, store=scorers)
    down = threading.Event()
    down.set()
    judge.responder = lambda body: Reply.error(503, "overloaded") if down.is_set() else \
        '{"result": "yes", "rationale": "fine"}'
    state = OnlineState()
    now = T0 + 1000 + MINUTE
    outage = run_online_pass(store, scorers=scorers, now_ms=now, state=state, concurrency=2)
    assert outage.backing_off == ["safety"]
    assert outage.scored == 0 and outage.released == outage.claimed > 0
    assert scored(store, "safety") == {}  # no error assessments for a passing outage
    calls = judge.request_count
    assert calls < 12  # the pass stopped asking once the judge failed
    waiting = run_online_pass(store, scorers=scorers, now_ms=now + 1000, state=state)
    assert waiting.backing_off == ["safety"] and judge.request_count == calls
    down.clear()
    resumed = run_online_pass(store, scorers=scorers, now_ms=now + 10 * MINUTE,
                              state=state)
    assert resumed.scored == 12 and not resumed.backing_off
    counts = scored(store, "safety")
    assert set(counts) == set(ids) and set(counts.values()) == {1}


def test_judge_calls_are_capped_per_hour(online: tuple[Any, Any],
                                         judge: FakeOpenAI) -> None:
    store, scorers = online
    finished(store, 12)
    register(Safety(), experiment_id="0", backfill=True, max_judge_calls_per_hour=5,
             store=scorers)
    state = OnlineState()
    now = T0 + 1000 + MINUTE
    assert run_online_pass(store, scorers=scorers, now_ms=now, state=state).scored == 5
    capped = run_online_pass(store, scorers=scorers, now_ms=now + MINUTE, state=state)
    assert capped.capped == ["safety"] and judge.request_count == 5
    # A second worker (its own process state) reads the same cap from the store.
    assert run_online_pass(store, scorers=scorers, now_ms=now + MINUTE,
                           state=OnlineState()).capped == ["safety"]
    an_hour_later = run_online_pass(store, scorers=scorers, now_ms=now + 61 * MINUTE,
                                    state=state)
    assert an_hour_later.scored == 5 and judge.request_count == 10


def test_a_scorer_that_raises_is_an_error_assessment_not_a_retry(
        online: tuple[Any, Any]) -> None:
    store, scorers = online
    finished(store, 3)
    register("online_code_scorers:broken", experiment_id="0", backfill=True, store=scorers)
    state = OnlineState()
    report = run_online_pass(store, scorers=scorers, now_ms=T0 + 1000 + MINUTE, state=state)
    assert (report.scored, report.errors) == (3, 3)
    again = run_online_pass(store, scorers=scorers, now_ms=T0 + 1000 + MINUTE, state=state)
    assert again.claimed == 0


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_what_a_scorer_calls_is_not_traced(online: tuple[Any, Any]) -> None:
    import spanscope

    store, scorers = online
    finished(store, 4)
    spanscope.set_tracking_uri(store.uri)
    register("online_code_scorers:calls_traced_code", experiment_id="0", backfill=True,
             store=scorers)
    report = run_online_pass(store, scorers=scorers, now_ms=T0 + 1000 + MINUTE,
                             state=OnlineState())
    assert report.scored == 4 and report.errors == 0
    assert spanscope.flush(timeout=30)
    names = {t.info.tags.get("mlflow.traceName") for t in
             store.search_traces(None, max_results=100, include_spans=False)}
    assert names == {"agent"}  # no "helper_inside_scorer" trace was recorded
    from online_code_scorers import _traced_helper

    _traced_helper("outside the worker")  # the same function outside it is traced
    assert spanscope.flush(timeout=30)
    names = {t.info.tags.get("mlflow.traceName") for t in
             store.search_traces(None, max_results=100, include_spans=False)}
    assert names == {"agent", "helper_inside_scorer"}


_WORKER = """
import sys
from spanscope.store.sql import SqlStore
from spanscope.monitoring.online import OnlineState, run_online_pass
store, state = SqlStore(sys.argv[1]), OnlineState()
while True:
    run_online_pass(store, now_ms=int(sys.argv[2]), worker_id="killed", max_traces=10,
                    concurrency=2, state=state)
"""


def test_a_worker_killed_mid_pass_loses_nothing_and_doubles_nothing(
        online: tuple[Any, Any]) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    store, scorers = online
    ids = finished(store, 80)
    register("online_code_scorers:slow_span_count", experiment_id="0", backfill=True,
             store=scorers)
    now = T0 + 1000 + MINUTE
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(here.parents[1] / "src"), str(here.parent), str(here)])}
    process = subprocess.Popen([sys.executable, "-c", _WORKER, store.uri, str(now)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(scored(store, "slow_span_count")) < 25:  # killed part-way through
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the worker process scored too slowly"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    done_by_killed = len(scored(store, "slow_span_count"))
    assert done_by_killed < 80
    state = OnlineState()
    drain(store, scorers, now, worker_id="restarted", state=state)  # its claims wait ...
    drain(store, scorers, now + 11 * MINUTE, worker_id="restarted", state=state)  # ... lease
    counts = scored(store, "slow_span_count")
    assert set(counts) == set(ids) and set(counts.values()) == {1}


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_judge_calls_are_not_traced_even_with_autolog_on(online: tuple[Any, Any],
                                                         judge: FakeOpenAI) -> None:
    import spanscope
    import spanscope.openai

    store, scorers = online
    finished(store, 3)
    spanscope.set_tracking_uri(store.uri)
    register(Safety(), experiment_id="0", backfill=True, store=scorers)
    register("online_code_scorers:asks_a_model", experiment_id="0", backfill=True,
             store=scorers)
    spanscope.openai.autolog()
    try:
        report = run_online_pass(store, scorers=scorers, now_ms=T0 + 1000 + MINUTE,
                                 state=OnlineState())
        assert (report.scored, report.errors) == (6, 0)
        assert judge.request_count == 6  # 3 judge calls, 3 calls of the code scorer
        assert spanscope.flush(timeout=30)
        assert len(store.search_traces(None, max_results=100, include_spans=False)) == 3
        import openai  # the same client call outside the worker is traced

        openai.OpenAI(api_key="local", max_retries=0).chat.completions.create(
            model="fake-judge", messages=[{"role": "user", "content": "hi"}])
        assert spanscope.flush(timeout=30)
        assert len(store.search_traces(None, max_results=100, include_spans=False)) == 4
    finally:
        spanscope.openai.autolog(disable=True)
