"""``/api/monitors``: create, list, show with history, test, delete; bad definitions are 400
naming what is wrong. In-process over ASGI, on SQLite and PostgreSQL, worker off (the test
runs the passes itself, on a simulated clock)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.factories import make_trace
from tests.server.conftest import Api, asgi_api

from spanscope.monitoring.runner import run_monitor_pass


@pytest.fixture
def monitor_api(store_uri: str) -> Iterator[Api]:
    with asgi_api(store_uri, monitor=False, public_url="http://spanscope.example") as opened:
        yield opened


BODY = {"name": "errors", "metric": "error_rate", "window": "1h", "cadence": "1m",
        "warn_above": 0.1, "alert_above": 0.5, "min_samples": 2,
        "webhook": "http://127.0.0.1:9/hook", "webhook_secret": "s"}


def test_create_list_show_test_delete(monitor_api: Api) -> None:
    now = int(time.time() * 1000)
    monitor_api.store.log_traces([make_trace(request_time=now - 1000, state=s)
                                  for s in ("OK", "ERROR", "ERROR")])
    created = monitor_api.post("/api/monitors", json=BODY)
    assert created.status_code == 200, created.text
    monitor = created.json()["monitor"]
    assert monitor["name"] == "errors" and monitor["metric"] == "error_rate"
    assert monitor["webhook"] == {"url": "http://127.0.0.1:9/hook", "format": "json",
                                  "signed": True}  # never the secret itself
    listed = monitor_api.get("/api/monitors").json()["monitors"]
    assert [(m["name"], m["status"]["state"]) for m in listed] == [("errors", None)]

    tested = monitor_api.post("/api/monitors/errors/test").json()
    assert tested["evaluation"]["state"] == "ALERT"
    assert tested["evaluation"]["value"] == pytest.approx(2 / 3)
    assert tested["event"] == "triggered"
    assert tested["payload"]["link"].startswith("http://spanscope.example/?filter=")
    assert monitor_api.get("/api/monitors/errors").json()["evaluations"] == []  # kept nothing

    now = int(time.time() * 1000) + 1  # the monitor is due from its creation on
    run_monitor_pass(monitor_api.store, monitor_api.app.state.monitors, now_ms=now)
    shown = monitor_api.get(f"/api/monitors/{monitor['monitor_id']}").json()
    assert shown["status"]["state"] == "ALERT"
    assert [(e["state"], e["samples"], e["event"]) for e in shown["evaluations"]] == [
        ("ALERT", 3, "triggered")]
    assert [d["event"] for d in shown["deliveries"]] == ["triggered"]
    history = monitor_api.get("/api/monitors/errors/evaluations",
                              params={"since_ms": now}).json()["evaluations"]
    assert len(history) == 1 and history[0]["time_ms"] == now

    assert monitor_api.delete("/api/monitors/errors").json()["monitor"]["name"] == "errors"
    gone = monitor_api.get("/api/monitors/errors")
    assert gone.status_code == 404 and "no monitor" in gone.json()["message"]


@pytest.mark.parametrize(("change", "code", "message"), [
    ({"metric": "errors_per_second"}, "INVALID_PARAMETER_VALUE", "unknown metric"),
    ({"filter": "tags.env = "}, "BAD_FILTER", "tags.env"),
    ({"window": "1m", "cadence": "5m"}, "INVALID_PARAMETER_VALUE", "shorter than the cadence"),
    ({"metric": "span_duration_p95"}, "INVALID_PARAMETER_VALUE", "span.type"),
    ({"warn_above": None, "alert_above": None}, "INVALID_PARAMETER_VALUE",
     "at least one threshold"),
])
def test_bad_definitions_are_400_naming_the_problem(monitor_api: Api, change: dict,
                                                    code: str, message: str) -> None:
    answer = monitor_api.post("/api/monitors", json={**BODY, **change})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == code and message in answer.json()["message"]
    assert monitor_api.get("/api/monitors").json()["monitors"] == []


def test_a_taken_name_is_400(monitor_api: Api) -> None:
    assert monitor_api.post("/api/monitors", json=BODY).status_code == 200
    again = monitor_api.post("/api/monitors", json=BODY)
    assert again.status_code == 400 and "already exists" in again.json()["message"]
