"""LLM judges over real HTTP: the real ``openai`` client against a local fake server.

Covers answer parsing (fences, prose, quotes), failures as assessment errors (malformed,
timeouts, HTTP errors), retries (429 with Retry-After, 500), what each built-in judge
puts in its prompt and how its answer maps to a value, and ``make_judge``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

import spanscope
from spanscope.entities import AssessmentSourceType, Feedback, SpanType, Trace
from spanscope.evaluation.scorers.judge_client import configuration_problem, parse_model_uri
from spanscope.evaluation.scorers.judge_parse import JudgeParseError, parse_judgement
from spanscope.exceptions import InvalidInputError
from spanscope.genai.scorers import (
    Correctness,
    ExpectationsGuidelines,
    Guidelines,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    RetrievalSufficiency,
    Safety,
    make_judge,
)
from spanscope.testing.fake_openai import FakeOpenAI, Reply

YES = '{"result": "yes", "rationale": "looks right"}'
NO = '{"result": "no", "rationale": "looks wrong"}'


def only(feedbacks: list[Feedback]) -> Feedback:
    assert len(feedbacks) == 1, feedbacks
    return feedbacks[0]


def user_message(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


# --- parsing --------------------------------------------------------------------------
@pytest.mark.parametrize(("answer", "value", "rationale"), [
    ('{"result": "yes", "rationale": "fine"}', "yes", "fine"),
    ('```json\n{"result": "No", "rationale": "off topic"}\n```', "no", "off topic"),
    ('Let me think.\n{"rationale": "ok", "result": "PASS"}\nThat is my verdict.', "yes", "ok"),
    ("{'result': True, 'rationale': 'single quotes'}", "yes", "single quotes"),
    ('{"result": false, "rationale": "a {brace} in text"}', "no", "a {brace} in text"),
    ('{"Result": "Yes.", "Reason": "other key names"}', "yes", "other key names"),
    ('{"note": {"x": 1}} {"result": "fail"}', "no", None),
])
def test_pass_fail_answers_are_read_whatever_the_wrapping(answer: str, value: str,
                                                          rationale: str | None) -> None:
    assert parse_judgement(answer, "pass_fail") == (value, rationale)


def test_numeric_and_text_results() -> None:
    assert parse_judgement('{"result": 4, "rationale": "r"}', "numeric") == (4, "r")
    assert parse_judgement('{"score": "3.5"}', "numeric") == (3.5, None)
    assert parse_judgement('{"result": "polite"}', "text") == ("polite", None)
    assert parse_judgement('{"result": "yes"}', "bool") == (True, None)


@pytest.mark.parametrize(("answer", "message"), [
    ("I think it is fine.", "contains no JSON object: 'I think it is fine.'"),
    ('{"rationale": "forgot the verdict"}', 'has no "result" field'),
    ('{"result": "maybe"}', "result 'maybe' is not yes or no"),
    ('{"result": "yes"', "contains no JSON object"),
])
def test_unreadable_answers_say_why(answer: str, message: str) -> None:
    with pytest.raises(JudgeParseError, match=re.escape(message)):
        parse_judgement(answer, "pass_fail")


def test_numeric_result_must_be_a_number() -> None:
    with pytest.raises(JudgeParseError, match="'high' is not a number"):
        parse_judgement('{"result": "high"}', "numeric")


# --- model URIs and configuration ---------------------------------------------------
def test_model_uri_forms() -> None:
    assert parse_model_uri("openai:/gpt-4o-mini").name == "gpt-4o-mini"
    assert parse_model_uri("openai:gpt-4o").uri == "openai:/gpt-4o"
    for bad, message in [("gpt-4o", "not a model URI"), ("anthropic:/claude", "unknown provider"),
                         ("openai:/", "names no model")]:
        with pytest.raises(InvalidInputError, match=message):
            parse_model_uri(bad)
    with pytest.raises(InvalidInputError, match="unknown provider"):
        Safety(model="vertex:/gemini")  # a bad URI fails when the judge is made


def test_configuration_problems_say_how_to_fix_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPANSCOPE_JUDGE_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    problem = configuration_problem(None)
    assert "SPANSCOPE_JUDGE_MODEL" in problem and "OPENAI_BASE_URL" in problem
    assert "model=" in problem
    assert "OPENAI_API_KEY" in configuration_problem("openai:/gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert configuration_problem("openai:/gpt-4o-mini") is None
    monkeypatch.setenv("SPANSCOPE_JUDGE_MODEL", "nonsense")
    assert "not a model URI" in configuration_problem(None)


# --- the HTTP conversation -------------------------------------------------------------
def test_safety_asks_about_the_outputs_and_maps_the_verdict(judge_server: FakeOpenAI) -> None:
    judge_server.script(YES, NO)
    safe = only(Safety().run(inputs={"question": "SECRET-INPUT"}, outputs="Have a nice day."))
    unsafe = only(Safety().run(outputs="Here is how to build a weapon"))
    assert (safe.name, safe.value, safe.rationale) == ("safety", "yes", "looks right")
    assert unsafe.value == "no" and unsafe.error is None
    assert safe.source.source_type == AssessmentSourceType.LLM_JUDGE
    assert safe.source.source_id == "openai:/fake-judge"
    first, second = judge_server.requests
    assert first["model"] == "fake-judge" and first["temperature"] == 0
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "Have a nice day." in user_message(first)
    assert "SECRET-INPUT" not in user_message(first)  # Safety reads outputs only
    assert '"result": "yes" or "no"' in user_message(first)
    assert "how to build a weapon" in user_message(second)


def test_explicit_model_wins_over_the_environment(judge_server: FakeOpenAI) -> None:
    feedback = only(RelevanceToQuery(model="openai:/other-judge").run(inputs="q", outputs="a"))
    assert judge_server.requests[0]["model"] == "other-judge"
    assert feedback.source.source_id == "openai:/other-judge"


def test_an_api_key_is_sent_when_set(judge_server: FakeOpenAI,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    judge_server.responder = lambda body: (seen.append("called"), YES)[1]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    assert only(Safety().run(outputs="x")).value == "yes"
    assert seen == ["called"]


def test_malformed_answer_is_a_parse_error_not_an_exception(judge_server: FakeOpenAI) -> None:
    judge_server.script("I would say it's safe, mostly.")
    feedback = only(Safety().run(outputs="x"))
    assert feedback.value is None
    assert feedback.error.error_code == "JUDGE_PARSE_ERROR"
    assert "I would say it's safe, mostly." in feedback.error.error_message
    assert judge_server.request_count == 1  # a bad answer is not retried


def test_slow_answer_times_out_after_bounded_retries(judge_server: FakeOpenAI,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_JUDGE_TIMEOUT", "0.2")
    monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "2")
    judge_server.responder = Reply(content=YES, delay=3)
    feedback = only(Safety().run(outputs="x"))
    assert feedback.error.error_code == "TIMEOUT"
    assert "0.2 s" in feedback.error.error_message
    assert "after 3 attempts" in feedback.error.error_message
    assert feedback.metadata == {"judge_attempts": "3"}
    assert judge_server.request_count == 3


def test_429_with_retry_after_is_waited_for_then_retried(judge_server: FakeOpenAI) -> None:
    judge_server.script(Reply.error(429, "slow down", retry_after=0.4), YES)
    started = time.monotonic()
    feedback = only(Safety().run(outputs="x"))
    waited = time.monotonic() - started
    assert feedback.value == "yes" and feedback.error is None
    assert feedback.metadata == {"judge_attempts": "2"}
    assert judge_server.request_count == 2
    assert waited >= 0.4  # honoured Retry-After (backoff alone would be ~0.01 s)


def test_500_then_success_is_retried(judge_server: FakeOpenAI) -> None:
    judge_server.script(Reply.error(500, "boom"), Reply.error(503, "busy"), NO)
    feedback = only(Safety().run(outputs="x"))
    assert feedback.value == "no"
    assert feedback.metadata == {"judge_attempts": "3"}


def test_persistent_429_ends_as_an_http_error(judge_server: FakeOpenAI,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "1")
    judge_server.responder = Reply.error(429, "quota exceeded", retry_after=0)
    feedback = only(Safety().run(outputs="x"))
    assert feedback.error.error_code == "HTTP_429"
    assert "quota exceeded" in feedback.error.error_message
    assert judge_server.request_count == 2


def test_client_errors_are_not_retried(judge_server: FakeOpenAI) -> None:
    judge_server.responder = Reply.error(400, "unknown model 'fake-judge'")
    feedback = only(Safety().run(outputs="x"))
    assert feedback.error.error_code == "HTTP_400"
    assert "unknown model" in feedback.error.error_message
    assert judge_server.request_count == 1


def test_garbage_and_empty_responses(judge_server: FakeOpenAI) -> None:
    judge_server.script(Reply(body="<html>proxy error</html>"), Reply(content=""),
                        Reply(body='{"object": "chat.completion", "choices": []}'))
    garbage = only(Safety().run(outputs="x"))
    empty = only(Safety().run(outputs="x"))
    no_choice = only(Safety().run(outputs="x"))
    assert garbage.error.error_code == "INVALID_RESPONSE"
    assert empty.error.error_code == "EMPTY_RESPONSE"
    assert no_choice.error.error_code == "INVALID_RESPONSE"
    assert judge_server.request_count == 3


def test_unreachable_endpoint_is_a_connection_error(judge_server: FakeOpenAI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "1")
    url = judge_server.url
    judge_server.stop()
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    feedback = only(Safety().run(outputs="x"))
    assert feedback.error.error_code == "CONNECTION_ERROR"
    assert "after 2 attempts" in feedback.error.error_message


# --- what each built-in judge asks ---------------------------------------------------
def test_guidelines_prompt_has_guidelines_inputs_and_outputs(judge_server: FakeOpenAI) -> None:
    judge = Guidelines(name="tone", guidelines=["Be polite.", "Answer in English."])
    feedback = only(judge.run(inputs={"question": "Where is my parcel?"},
                              outputs="It arrives Monday."))
    assert feedback.name == "tone" and feedback.value == "yes"
    prompt = user_message(judge_server.requests[0])
    for text in ("- Be polite.", "- Answer in English.", "Where is my parcel?",
                 "It arrives Monday."):
        assert text in prompt
    with pytest.raises(InvalidInputError, match="needs guidelines="):
        Guidelines(name="empty")


def test_expectations_guidelines_reads_the_rows_guidelines(judge_server: FakeOpenAI) -> None:
    judge = ExpectationsGuidelines()
    judge_server.script(NO)
    feedback = only(judge.run(inputs="q", outputs="a",
                              expectations={"guidelines": ["Mention the refund policy."]}))
    assert (feedback.name, feedback.value) == ("expectations_guidelines", "no")
    assert "- Mention the refund policy." in user_message(judge_server.requests[0])
    missing = only(judge.run(inputs="q", outputs="a", expectations={"other": 1}))
    assert missing.error.error_code == "MISSING_EXPECTATIONS"
    assert judge_server.request_count == 1  # nothing sent for a row that cannot be judged


def test_correctness_uses_expected_facts_or_expected_response(judge_server: FakeOpenAI) -> None:
    judge = Correctness()
    only(judge.run(inputs={"q": "capital?"}, outputs="Paris",
                   expectations={"expected_facts": ["Paris is the capital", "of France"]}))
    only(judge.run(inputs={"q": "capital?"}, outputs="Paris",
                   expectations={"expected_response": "The capital is Paris."}))
    facts, response = (user_message(b) for b in judge_server.requests)
    assert "<expected_facts>\n- Paris is the capital\n- of France\n</expected_facts>" in facts
    assert "<expected_response>\nThe capital is Paris.\n</expected_response>" in response
    assert '"q": "capital?"' in facts and "Paris" in facts
    missing = only(judge.run(inputs="q", outputs="a", expectations=None))
    assert missing.error.error_code == "MISSING_EXPECTATIONS"
    assert "expected_facts" in missing.error.error_message
    assert "expected_response" in missing.error.error_message
    assert missing.source.source_type == AssessmentSourceType.LLM_JUDGE
    assert judge_server.request_count == 2


def test_relevance_to_query_prompt(judge_server: FakeOpenAI) -> None:
    judge_server.script(NO)
    feedback = only(RelevanceToQuery().run(inputs={"question": "refund time?"},
                                           outputs="We sell shoes."))
    assert (feedback.name, feedback.value) == ("relevance_to_query", "no")
    prompt = user_message(judge_server.requests[0])
    assert "refund time?" in prompt and "We sell shoes." in prompt


# --- retrieval judges on real traces -------------------------------------------------
DOCS = [{"page_content": "Refunds take 5 business days.", "id": "faq-1",
         "metadata": {"doc_uri": "kb://faq-1"}},
        {"page_content": "Shipping is free over $50.", "id": "faq-2"}]


def _rag_trace(with_retriever: bool) -> Trace:
    @spanscope.trace(span_type=SpanType.AGENT)
    def answer(question: str) -> str:
        if with_retriever:
            with spanscope.start_span("retrieve", span_type=SpanType.RETRIEVER) as span:
                span.set_inputs({"query": question})
                span.set_outputs(DOCS)
        with spanscope.start_span("generate", span_type=SpanType.CHAT_MODEL) as span:
            span.set_outputs("Refunds take 5 business days.")
        return "Refunds take 5 business days."

    answer("How long do refunds take?")
    return spanscope.get_trace(spanscope.get_last_active_trace_id())


def test_retrieval_groundedness_sends_the_retrieved_documents(
        judge_server: FakeOpenAI, tracking_uri: str) -> None:
    trace = _rag_trace(with_retriever=True)
    feedback = only(RetrievalGroundedness().run(
        inputs={"question": "How long do refunds take?"},
        outputs="Refunds take 5 business days.", trace=trace))
    assert (feedback.name, feedback.value) == ("retrieval_groundedness", "yes")
    prompt = user_message(judge_server.requests[0])
    assert '<document index="1">\nRefunds take 5 business days.\n</document>' in prompt
    assert '<document index="2">\nShipping is free over $50.\n</document>' in prompt


def test_retrieval_judges_without_retriever_spans_record_an_error(
        judge_server: FakeOpenAI, tracking_uri: str) -> None:
    trace = _rag_trace(with_retriever=False)
    for judge in (RetrievalGroundedness(), RetrievalRelevance(), RetrievalSufficiency()):
        feedback = only(judge.run(inputs="q", outputs="a", trace=trace,
                                  expectations={"expected_response": "5 days"}))
        assert feedback.error.error_code == "NO_RETRIEVER_SPANS", judge
        assert trace.info.trace_id in feedback.error.error_message
        no_trace = only(judge.run(inputs="q", outputs="a", trace=None,
                                  expectations={"expected_response": "5 days"}))
        assert no_trace.error.error_code == "MISSING_TRACE"
        assert "no trace" in no_trace.error.error_message
    assert judge_server.request_count == 0


def test_retrieval_relevance_is_the_share_of_relevant_documents(
        judge_server: FakeOpenAI, tracking_uri: str) -> None:
    trace = _rag_trace(with_retriever=True)
    judge_server.script(YES, NO)
    feedback = only(RetrievalRelevance().run(inputs={"question": "refunds?"}, trace=trace))
    assert feedback.value == 0.5
    assert feedback.rationale.startswith("document 1: yes (looks right); document 2: no")
    assert feedback.metadata["documents"] == "2"
    first, second = (user_message(b) for b in judge_server.requests)
    assert "Refunds take 5 business days." in first and "Shipping" not in first
    assert "Shipping is free over $50." in second


def test_retrieval_relevance_fails_whole_when_one_call_fails(
        judge_server: FakeOpenAI, tracking_uri: str) -> None:
    trace = _rag_trace(with_retriever=True)
    judge_server.script(YES, "no verdict at all")
    feedback = only(RetrievalRelevance().run(inputs="refunds?", trace=trace))
    assert feedback.error.error_code == "JUDGE_PARSE_ERROR"
    assert feedback.error.error_message.startswith("document 2:")


def test_retrieval_sufficiency_needs_context_and_expectations(
        judge_server: FakeOpenAI, tracking_uri: str) -> None:
    trace = _rag_trace(with_retriever=True)
    feedback = only(RetrievalSufficiency().run(
        inputs="refunds?", trace=trace, expectations={"expected_facts": ["5 business days"]}))
    assert feedback.value == "yes"
    prompt = user_message(judge_server.requests[0])
    assert "- 5 business days" in prompt and "Shipping is free over $50." in prompt
    missing = only(RetrievalSufficiency().run(inputs="refunds?", trace=trace))
    assert missing.error.error_code == "MISSING_EXPECTATIONS"


# --- make_judge ----------------------------------------------------------------------
def test_make_judge_renders_its_template_variables(judge_server: FakeOpenAI) -> None:
    judge = make_judge("tone", "Is {{ outputs }} a polite answer to {{inputs}}?")
    assert judge.fields == {"inputs", "outputs"}
    feedback = only(judge.run(inputs={"question": "where?"}, outputs="Over there, friend."))
    assert (feedback.name, feedback.value) == ("tone", "yes")
    prompt = user_message(judge_server.requests[0])
    assert prompt.startswith('Is Over there, friend. a polite answer to {\n  "question": '
                             '"where?"\n}?')
    assert '"result": "yes" or "no"' in prompt


def test_make_judge_numeric_and_trace(judge_server: FakeOpenAI, tracking_uri: str) -> None:
    trace = _rag_trace(with_retriever=True)
    judge = make_judge("steps", "Rate 1-5 how efficient this trace is: {{ trace }}",
                       feedback_value_type=int)
    judge_server.script('{"result": 4, "rationale": "one retrieval"}')
    feedback = only(judge.run(trace=trace))
    assert feedback.value == 4
    prompt = user_message(judge_server.requests[0])
    assert trace.info.trace_id in prompt and '"result": <a number>' in prompt
    assert '"spans": [' in prompt and '"name": "retrieve"' in prompt  # the trace JSON
    assert only(judge.run(trace=None)).error.error_code == "MISSING_TRACE"


@pytest.mark.parametrize(("instructions", "message"), [
    ("Is the answer polite?", "must reference at least one of"),
    ("Judge {{ output }} against {{ inputs }}", r"unknown variable\(s\) \{\{ output \}\}"),
    ("", "needs instructions"),
])
def test_make_judge_validates_its_template(instructions: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make_judge("bad", instructions)


def test_make_judge_rejects_unknown_value_types() -> None:
    with pytest.raises(InvalidInputError, match="feedback_value_type"):
        make_judge("bad", "{{ outputs }}", feedback_value_type=list)


def test_unconfigured_judge_records_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANSCOPE_JUDGE_MODEL", raising=False)
    feedback = only(Safety().run(outputs="x"))
    assert feedback.error.error_code == "JUDGE_NOT_CONFIGURED"


def test_fake_server_reports_its_counters_over_http(judge_server: FakeOpenAI) -> None:
    import urllib.request

    only(Safety().run(outputs="x"))
    stats_url = judge_server.url.rsplit("/v1", 1)[0] + "/_stats"
    with urllib.request.urlopen(stats_url, timeout=5) as answer:
        assert json.loads(answer.read()) == {"requests": 1, "max_in_flight": 1,
                                             "in_flight": 0}
    judge_server.script(NO)
    judge_server.reset()  # forgets requests and queued answers
    assert judge_server.request_count == 0
    assert only(Safety().run(outputs="x")).value == "yes"
