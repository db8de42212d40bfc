"""Errors: one JSON body with the right status for every kind of bad request, no traceback,
never a 500 for bad input, and nothing stored from a rejected request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from tests.server.conftest import Api, asgi_api


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body  # type: ignore[no-any-return]


def test_a_bad_filter_is_400_with_its_position_wherever_filters_go(api: Api) -> None:
    text = "tags.a = 'x' AND nonsense > 3"
    calls = [
        lambda: api.post("/api/traces/search", json={"filter_string": text}),
        lambda: api.get("/api/traces", params={"filter": text}),
        lambda: api.post("/api/traces/search-ids", json={"filter_string": text}),
        lambda: api.post("/api/aggregates/trace_stats",
                         json={"selection": {"filter_string": text}}),
        lambda: api.post("/api/analysis/summarize", json={"filter_string": text}),
        lambda: api.post("/api/analysis/compare", json={"filter_a": text}),
    ]
    for call in calls:
        body = _error(call(), 400, "BAD_FILTER")
        assert body["filter_string"] == text
        assert body["position"] == text.index("nonsense") and body["token"] == "nonsense"
    unclosed = _error(api.post("/api/traces/search", json={"filter_string": "name = 'x"}),
                      400, "BAD_FILTER")
    assert unclosed["position"] == 7
    _error(api.post("/api/traces/search", json={"order_by": ["nope.x DESC"]}), 400,
           "BAD_FILTER")


def test_unknown_ids_are_404(api: Api) -> None:
    for method, path, body in [
        ("GET", "/api/traces/tr-00000000000000000000000000000000", None),
        ("GET", "/api/traces/tr-missing/health", None),
        ("GET", "/api/traces/tr-missing/diagnose", None),
        ("POST", "/api/traces/tr-missing/tags", {"key": "k", "value": "v"}),
        ("GET", "/api/traces/tr-missing/assessments/a-1", None),
        ("POST", "/api/traces/tr-missing/assessments",
         {"assessment_name": "x", "feedback": {"value": 1}}),
        ("GET", "/api/experiments/12345", None),
        ("POST", "/api/traces/delete", {"experiment_id": "12345", "trace_ids": ["x"]}),
        ("GET", "/api/runs/nope", None),
        ("GET", "/api/runs/nope/artifacts", None),
        ("GET", "/api/datasets/d-nope", None),
        ("GET", "/api/datasets/d-nope/records", None),
        ("POST", "/api/runs", {"experiment_id": "12345"}),
    ]:
        _error(api.request(method, path, json=body), 404, "RESOURCE_DOES_NOT_EXIST")
    unknown_route = _error(api.get("/api/nothing-here"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "/api/nothing-here" in unknown_route["message"]
    _error(api.request("PUT", "/api/experiments"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_requests_are_400_and_store_nothing(
        api: Api, make_trace: Callable[..., dict[str, Any]]) -> None:
    good = make_trace()
    broken = make_trace()
    broken["data"]["spans"][0]["start_time_unix_nano"] = "not a time"
    cases = [
        api.post("/api/traces/batch", content=b"{not json", headers={
            "content-type": "application/json"}),
        api.post("/api/traces/batch", json={"traces": "nope"}),
        api.post("/api/traces/batch", json={"traces": [good, {"info": "x"}]}),
        api.post("/api/traces/batch", json={"traces": [good, broken]}),
        api.post("/api/traces/batch", json={"traces": [good], "extra": 1}),
        api.post("/api/traces/batch", json=[good]),
        api.post("/api/traces/search", json={"max_results": 0}),
        api.post("/api/traces/search", json={"max_results": "many"}),
        api.post("/api/traces/search", json={"filter": "name = 'x'"}),  # a typo'd field
        api.post("/api/traces/search", json={"page_token": "garbage!"}),
        api.get("/api/traces", params={"include_spans": "perhaps"}),
        api.post("/api/experiments", json={"name": ""}),
        api.post("/api/experiments", json={}),
        api.post("/api/runs/x/log-batch", json={"metrics": [{"key": "m"}]}),
        api.post("/api/datasets/d/records", json={"records": [{"inputs": 3}]}),
        api.patch("/api/traces/tr-x/assessments/a-x", json={"colour": "red"}),
        api.post("/api/aggregates/latency_histogram", json={"edges": "wide"}),
        api.post("/api/aggregates/trace_stats", json={"selection": {}, "bucket_ms": "x"}),
        api.post("/api/analysis/summarize", json={"bucket": "fortnight"}),
        api.post("/api/analysis/compare", json={"confidence": 2}),
        # found by the fuzzer: numbers no database or datetime holds, missing options
        api.post("/api/runs", json={"experiment_id": "0", "start_time": 10**20}),
        api.post("/api/aggregates/trace_stats", json={"selection": {"start_ms": 10**20}}),
        api.post("/api/analysis/compare", json={"start": 5.4e16}),
        api.post("/api/analysis/summarize", content=b'{"start": Infinity}',
                 headers={"content-type": "application/json"}),
        api.post("/api/aggregates/numeric_pairs", json={"selection": {}}),
    ]
    for response in cases:
        _error(response, 400, "INVALID_PARAMETER_VALUE" if "filter" not in response.text
               or "BAD_FILTER" not in response.text else "BAD_FILTER")
    # an id no database could hold names no experiment: not found, never a 500
    _error(api.get("/api/experiments/99999999999999999999999"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert api.store.search_trace_ids() == []
    assert [e.name for e in api.store.list_experiments()] == ["Default"]


def test_a_store_failure_is_a_500_with_no_internals(sqlite_uri: str) -> None:
    with asgi_api(sqlite_uri) as api:
        api.store.close()
        body = _error(api.get("/api/experiments"), 500, "INTERNAL_ERROR")
        assert "closed" in body["message"]


def test_bodies_over_the_limit_are_413_before_being_read(
        sqlite_uri: str, make_trace: Callable[..., dict[str, Any]]) -> None:
    with asgi_api(sqlite_uri, max_request_mb=0.05) as api:
        big = make_trace(payload_chars=80_000)
        body = _error(api.post("/api/traces/batch", json={"traces": [big]}), 413,
                      "REQUEST_TOO_LARGE")
        assert "0.05 MB" in body["message"]

        reads = 0

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: streamed
            nonlocal reads
            yield b'{"traces": [' + b" " * 1000
            for _ in range(1000):
                reads += 1
                yield b" " * 1000

        streamed = api.post("/api/traces/batch", content=chunks(),
                            headers={"content-type": "application/json"})
        _error(streamed, 413, "REQUEST_TOO_LARGE")
        assert reads < 100  # refused as soon as it passed the limit, not at the end
        put = api.put("/api/runs/x/artifacts/a.bin", content=b"x" * 60_000)
        _error(put, 413, "REQUEST_TOO_LARGE")
        small = make_trace()
        assert api.post("/api/traces/batch", json={"traces": [small]}).status_code == 200
        assert api.store.search_trace_ids() == [small["info"]["trace_id"]]


def test_a_saturated_writer_answers_503_with_retry_after(
        sqlite_uri: str, make_trace: Callable[..., dict[str, Any]]) -> None:
    with asgi_api(sqlite_uri, max_pending_traces=2) as api:
        batches = [[make_trace() for _ in range(2)] for _ in range(12)]

        async def burst() -> list[httpx.Response]:
            return await asyncio.gather(*(
                api.client.post("/api/traces/batch", json={"traces": batch})
                for batch in batches))

        responses = api.portal.call(burst)
        statuses = [r.status_code for r in responses]
        assert 200 in statuses and 503 in statuses, statuses
        stored = set(api.store.search_trace_ids())
        for batch, response in zip(batches, responses, strict=True):
            ids = {t["info"]["trace_id"] for t in batch}
            if response.status_code == 200:
                assert ids <= stored
            else:
                body = _error(response, 503, "TEMPORARILY_UNAVAILABLE")
                assert int(response.headers["retry-after"]) >= 1, body
                assert not ids & stored
