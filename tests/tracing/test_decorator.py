"""``@trace`` on every kind of callable, written to a real SQLite store and read back."""

from __future__ import annotations

import asyncio
import json
import traceback

import pytest

import spanscope.tracing as tracing
from spanscope.entities import SpanStatusCode, SpanType, TraceState


class Calculator:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    @tracing.trace(span_type=SpanType.TOOL)
    def add(self, x: int, y: int = 10) -> int:
        return x + y + self.offset

    @classmethod
    @tracing.trace
    def make(cls, offset: int) -> Calculator:
        return cls(offset)

    @tracing.trace  # decorating the classmethod object itself works too
    @classmethod
    def twice(cls, value: int) -> int:
        return 2 * value

    @tracing.trace
    @staticmethod
    def square(value: int) -> int:
        return value * value


def test_plain_function_records_inputs_outputs_type_and_name(read_trace) -> None:
    @tracing.trace(name="answer", span_type=SpanType.CHAT_MODEL, attributes={"model": "m-1"})
    def reply(question: str, temperature: float = 0.2) -> dict:
        return {"answer": question.upper()}

    assert reply("hi") == {"answer": "HI"}
    trace = read_trace()
    (span,) = trace.data.spans
    assert span.name == "answer"
    assert span.span_type == SpanType.CHAT_MODEL
    assert span.inputs == {"question": "hi", "temperature": 0.2}  # defaults applied
    assert span.outputs == {"answer": "HI"}
    assert span.attributes["model"] == "m-1"
    assert span.attributes["mlflow.spanFunctionName"] == "reply"
    assert span.raw_attributes["mlflow.spanInputs"] == '{"question": "hi", "temperature": 0.2}'
    assert span.raw_attributes["mlflow.traceRequestId"] == json.dumps(trace.info.trace_id)
    assert span.status.status_code == SpanStatusCode.OK
    assert span.parent_id is None
    assert trace.info.state == TraceState.OK
    assert trace.info.trace_id.startswith("tr-") and len(trace.info.trace_id) == 35
    assert trace.info.tags["mlflow.traceName"] == "answer"
    assert trace.info.request_preview == '{"question": "hi", "temperature": 0.2}'
    assert trace.info.response_preview == '{"answer": "HI"}'
    assert trace.info.trace_metadata["mlflow.trace_schema.version"] == "3"
    assert trace.info.trace_metadata["mlflow.traceInputs"] == trace.info.request_preview
    assert trace.info.trace_metadata["mlflow.traceOutputs"] == '{"answer": "HI"}'
    assert trace.info.request_time == span.start_time_ns // 1_000_000
    assert trace.info.execution_duration == (span.end_time_ns - span.start_time_ns) // 1_000_000
    assert tracing.get_last_active_trace_id() == trace.info.trace_id


def test_keyword_arguments_and_var_args_bind_by_name(read_traces) -> None:
    @tracing.trace
    def f(a, b=2, *rest, c, d=4, **extra):
        return a

    @tracing.trace
    def g(a, b=2, c=3):
        return a

    f(1, c=3, z=9)
    f(1, 5, 6, 7, c=8)
    g(1, c=30)
    g(c=1, a=2)
    inputs = [t.data.spans[0].inputs for t in read_traces()]
    assert inputs == [
        {"a": 1, "b": 2, "rest": [], "c": 3, "d": 4, "extra": {"z": 9}},
        {"a": 1, "b": 5, "rest": [6, 7], "c": 8, "d": 4, "extra": {}},
        {"a": 1, "b": 2, "c": 30},
        {"a": 2, "b": 2, "c": 1},
    ]


def test_a_call_that_does_not_fit_the_signature_raises_as_without_tracing(read_trace) -> None:
    @tracing.trace
    def f(a):
        return a

    with pytest.raises(TypeError) as info:
        f(1, 2)
    span = read_trace().data.spans[0]
    assert span.status.status_code == SpanStatusCode.ERROR
    assert "TypeError" in span.status.description
    assert span.inputs == {"args": [1, 2], "kwargs": {}}
    assert "positional argument" in str(info.value)


def test_methods_leave_out_self_and_cls(read_traces) -> None:
    calc = Calculator.make(1)
    assert calc.add(2) == 13
    assert Calculator.twice(4) == 8
    assert calc.twice(5) == 10
    assert Calculator.square(3) == 9
    traces = read_traces()
    spans = {t.data.spans[0].name: t.data.spans[0] for t in traces}
    assert spans["make"].inputs == {"offset": 1}
    assert spans["add"].inputs == {"x": 2, "y": 10}
    assert spans["add"].span_type == SpanType.TOOL
    assert spans["add"].outputs == 13
    assert spans["square"].inputs == {"value": 3}
    assert [t.data.spans[0].inputs for t in traces if t.data.spans[0].name == "twice"] == [
        {"value": 4}, {"value": 5}]
    assert "<" in spans["make"].raw_attributes["mlflow.spanOutputs"]  # repr of the object


def test_nested_calls_form_one_trace_with_parent_ids(read_trace) -> None:
    @tracing.trace
    def leaf(x):
        return x + 1

    @tracing.trace
    def middle(x):
        return leaf(x) + leaf(x + 10)

    @tracing.trace(span_type=SpanType.AGENT)
    def root(x):
        return middle(x)

    assert root(1) == 14
    trace = read_trace()
    names = [s.name for s in trace.data.spans]
    assert names == ["root", "middle", "leaf", "leaf"]  # parents first, then start order
    by_name = {s.name: s for s in trace.data.spans}
    assert by_name["root"].parent_id is None
    assert by_name["middle"].parent_id == by_name["root"].span_id
    assert [s.parent_id for s in trace.data.spans[2:]] == [by_name["middle"].span_id] * 2
    assert [s.inputs for s in trace.data.spans[2:]] == [{"x": 1}, {"x": 11}]
    assert {s.trace_id for s in trace.data.spans} == {trace.info.trace_id}
    assert all(len(s.span_id) == 16 for s in trace.data.spans)


def test_sequential_calls_are_separate_traces(read_traces) -> None:
    @tracing.trace
    def f(x):
        return x

    for i in range(5):
        f(i)
    traces = read_traces()
    assert len({t.info.trace_id for t in traces}) == 5
    assert sorted(t.data.spans[0].inputs["x"] for t in traces) == [0, 1, 2, 3, 4]


def test_async_function(read_trace) -> None:
    @tracing.trace
    async def fetch(doc_id: int) -> str:
        await asyncio.sleep(0.001)
        return await child(doc_id)

    @tracing.trace
    async def child(doc_id: int) -> str:
        return f"doc-{doc_id}"

    assert asyncio.iscoroutinefunction(fetch)
    assert asyncio.run(fetch(7)) == "doc-7"
    trace = read_trace()
    root, inner = trace.data.spans
    assert (root.name, root.inputs, root.outputs) == ("fetch", {"doc_id": 7}, "doc-7")
    assert inner.parent_id == root.span_id
    assert root.duration_ns >= 1_000_000


def test_generator_outputs_are_the_yielded_items_and_span_spans_consumption(read_trace) -> None:
    @tracing.trace
    def tokens(text: str):
        for word in text.split():
            yield word
            with tracing.start_span("between"):  # inside the generator: nested under it
                pass
        return "done"

    @tracing.trace
    def consume():
        collected = []
        for token in tokens("a b c"):
            collected.append(token)
            with tracing.start_span("consumer-side"):  # NOT under the generator's span
                pass
        return collected

    assert consume() == ["a", "b", "c"]
    trace = read_trace()
    by_name: dict[str, list] = {}
    for span in trace.data.spans:
        by_name.setdefault(span.name, []).append(span)
    (gen_span,) = by_name["tokens"]
    assert gen_span.outputs == ["a", "b", "c"]
    assert gen_span.inputs == {"text": "a b c"}
    assert {s.parent_id for s in by_name["between"]} == {gen_span.span_id}
    assert {s.parent_id for s in by_name["consumer-side"]} == {by_name["consume"][0].span_id}
    assert gen_span.end_time_ns >= max(s.end_time_ns for s in by_name["between"])


def test_generator_closed_early_ends_its_span_with_what_was_yielded(read_trace) -> None:
    @tracing.trace
    def numbers():
        yield from range(100)

    gen = numbers()
    assert [next(gen), next(gen)] == [0, 1]
    gen.close()
    span = read_trace().data.spans[0]
    assert span.outputs == [0, 1]
    assert span.status.status_code == SpanStatusCode.OK


def test_generator_send_and_throw_are_forwarded(read_trace) -> None:
    @tracing.trace
    def echo():
        received = None
        while True:
            try:
                received = yield received
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) is None
    assert gen.send("x") == "x"
    assert gen.throw(KeyError("k")) == "recovered"
    gen.close()
    assert read_trace().data.spans[0].outputs == [None, "x", "recovered"]


def test_generator_exception_marks_error_and_propagates(read_trace) -> None:
    boom = ValueError("bad chunk")

    @tracing.trace
    def chunks():
        yield 1
        raise boom

    with pytest.raises(ValueError) as info:
        list(chunks())
    assert info.value is boom
    trace = read_trace()
    assert trace.info.state == TraceState.ERROR
    assert trace.data.spans[0].events[0].attributes["exception.message"] == "bad chunk"


def test_async_generator(read_trace) -> None:
    @tracing.trace(span_type=SpanType.LLM)
    async def stream(n: int):
        for i in range(n):
            await asyncio.sleep(0)
            with tracing.start_span("step"):
                pass
            yield i * i

    async def main():
        return [item async for item in stream(3)]

    assert asyncio.run(main()) == [0, 1, 4]
    trace = read_trace()
    root = trace.data.spans[0]
    assert (root.name, root.span_type, root.outputs) == ("stream", "LLM", [0, 1, 4])
    assert [s.parent_id for s in trace.data.spans[1:]] == [root.span_id] * 3


def test_async_generator_closed_early(read_trace) -> None:
    @tracing.trace
    async def stream():
        for i in range(10):
            yield i

    async def main():
        agen = stream()
        first = await agen.__anext__()
        await agen.aclose()
        return first

    assert asyncio.run(main()) == 0
    assert read_trace().data.spans[0].outputs == [0]


class Boom(RuntimeError):
    pass


def test_exception_is_reraised_unchanged_and_recorded(read_trace) -> None:
    @tracing.trace
    def fail(x):
        raise Boom(f"failed on {x}")

    @tracing.trace
    def root():
        return fail(3)

    with pytest.raises(Boom) as info:
        root()
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "fail" in frames  # the original traceback is intact
    trace = read_trace()
    assert trace.info.state == TraceState.ERROR
    for span in trace.data.spans:
        assert span.status.status_code == SpanStatusCode.ERROR
        assert span.status.description == "Boom: failed on 3"
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "Boom"
        assert event.attributes["exception.message"] == "failed on 3"
        assert "raise Boom" in event.attributes["exception.stacktrace"]
        assert event.attributes["exception.stacktrace"].rstrip().endswith("Boom: failed on 3")
    assert trace.info.response_preview is None


def test_same_exception_object_propagates(read_trace) -> None:
    error = KeyError("missing")

    @tracing.trace
    def fail():
        raise error

    with pytest.raises(KeyError) as info:
        fail()
    assert info.value is error
    assert read_trace().info.state == TraceState.ERROR


def test_exception_caught_by_a_parent_leaves_the_trace_ok(read_trace) -> None:
    @tracing.trace
    def flaky():
        raise TimeoutError("slow")

    @tracing.trace
    def root():
        try:
            flaky()
        except TimeoutError:
            return "fallback"

    assert root() == "fallback"
    trace = read_trace()
    assert trace.info.state == TraceState.OK
    child = trace.search_spans(name="flaky")[0]
    assert child.status.status_code == SpanStatusCode.ERROR


def test_async_exception(read_trace) -> None:
    error = ConnectionError("reset")

    @tracing.trace
    async def call():
        raise error

    with pytest.raises(ConnectionError) as info:
        asyncio.run(call())
    assert info.value is error
    assert read_trace().data.spans[0].events[0].attributes["exception.type"] == "ConnectionError"


def test_non_serialisable_inputs_are_stored_as_repr_and_the_app_works(read_trace) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque handle>"

    @tracing.trace
    def use(handle, items):
        return {"handle": handle, "n": len(items)}

    out = use(Opaque(), {1, 2})
    assert out["n"] == 2
    span = read_trace().data.spans[0]
    assert span.inputs == {"handle": "<Opaque handle>", "items": [1, 2]}
    assert span.outputs == {"handle": "<Opaque handle>", "n": 2}


def test_pydantic_like_outputs_are_dumped(read_trace) -> None:
    class Model:
        def model_dump(self) -> dict:
            return {"id": "chatcmpl-1", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}

    @tracing.trace(span_type=SpanType.CHAT_MODEL)
    def create():
        return Model()

    create()
    trace = read_trace()
    assert trace.data.spans[0].outputs["id"] == "chatcmpl-1"
    assert trace.info.token_usage == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def test_wrapper_keeps_function_metadata() -> None:
    @tracing.trace
    def documented(a: int) -> int:
        """Adds nothing."""
        return a

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Adds nothing."
    assert documented.__wrapped__(3) == 3
