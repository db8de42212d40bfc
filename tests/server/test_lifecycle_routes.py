"""The lifecycle over HTTP, on SQLite and PostgreSQL: retention rules and passes, privacy
deletion with the caller in the log, and the storage guardrail (507 on REST and OTLP
ingest at 95 % of --capacity, gauges in /metrics, ingest back once retention freed space)."""

from __future__ import annotations

import logging
import os
import time

import pytest
from tests.server.conftest import Api, ServerProcess, asgi_api

from factories import make_trace
from spanscope.exceptions import InvalidInputError, StorageFullError, StoreError
from spanscope.lifecycle.capacity import CapacityGuard, StorageFull, format_bytes, parse_size
from spanscope.store.keys import Role
from spanscope.store.rest import RestStore
from spanscope.store.retention import StorageSize, open_retention_store
from spanscope.store.sql import SqlStore
from spanscope.tracing.exporter import TraceExporter

DAY = 86_400_000


def _otlp_json() -> dict[str, object]:
    now = time.time_ns()
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": os.urandom(16).hex(), "spanId": os.urandom(8).hex(), "name": "root",
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000)}]}]}]}


def _fill(uri: str) -> int:
    """Old traces with big payloads; returns the store's used bytes."""
    old = int(time.time() * 1000) - 40 * DAY
    with SqlStore(uri) as store:
        store.log_traces([make_trace(2, request_time=old - i, payload_chars=20_000)
                          for i in range(150)])
        side = open_retention_store(store)
        try:
            return side.storage_size().used_bytes
        finally:
            side.close()


def test_a_full_store_refuses_ingest_with_507_until_retention_frees_space(
        store_uri: str) -> None:
    used = _fill(store_uri)
    capacity = int(used / 0.97)  # 97 %: over the refusal line
    # the worker is off: this test runs the passes itself (the next one lets the worker)
    with asgi_api(store_uri, capacity_bytes=capacity, capacity_refresh_s=3600,
                  monitor=False) as api:
        trace = make_trace(2).to_dict()
        refused = api.post("/api/traces/batch", json={"traces": [trace]})
        assert refused.status_code == 507, refused.text
        body = refused.json()
        assert body["error_code"] == "INSUFFICIENT_STORAGE"
        assert "full" in body["message"] and body["storage"]["level"] == "full"
        otlp = api.post("/v1/traces", json=_otlp_json())
        assert otlp.status_code == 507, otlp.text
        assert "spanscope_storage_level 2" in api.get("/metrics").text
        assert api.get("/api/storage").json()["level"] == "full"

        rule = api.post("/api/retention/rules", json={"experiment_id": "0", "keep": "30d"})
        assert rule.status_code == 200, rule.text
        dry = api.post("/api/retention/apply", json={"dry_run": True}).json()
        assert dry["deleted"] == 150 and api.store.search_trace_ids(None)
        # SQLite counts freed pages as free; PostgreSQL the space VACUUM (run by the pass)
        # put in the free space maps, though pg_database_size stays where it was
        done = api.post("/api/retention/apply", json={}).json()
        assert done["deleted"] == 150
        storage = api.get("/api/storage").json()
        assert storage["level"] != "full" and storage["used_bytes"] < used, storage
        if store_uri.startswith("postgresql"):  # what VACUUM found free counts as free
            assert storage["used_bytes"] < storage["disk_bytes"], storage
        accepted = api.post("/api/traces/batch", json={"traces": [trace]})
        assert accepted.status_code == 200, accepted.text
        assert api.post("/v1/traces", json=_otlp_json()).status_code == 200
        assert "spanscope_storage_level 2" not in api.get("/metrics").text


def test_the_servers_worker_applies_retention_and_ingest_resumes(sqlite_uri: str) -> None:
    used = _fill(sqlite_uri)
    with SqlStore(sqlite_uri) as store:
        rules = open_retention_store(store)
        try:
            rules.add_rule("0", keep_ms=30 * DAY)  # all 150 traces are 40 days old
        finally:
            rules.close()
    with asgi_api(sqlite_uri, capacity_bytes=int(used / 0.97), capacity_refresh_s=3600,
                  monitor_interval_s=0.2) as api:
        # the worker's first tick runs the retention pass, then measures the store again
        deadline = time.monotonic() + 60
        while api.store.search_trace_ids(None) or \
                api.get("/api/storage").json()["level"] != "ok":
            assert time.monotonic() < deadline, api.get("/api/storage").json()
            time.sleep(0.2)
        accepted = api.post("/api/traces/batch", json={"traces": [make_trace(2).to_dict()]})
        assert accepted.status_code == 200, accepted.text


def test_without_a_capacity_nothing_is_refused_and_storage_is_reported(api: Api) -> None:
    assert api.post("/api/traces/batch", json={"traces": [make_trace(2).to_dict()]}
                    ).status_code == 200
    report = api.get("/api/storage").json()
    assert report["capacity_bytes"] is None and report["used_bytes"] > 0
    assert "spanscope_storage" not in api.get("/metrics").text


def test_rules_and_privacy_deletion_over_rest_log_the_caller(store_uri: str) -> None:
    # the worker is off: its retention pass would apply the rule added below meanwhile
    with asgi_api(store_uri, auth=True, monitor=False) as bare:
        created = bare.app.state.keys.create_key(Role.ADMIN, name="dpo")
        viewer = bare.app.state.keys.create_key(Role.VIEWER)
        admin = {"Authorization": f"Bearer {created.token}"}
        bare.store.log_traces([make_trace(2, user_id="u-1"), make_trace(2, user_id="u-1"),
                               make_trace(2, user_id="u-2")])

        denied = bare.post("/api/privacy/delete", json={"user_id": "u-1"},
                           headers={"Authorization": f"Bearer {viewer.token}"})
        assert denied.status_code == 403
        bad = bare.post("/api/retention/rules", headers=admin,
                        json={"experiment_id": "0", "filter_string": "tags.a = "})
        assert bad.status_code == 400 and bad.json()["error_code"] == "BAD_FILTER"
        assert bare.post("/api/retention/rules", headers=admin,
                         json={"experiment_id": "0", "keep": "soon"}).status_code == 400
        assert bare.post("/api/retention/rules", headers=admin,
                         json={"experiment_id": "99", "keep": "1d"}).status_code == 404

        rule = bare.post("/api/retention/rules", headers=admin, json={
            "experiment_id": "0", "filter_string": "attributes.status = 'ERROR'",
            "keep": "90d", "name": "errors"}).json()["rule"]
        assert rule["keep_ms"] == 90 * DAY
        listed = bare.get("/api/retention/rules", headers=admin).json()["rules"]
        assert [r["rule_id"] for r in listed] == [rule["rule_id"]]

        report = bare.post("/api/privacy/delete", headers=admin,
                           json={"user_id": "u-1"}).json()
        assert report["traces"] == 2 and report["spans"] == 4
        assert bare.store.search_trace_ids(None, filter_string="attributes.user_id = 'u-1'") == []
        [entry] = bare.get("/api/privacy/deletions", headers=admin).json()["deletions"]
        assert entry["actor"].startswith(f"key:{created.key.key_id} (dpo)")
        assert "u-1" not in str(entry)

        gone = bare.delete(f"/api/retention/rules/{rule['rule_id']}", headers=admin)
        assert gone.status_code == 200
        assert bare.delete(f"/api/retention/rules/{rule['rule_id']}",
                           headers=admin).status_code == 404


def test_the_guard_warns_once_at_80_percent_and_refuses_at_95(
        caplog: pytest.LogCaptureFixture) -> None:
    sizes = iter([500, 810, 820, 960, 850, 700])
    guard = CapacityGuard(lambda: StorageSize(next(sizes), 0), 1000)
    guard.check()  # nothing measured yet: nothing refused
    with caplog.at_level(logging.INFO, logger="spanscope.lifecycle.capacity"):
        assert guard.refresh().level == "ok"
        assert guard.refresh().level == "warning"
        assert guard.refresh().level == "warning"
        guard.check()
        assert guard.refresh().level == "full"
        with pytest.raises(StorageFull, match=r"96\.0% full"):
            guard.check()
        assert guard.refresh().level == "warning"
        assert guard.refresh().level == "ok"
    guard.check()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # into warning, into full, back to warning: once each
    assert any("70.0% full" in r.getMessage() for r in caplog.records
               if r.levelno == logging.INFO)


def test_sizes_parse_and_print() -> None:
    assert parse_size("10GB") == 10**10
    assert parse_size("1.5 MiB") == int(1.5 * 2**20)
    assert parse_size("2000") == 2000
    assert format_bytes(1_234_567) == "1.23 MB"
    for bad in ("", "ten GB", "5 parsecs", "0", "-1GB"):
        with pytest.raises(InvalidInputError):
            parse_size(bad)


def test_server_process_with_capacity_warns_at_startup_and_refuses_with_507(
        sqlite_uri: str) -> None:
    used = _fill(sqlite_uri)
    with ServerProcess(sqlite_uri, "--capacity", str(used)) as server, server.client() as http:
        refused = http.post("/api/traces/batch", json={"traces": [make_trace(2).to_dict()]})
        assert refused.status_code == 507
        assert "spanscope_storage_level 2" in http.get("/metrics").text
        server.stop()
    assert "Warning: store 100.0% full" in server.output
    assert "ingest is refused (507)" in server.output


def test_a_rest_client_gets_storage_full_and_the_exporter_keeps_the_traces(
        sqlite_uri: str) -> None:
    used = _fill(sqlite_uri)
    with ServerProcess(sqlite_uri, "--capacity", str(used), "--no-monitor") as server, \
            server.client() as http, RestStore(server.url) as store:
        with pytest.raises(StorageFullError) as refused:
            store.log_traces([make_trace(1)])
        assert isinstance(refused.value, StoreError)  # what older handlers catch
        assert "full" in str(refused.value) and "capacity" in str(refused.value)
        assert refused.value.storage is not None
        assert refused.value.storage["level"] == "full"
        assert refused.value.storage["capacity_bytes"] == used

        exporter = TraceExporter(writer=lambda uri, traces: store.log_traces(traces),
                                 convert=lambda t: t, max_retries=1, retry_backoff=0.05)
        traces = [make_trace(1) for _ in range(5)]
        try:
            for trace in traces:
                assert exporter.enqueue(trace)
            assert not exporter.flush(timeout=1.5)  # the server is full: held, not dropped
            assert exporter.stats()["dropped"] == 0 and exporter.stats()["exported"] == 0
            # retention frees the space; the exporter's next attempt goes through
            assert http.post("/api/retention/rules", json={"experiment_id": "0",
                                                           "keep": "30d"}).status_code == 200
            assert http.post("/api/retention/apply", json={}).json()["deleted"] == 150
            assert exporter.flush(timeout=60)
            stats = exporter.stats()
            assert stats["exported"] == 5 and stats["dropped"] == 0, stats
        finally:
            exporter.shutdown(1)
        assert sorted(store.search_trace_ids(None)) == sorted(t.info.trace_id for t in traces)
