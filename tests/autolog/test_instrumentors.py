"""Foreign OpenTelemetry instrumentations of the ``openai`` client, through the global
tracer provider Spanscope installs: OpenInference's and OpenLLMetry's instrumentors
(installed from the registry) against the local fake server, mapped by the one
conventions module into typed, token-counted spans that analysis reads like our own.

Each scenario runs in a child process: OpenLLMetry's ``uninstrument()`` leaves wrappers
on the openai client behind, which would leak spans into every later test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import spanscope
from spanscope import tracking
from spanscope.analysis import summarize
from spanscope.analysis.documents import llm_output_text, trace_answer, trace_question
from spanscope.entities import SpanStatusCode, SpanType, Trace

QUESTION = "What is your refund policy?"
ANSWER = "Refunds are accepted within 30 days of delivery."
SRC = Path(spanscope.__file__).parents[1]

SCENARIO = '''
import openai
import spanscope
from spanscope.testing.fake_openai import FakeOpenAI, Reply

spanscope.set_tracking_uri({uri!r})
spanscope.enable()  # Spanscope's provider becomes the global one now
if {which!r} == "openinference":
    from openinference.instrumentation.openai import OpenAIInstrumentor
else:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
OpenAIInstrumentor().instrument()  # no tracer_provider: the global one

with FakeOpenAI({answer!r}) as server:
    client = openai.OpenAI(base_url=server.url, api_key="test-key", max_retries=0)

    @spanscope.trace(span_type="AGENT")
    def support_agent(question):
        first = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}])
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}],
            stream=True, stream_options={{"include_usage": True}})
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert streamed == first.choices[0].message.content
        return streamed

    support_agent({question!r})
    client.chat.completions.create(model="gpt-4o-mini", messages=[
        {{"role": "system", "content": "Be brief."}},
        {{"role": "user", "content": {question!r}}}])
    server.script(Reply.error(429, "Rate limit reached"))
    try:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": "again"}}])
    except openai.RateLimitError:
        pass
    else:
        raise SystemExit("the 429 did not reach the app")
assert spanscope.flush(timeout=30)
'''


@pytest.fixture(scope="module", params=["openinference", "openllmetry"])
def traces(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[str, list[Trace], str]:
    uri = f"sqlite:///{tmp_path_factory.mktemp(request.param)}/traces.db"
    code = SCENARIO.format(uri=uri, which=request.param, answer=ANSWER, question=QUESTION)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found = tracking.get_store(uri).search_traces(max_results=100)
    ordered = sorted(found, key=lambda t: t.info.request_time)
    return request.param, ordered, uri


def _calls(trace: Trace) -> list[Any]:
    return sorted((s for s in trace.data.spans if s.name != "support_agent"),
                  key=lambda s: s.start_time_ns)


def test_plain_and_streamed_calls_land_typed_with_usage(
        traces: tuple[str, list[Trace], str]) -> None:
    which, found, uri = traces
    assert len(found) == 3, [t.info.tags.get("mlflow.traceName") for t in found]
    trace = found[0]
    root = next(s for s in trace.data.spans if s.name == "support_agent")
    calls = _calls(trace)
    assert len(calls) == 2, [(s.name, s.span_type) for s in trace.data.spans]
    expected_type = SpanType.LLM if which == "openinference" else SpanType.CHAT_MODEL
    for span in calls:
        assert span.parent_id == root.span_id
        assert span.span_type == expected_type
        assert QUESTION in str(span.inputs)
        assert llm_output_text(span.outputs) == ANSWER
        assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    assert trace.info.token_usage == {"input_tokens": 20, "output_tokens": 10,
                                      "total_tokens": 30}
    assert trace_question(trace) == QUESTION and trace_answer(trace) == ANSWER
    overall = summarize(store=tracking.get_store(uri)).overall
    assert overall["total_tokens"] == 45  # 30 above + 15 of the call made alone
    assert overall["cost_usd"] == pytest.approx((30 * 0.15 + 15 * 0.6) / 1e6)


def test_a_call_alone_is_its_own_trace_and_its_question_is_read(
        traces: tuple[str, list[Trace], str]) -> None:
    _, found, _ = traces
    trace = found[1]
    [span] = trace.data.spans
    assert span.parent_id is None
    assert trace_question(trace) == QUESTION
    assert trace_answer(trace) == ANSWER
    assert trace.info.token_usage == {"input_tokens": 10, "output_tokens": 5,
                                      "total_tokens": 15}


def test_http_errors_land_as_error_spans(traces: tuple[str, list[Trace], str]) -> None:
    _, found, _ = traces
    [span] = found[2].data.spans
    assert span.status.status_code == SpanStatusCode.ERROR
    assert found[2].info.state == "ERROR"
