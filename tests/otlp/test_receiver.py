"""POST /v1/traces over real HTTP: encodings, content types, partial success, errors, retries."""

from __future__ import annotations

import gzip
import json
import pathlib
import random
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from tests.otlp.conftest import RunningServer, make_app, real_app, serve
from tests.otlp.otlp_builders import NS, S, new_span_id, new_trace_id, request, tr

from spanscope.entities import TraceState

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
SPEC_EXAMPLE = pathlib.Path(__file__).parent / "data" / "otlp_spec_trace.json"


def post(server: RunningServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + "/v1/traces", content=body, headers=headers, timeout=30)


def test_specification_json_example(otlp_server: RunningServer) -> None:
    response = post(otlp_server, SPEC_EXAMPLE.read_bytes(), JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    trace = otlp_server.store.get_trace("tr-5b8efff798038103d269b633813fc60c")
    span = trace.data.spans[0]
    assert span.span_id == "eee19b7ec3c1b174" and span.parent_id == "eee19b7ec3c1b173"
    assert span.start_time_ns == 1544712660000000000
    assert span.get_attribute("my.span.attr") == "some value"
    # its parent never came: the trace is in progress, dated by the span it has
    assert trace.info.state == TraceState.IN_PROGRESS
    assert trace.info.request_time == 1544712660000
    assert otlp_server.store.get_experiment(trace.info.experiment_id).name == "my.service"


def test_json_variants_snake_case_enum_names_and_string_ints(sqlite_server: RunningServer) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    body = {"resource_spans": [{"scope_spans": [{"spans": [{
        "trace_id": trace_id.hex(), "span_id": span_id.hex(), "name": "root",
        "kind": "SPAN_KIND_SERVER", "start_time_unix_nano": "1700000000000000000",
        "endTimeUnixNano": 1700000000500000000,
        "status": {"code": "STATUS_CODE_ERROR", "message": "bad"},
        "attributes": [{"key": "n", "value": {"intValue": "42"}},
                       {"key": "l", "value": {"arrayValue": {"values": [
                           {"boolValue": True}, {"doubleValue": 1.5}]}}}],
        "events": [{"name": "exception", "timeUnixNano": "1700000000100000000",
                    "attributes": [{"key": "exception.message",
                                    "value": {"stringValue": "boom"}}]}],
        "futureField": {"ignored": True}}]}]}]}
    response = post(sqlite_server, gzip.compress(json.dumps(body).encode()),
                    {**JSON, "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    trace = sqlite_server.store.get_trace(tr(trace_id))
    span = trace.data.spans[0]
    assert span.get_attribute("n") == 42 and span.get_attribute("l") == [True, 1.5]
    assert span.events[0].attributes == {"exception.message": "boom"}
    assert trace.info.state == TraceState.ERROR and trace.info.execution_duration == 500
    assert trace.info.experiment_id == "0"  # no service.name: the default experiment


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", None])
def test_protobuf_encodings(sqlite_server: RunningServer, encoding: str | None) -> None:
    trace_id = new_trace_id()
    body = request([S(trace_id, new_span_id(), name="root")]).SerializeToString()
    headers = dict(PROTOBUF)
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    elif encoding == "deflate-raw":
        squeezer = zlib.compressobj(wbits=-15)
        body = squeezer.compress(body) + squeezer.flush()
    if encoding is not None:
        headers["Content-Encoding"] = encoding.removesuffix("-raw")
    response = post(sqlite_server, body, headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert not parsed.HasField("partial_success")
    assert sqlite_server.store.get_trace(tr(trace_id)).info.state == TraceState.OK


def test_partial_success_names_rejected_spans(otlp_server: RunningServer) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    good = [S(trace_id, root, name="root"), S(trace_id, new_span_id(), parent_id=root)]
    bad = [S(b"\x01" * 8, new_span_id()),  # 8-byte trace id
           S(trace_id, bytes(8)),  # all-zero span id
           S(trace_id, new_span_id(), start=2 * NS, end=NS)]  # ends before it starts
    response = post(otlp_server, request(good + bad).SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 3
    assert "trace_id must be 16 bytes" in partial.error_message
    assert "span_id must be 8 bytes" in partial.error_message
    assert "before start" in partial.error_message
    assert len(otlp_server.store.get_trace(tr(trace_id)).data.spans) == 2
    as_json = post(otlp_server, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "00" * 16, "spanId": "01" * 8, "name": "x"}]}]}]}).encode(), JSON)
    assert as_json.json()["partialSuccess"]["rejectedSpans"] == "1"


def test_parts_in_any_order_and_retries_keep_the_summary_right(
        otlp_server: RunningServer) -> None:
    trace_id, root_id, chat_id, tool_id = new_trace_id(), *(new_span_id() for _ in range(3))
    chat = S(trace_id, chat_id, parent_id=root_id, name="chat", start=101 * NS, end=102 * NS,
             attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                         "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4})
    tool = S(trace_id, tool_id, parent_id=root_id, name="tool", start=102 * NS, end=103 * NS,
             error=True, attributes={"gen_ai.operation.name": "execute_tool"})
    root = S(trace_id, root_id, name="agent", start=100 * NS, end=110 * NS,
             attributes={"input.value": "hi", "output.value": "bye", "user.id": "u-7"})
    store = otlp_server.store

    def send(*spans: S) -> None:
        response = post(otlp_server, request(list(spans)).SerializeToString(), PROTOBUF)
        assert response.status_code == 200, response.text

    send(chat)  # a child first
    info = store.get_trace(tr(trace_id)).info
    assert info.state == TraceState.IN_PROGRESS and info.request_time == 101_000
    assert info.execution_duration is None
    assert info.token_usage == {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}
    send(chat)  # a retried request
    send(tool)
    assert store.get_trace(tr(trace_id)).info.state == TraceState.IN_PROGRESS
    send(root)  # the long-running root last
    for attempt in range(2):  # and the whole trace retried once more
        trace = store.get_trace(tr(trace_id))
        info = trace.info
        assert sorted(s.name for s in trace.data.spans) == ["agent", "chat", "tool"]
        assert info.state == TraceState.OK  # a child failed, the root did not
        assert (info.request_time, info.execution_duration) == (100_000, 10_000)
        assert info.tags["mlflow.traceName"] == "agent"
        assert (info.request_preview, info.response_preview) == ('"hi"', '"bye"')
        assert info.token_usage == {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}
        assert info.user_id == "u-7"
        page = store.search_traces(filter_string="attributes.name = 'agent'",
                                   include_spans=False)
        assert [t.info.trace_id for t in page] == [tr(trace_id)]
        assert page[0].info.token_usage == info.token_usage
        if attempt == 0:
            send(root, chat, tool)


def test_concurrent_parts_of_one_trace(otlp_server: RunningServer) -> None:
    trace_id, root_id = new_trace_id(), new_span_id()
    spans = [S(trace_id, root_id, name="root", start=NS, end=30 * NS)] + [
        S(trace_id, new_span_id(), parent_id=root_id, name=f"c{i}", start=(i + 2) * NS,
          end=(i + 3) * NS, attributes={"llm.token_count.prompt": 1,
                                        "llm.token_count.completion": 1,
                                        "openinference.span.kind": "LLM"})
        for i in range(12)]
    random.Random(7).shuffle(spans)
    bodies = [request(spans[i::6]).SerializeToString() for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda b: post(otlp_server, b, PROTOBUF).status_code, bodies))
    assert codes == [200] * 6
    trace = otlp_server.store.get_trace(tr(trace_id))
    assert len(trace.data.spans) == 13
    assert trace.info.state == TraceState.OK and trace.info.execution_duration == 29_000
    assert trace.info.token_usage == {"input_tokens": 12, "output_tokens": 12,
                                      "total_tokens": 24}


def test_errors_are_otlp_status_bodies(sqlite_server: RunningServer) -> None:
    body = request([S(new_trace_id(), new_span_id())]).SerializeToString()
    response = post(sqlite_server, body, {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "application/x-protobuf" in response.json()["message"]
    response = post(sqlite_server, body, {**PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 415
    response = post(sqlite_server, b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in status_pb2.Status.FromString(response.content).message
    response = post(sqlite_server, b"{not json", JSON)
    assert response.status_code == 400 and "not JSON" in response.json()["message"]
    response = post(sqlite_server, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId":'
                                    b' "zz"}]}]}]}', JSON)
    assert response.status_code == 400 and "not hex" in response.json()["message"]
    response = post(sqlite_server, body, {**PROTOBUF, "x-spanscope-experiment-id": "4242"})
    assert response.status_code == 400 and "4242" in status_pb2.Status.FromString(
        response.content).message
    assert sqlite_server.store.search_trace_ids() == []


def test_random_bytes_never_500_and_store_nothing(sqlite_server: RunningServer) -> None:
    rng = random.Random(1234)
    with httpx.Client(base_url=sqlite_server.url, timeout=30) as client:
        for i in range(300):
            body = rng.randbytes(rng.randint(0, 400))
            headers = PROTOBUF if i % 3 else {**PROTOBUF, "Content-Encoding": "gzip"}
            status = client.post("/v1/traces", content=body, headers=headers).status_code
            assert status in (200, 400), (status, body)
    assert sqlite_server.store.search_trace_ids() == []


def test_request_limit_and_gzip_bomb_answer_413(sqlite_uri: str) -> None:
    with serve(real_app(sqlite_uri, max_request_mb=0.01)) as server:
        big = request([S(new_trace_id(), new_span_id(), attributes={"x": "y" * 20_000})])
        response = post(server, big.SerializeToString(), PROTOBUF)
        assert response.status_code == 413
        bomb = gzip.compress(b"\0" * 5_000_000)
        response = post(server, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
        assert response.status_code == 413 and "decompressed" in status_pb2.Status.FromString(
            response.content).message
        assert server.store.search_trace_ids() == []


def test_saturated_writer_answers_503_with_retry_after(sqlite_uri: str) -> None:
    with serve(make_app(sqlite_uri, start_ingest=False)) as server:
        body = request([S(new_trace_id(), new_span_id())]).SerializeToString()
        response = post(server, body, PROTOBUF)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert "spanscope_ingest_traces_rejected_total 1" in httpx.get(
            server.url + "/metrics").text


def test_an_unusable_service_name_is_a_clear_400(sqlite_server: RunningServer) -> None:
    body = request([S(new_trace_id(), new_span_id())], service="s" * 600).SerializeToString()
    response = post(sqlite_server, body, PROTOBUF)
    assert response.status_code == 400
    assert "experiment" in status_pb2.Status.FromString(response.content).message
    assert sqlite_server.store.search_trace_ids() == []


def test_one_trace_over_two_resources_and_a_span_twice_in_one_request(
        sqlite_server: RunningServer) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    message = request([S(trace_id, root, name="root"), S(trace_id, root, name="root")],
                      service="front")
    message.resource_spans.extend(request([S(trace_id, new_span_id(), parent_id=root)],
                                          service="back").resource_spans)
    assert post(sqlite_server, message.SerializeToString(), PROTOBUF).status_code == 200
    trace = sqlite_server.store.get_trace(tr(trace_id))
    assert len(trace.data.spans) == 2  # the repeated span once
    assert sqlite_server.store.get_experiment(trace.info.experiment_id).name == "front"
