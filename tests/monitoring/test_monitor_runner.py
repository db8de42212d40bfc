"""Monitors on SQLite and PostgreSQL, on a simulated clock, notifying a real webhook
receiver on 127.0.0.1: the states they step through, exactly the notifications expected,
retries of a failing webhook that never hold up other monitors, and bad definitions."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator

import pytest
from webhook_receiver import webhook_receiver

from factories import make_trace
from spanscope.entities import AssessmentSource, Feedback
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.monitoring.definition import define_monitor
from spanscope.monitoring.notify import BACKOFF_MS, WebhookSender, sign
from spanscope.monitoring.runner import run_monitor_pass
from spanscope.store.monitors import InMemoryMonitorStore, open_monitor_store
from spanscope.store.sql import SqlStore

T0 = 1_790_000_000_000
MIN = 60_000
SECRET = "s3cret"


@pytest.fixture
def stores(store_uri: str) -> Iterator[tuple[SqlStore, object]]:
    store, monitors = SqlStore(store_uri), open_monitor_store(store_uri)
    yield store, monitors
    monitors.close()
    store.close()


def _log(store: SqlStore, at_ms: int, *, ok: int = 0, errors: int = 0) -> None:
    traces = [make_trace(request_time=at_ms + i, state="OK") for i in range(ok)]
    traces += [make_trace(request_time=at_ms + ok + i, state="ERROR") for i in range(errors)]
    store.log_traces(traces)


def _signed(received) -> bool:
    expected = sign(SECRET, received.headers["X-Spanscope-Timestamp"], received.raw)
    return hmac.compare_digest(expected, received.headers["X-Spanscope-Signature"])


def test_ok_warning_alert_renotify_recover_then_no_data(stores: tuple) -> None:
    store, monitors = stores
    with webhook_receiver() as hook:
        created = monitors.create_monitor(define_monitor(
            "error rate", "error_rate", window="10m", cadence="1m", warn_above=0.2,
            alert_above=0.5, min_samples=5, renotify="3m", webhook=hook.url,
            webhook_secret=SECRET), created_ms=T0)

        def at(minute: int) -> tuple[str, str | None]:
            report = run_monitor_pass(store, monitors, now_ms=T0 + minute * MIN,
                                      base_url="http://spanscope.test")
            (done,) = report.evaluated
            return done.evaluation.state.value, done.step.event

        _log(store, T0 - 5 * MIN, ok=10)
        assert at(0) == ("OK", None)
        _log(store, T0 + 30_000, errors=3)  # 3 / 13
        assert at(1) == ("WARNING", "triggered")
        _log(store, T0 + 90_000, errors=10)  # 13 / 23
        assert at(2) == ("ALERT", "escalated")
        assert at(3) == ("ALERT", None)
        assert at(4) == ("ALERT", None)
        assert at(5) == ("ALERT", "renotified")
        _log(store, T0 + 5 * MIN + 1, ok=200)  # 13 / 223
        assert at(6) == ("OK", "recovered")
        assert at(7) == ("OK", None)
        assert at(30) == ("NO_DATA", None)  # the window is empty: quiet after an OK
        hook.wait_for(4)
        assert hook.events == [("triggered", "WARNING"), ("escalated", "ALERT"),
                               ("renotified", "ALERT"), ("recovered", "OK")]
        assert all(_signed(r) for r in hook.received)
        alert = hook.received[1].body
        assert alert["monitor"] == {"id": created.monitor_id, "name": "error rate",
                                    "metric": "error_rate", "filter": None,
                                    "experiment_ids": None}
        assert alert["value"] == pytest.approx(13 / 23) and alert["samples"] == 23
        assert alert["threshold"] == {"level": "ALERT", "direction": "above", "value": 0.5}
        assert alert["previous_state"] == "WARNING"
        assert alert["window"]["start_ms"] == T0 - 8 * MIN
        assert alert["window"]["end_ms"] == T0 + 2 * MIN
        assert alert["link"].startswith("http://spanscope.test/?filter=")
    history = monitors.list_evaluations(created.monitor_id)
    assert [(e.time_ms - T0) // MIN for e in history] == [0, 1, 2, 3, 4, 5, 6, 7, 30]
    assert [e.samples for e in history] == [10, 13, 23, 23, 23, 23, 213, 213, 0]
    assert [e.state.value for e in history][-1] == "NO_DATA"
    assert [d.status for d in monitors.list_deliveries(created.monitor_id)] == ["sent"] * 4


def test_an_alert_whose_data_runs_out_says_so_and_recovers(stores: tuple) -> None:
    store, monitors = stores
    with webhook_receiver() as hook:
        monitors.create_monitor(define_monitor(
            "slow retrieval", "span_duration_p95", filter_string="span.type = 'RETRIEVER'",
            window="5m", cadence="1m", alert_above=5.0, webhook=hook.url), created_ms=T0)
        _log(store, T0 - MIN, ok=5)  # make_trace's retriever spans take 6 ms
        states = []
        for minute in (0, 1, 10, 11, 12):
            if minute == 11:
                _log(store, T0 + 10 * MIN + 1, ok=3)
            if minute == 12:
                monitors.delete_monitor("slow retrieval")
                monitors.create_monitor(define_monitor(
                    "slow retrieval", "span_duration_p95", window="5m", cadence="1m",
                    filter_string="span.type = 'RETRIEVER'", alert_above=10.0,
                    webhook=hook.url), created_ms=T0)
            (done,) = run_monitor_pass(store, monitors, now_ms=T0 + minute * MIN).evaluated
            states.append((done.evaluation.state.value, done.step.event))
        assert states == [("ALERT", "triggered"), ("ALERT", None), ("NO_DATA", "no_data"),
                          ("ALERT", "triggered"), ("OK", None)]
        hook.wait_for(3)
        assert hook.events == [("triggered", "ALERT"), ("no_data", "NO_DATA"),
                               ("triggered", "ALERT")]
        assert hook.received[0].body["value"] == pytest.approx(6.0)
        assert hook.received[0].body["samples"] == 5


def test_no_data_after_an_alert_then_ok_is_a_recovery(stores: tuple) -> None:
    store, monitors = stores
    with webhook_receiver() as hook:
        monitors.create_monitor(define_monitor(
            "errors", "error_rate", window="5m", cadence="1m", alert_above=0.5,
            min_samples=2, webhook=hook.url), created_ms=T0)
        _log(store, T0 - MIN, errors=4)
        states = []
        for minute in (0, 10, 11):
            if minute == 11:
                _log(store, T0 + 10 * MIN + 1, ok=1)  # one sample: still no data
            (done,) = run_monitor_pass(store, monitors, now_ms=T0 + minute * MIN).evaluated
            states.append((done.evaluation.state.value, done.step.event))
        _log(store, T0 + 11 * MIN + 1, ok=3)
        (done,) = run_monitor_pass(store, monitors, now_ms=T0 + 12 * MIN).evaluated
        states.append((done.evaluation.state.value, done.step.event))
        assert states == [("ALERT", "triggered"), ("NO_DATA", "no_data"), ("NO_DATA", None),
                          ("OK", "recovered")]
        hook.wait_for(3)
        assert hook.events == [("triggered", "ALERT"), ("no_data", "NO_DATA"),
                               ("recovered", "OK")]


def test_a_failing_webhook_is_retried_and_holds_up_no_other_monitor(stores: tuple) -> None:
    store, monitors = stores
    _log(store, T0 - MIN, errors=3)
    with webhook_receiver(statuses=[500, 503]) as failing, \
            webhook_receiver(delay_s=3.0) as hanging, webhook_receiver() as good:
        for name, hook in (("a failing", failing), ("b hanging", hanging), ("c good", good)):
            monitors.create_monitor(define_monitor(
                name, "error_rate", window="5m", cadence="1m", alert_above=0.5,
                webhook=hook.url), created_ms=T0)
        sender = WebhookSender(timeout_s=0.5)
        first = run_monitor_pass(store, monitors, now_ms=T0, sender=sender)
        assert first.events == [("a failing", "triggered"), ("b hanging", "triggered"),
                                ("c good", "triggered")]
        assert len(first.deliveries.sent) == 1 and len(first.deliveries.retrying) == 2
        assert good.events == [("triggered", "ALERT")]
        by_monitor = {monitors.get_monitor(d.monitor_id).name: d
                      for d in monitors.list_deliveries()}
        assert by_monitor["a failing"].status == "pending"
        assert by_monitor["a failing"].attempts == 1
        assert by_monitor["a failing"].next_attempt_ms == T0 + BACKOFF_MS[0]
        assert "HTTP 500" in by_monitor["a failing"].last_error
        assert "Timeout" in by_monitor["b hanging"].last_error
        # before the backoff has passed nothing is retried
        early = run_monitor_pass(store, monitors, now_ms=T0 + BACKOFF_MS[0] - 1, sender=sender)
        assert early.deliveries.sent == early.deliveries.retrying == []
        hanging.delay_s = 0.0
        retry = run_monitor_pass(store, monitors, now_ms=T0 + BACKOFF_MS[0], sender=sender)
        assert len(retry.deliveries.sent) == 1  # the hanging one answered this time
        assert len(retry.deliveries.retrying) == 1  # the failing one said 503
        last = run_monitor_pass(store, monitors, now_ms=T0 + BACKOFF_MS[0] + BACKOFF_MS[1],
                                sender=sender)
        assert len(last.deliveries.sent) == 1
        assert failing.attempts == 3 and failing.events == [("triggered", "ALERT")]
        assert good.events == [("triggered", "ALERT")]  # sent once, never again
        assert {d.status for d in monitors.list_deliveries()} == {"sent"}


def test_a_webhook_that_never_answers_is_given_up_after_the_last_retry() -> None:
    store_monitors = InMemoryMonitorStore()
    from spanscope.store.memory import InMemoryStore

    store = InMemoryStore()
    _log(store, T0 - MIN, errors=1)
    with webhook_receiver(statuses=[500] * 20) as failing:
        store_monitors.create_monitor(define_monitor(
            "m", "error_rate", window="7d", cadence="1m", alert_above=0.5,
            webhook=failing.url), created_ms=T0)
        now = T0
        run_monitor_pass(store, store_monitors, now_ms=now)
        for wait in BACKOFF_MS:
            now += wait
            run_monitor_pass(store, store_monitors, now_ms=now)
        (delivery,) = store_monitors.list_deliveries()
        assert (delivery.status, delivery.attempts) == ("failed", len(BACKOFF_MS) + 1)
        assert failing.attempts == len(BACKOFF_MS) + 1
        run_monitor_pass(store, store_monitors, now_ms=now + 10 * BACKOFF_MS[-1])
        assert failing.attempts == len(BACKOFF_MS) + 1


def test_a_client_error_is_not_retried(stores: tuple) -> None:
    store, monitors = stores
    _log(store, T0 - MIN, errors=1)
    with webhook_receiver(statuses=[404]) as gone:
        monitors.create_monitor(define_monitor("m", "error_rate", window="5m", cadence="1m",
                                               alert_above=0.5, webhook=gone.url),
                                created_ms=T0)
        report = run_monitor_pass(store, monitors, now_ms=T0)
        assert len(report.deliveries.failed) == 1 and gone.attempts == 1


def test_metrics_of_tokens_cost_and_judges(stores: tuple) -> None:
    store, monitors = stores
    judge = AssessmentSource("LLM_JUDGE", "safety")
    traces = []
    for i in range(4):
        feedback = Feedback(name="safety", value=i != 0, source=judge, create_time_ms=T0)
        traces.append(make_trace(request_time=T0 - MIN + i, assessments=[feedback]))
    store.log_traces(traces)
    expected = {"tokens_sum": 4 * 150.0, "tokens_mean": 150.0, "trace_count": 4.0,
                "assessment_pass_rate:safety": 0.75, "assessment_mean:safety": 0.75,
                "latency_p50": None, "span_duration_p50": 6.0, "span_error_rate": 0.0,
                "cost_sum": None, "cost_mean": None}
    for metric in expected:
        span_filter = "span.type = 'RETRIEVER'" if metric.startswith("span_") else None
        monitors.create_monitor(define_monitor(metric, metric, window="5m", cadence="1m",
                                               alert_above=10**9, filter_string=span_filter),
                                created_ms=T0)
    report = run_monitor_pass(store, monitors, now_ms=T0)
    got = {e.monitor.name: e.evaluation.value for e in report.evaluated}
    trace_stats = store.trace_stats(
        __import__("spanscope.store.aggregates", fromlist=["Selection"]).Selection(
            start_ms=T0 - 5 * MIN, end_ms=T0))[0]
    expected["latency_p50"] = trace_stats.latency(0.5)
    from spanscope.analysis.summary import summarize

    cost = summarize(store=store, start=T0 - 5 * MIN, end=T0).overall["cost_usd"]
    expected["cost_sum"], expected["cost_mean"] = cost, cost / 4
    assert got == pytest.approx(expected)
    # monitors of one window share their aggregates: one query per kind, not per monitor
    assert report.queries == 4  # trace_stats, model_usage, assessment_stats, span_stats


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"metric": "error_ratio"}, InvalidInputError, "unknown metric 'error_ratio'; known:"),
    ({"metric": "assessment_mean"}, InvalidInputError, "needs the assessment's name"),
    ({"filter_string": "tags.env = "}, FilterError, "tags.env"),
    ({"window": "1m", "cadence": "5m"}, InvalidInputError, "shorter than the cadence"),
    ({"window": "soon"}, InvalidInputError, "window 'soon' is not a duration"),
    ({"metric": "span_duration_p95"}, InvalidInputError, "span.type = 'RETRIEVER'"),
    ({"alert_above": None}, InvalidInputError, "at least one threshold"),
    ({"warn_above": 5, "alert_above": 1}, InvalidInputError, "below warn_above"),
    ({"webhook": "ftp://x"}, InvalidInputError, "http:// or https://"),
    ({"min_samples": -1}, InvalidInputError, "min_samples"),
    ({"no_data": "panic"}, InvalidInputError, "no_data must be one of"),
])
def test_bad_definitions_are_rejected_with_a_clear_error(options, error, message) -> None:
    arguments = {"metric": "error_rate", "alert_above": 0.5, **options}
    with pytest.raises(error, match=message.replace("(", r"\(").replace("'", "'")):
        define_monitor("bad", arguments.pop("metric"), **arguments)


def test_names_are_unique_and_deleting_removes_history(stores: tuple) -> None:
    store, monitors = stores
    monitor = define_monitor("m", "trace_count", alert_below=1, window="5m", cadence="1m")
    created = monitors.create_monitor(monitor, created_ms=T0)
    with pytest.raises(InvalidInputError, match="already exists"):
        monitors.create_monitor(monitor)
    run_monitor_pass(store, monitors, now_ms=T0)
    assert len(monitors.list_evaluations("m")) == 1
    assert monitors.get_monitor("m") == created == monitors.get_monitor(created.monitor_id)
    monitors.delete_monitor("m")
    assert monitors.list_monitors() == []
    with pytest.raises(Exception, match="no monitor"):
        monitors.list_evaluations(created.monitor_id)
    assert json.dumps(created.to_dict())  # JSON-friendly, secret hidden


def test_a_slack_webhook_gets_a_slack_body_and_unsigned_posts_carry_no_signature(
        stores: tuple) -> None:
    store, monitors = stores
    _log(store, T0 - MIN, errors=2)
    with webhook_receiver() as hook:
        monitors.create_monitor(define_monitor(
            "errors", "error_rate", window="5m", cadence="1m", alert_above=0.5,
            webhook=hook.url, webhook_format="slack"), created_ms=T0)
        run_monitor_pass(store, monitors, now_ms=T0, base_url="http://spanscope.test")
        (received,) = hook.wait_for(1)
    assert set(received.body) == {"text", "attachments"}
    assert received.body["text"].startswith("[ALERT] monitor 'errors' triggered: error_rate = 1")
    assert "<http://spanscope.test/?filter=" in received.body["text"]
    (attachment,) = received.body["attachments"]
    assert {f["title"]: f["value"] for f in attachment["fields"]} == {
        "value": "1", "samples": "2", "threshold": "above 0.5"}
    assert "X-Spanscope-Signature" not in received.headers
    assert received.headers["X-Spanscope-Event"] == "triggered"
