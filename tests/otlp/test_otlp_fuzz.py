"""Fuzzing /v1/traces with JSON: any JSON value, and OTLP-shaped JSON with wrong types.

Whatever arrives, the answer is 200 (possibly a partial success) or 400, never a 500;
a 400 stores nothing.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.otlp.conftest import RunningServer

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
FIELDS = st.sampled_from(["traceId", "spanId", "parentSpanId", "name", "startTimeUnixNano",
                          "endTimeUnixNano", "kind", "attributes", "events", "status",
                          "links", "droppedAttributesCount"])
HEX = st.text("0123456789abcdef", min_size=0, max_size=40)
SPANS = st.dictionaries(FIELDS, JSON_VALUES | HEX, max_size=8)
BODIES = st.one_of(
    JSON_VALUES,
    st.builds(lambda spans: {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]},
              st.lists(SPANS, max_size=4)),
)


def test_json_fuzz_never_500(sqlite_server: RunningServer) -> None:
    client = httpx.Client(base_url=sqlite_server.url, timeout=30,
                          headers={"Content-Type": "application/json"})

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(BODIES)
    def check(body: object) -> None:
        before = len(sqlite_server.store.search_trace_ids())
        response = client.post("/v1/traces", content=json.dumps(body))
        assert response.status_code in (200, 400), (response.status_code, response.text)
        if response.status_code == 400:
            assert len(sqlite_server.store.search_trace_ids()) == before
            assert response.json()["message"]

    try:
        check()
    finally:
        client.close()
