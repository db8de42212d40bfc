"""The demo app's parts on their own: workload, retriever, simulated LLM, summary maths.

These need no store and no tracing: they pin down the behaviour the traces are built on
(determinism, which document a question retrieves, how the fake provider fails).
"""

from __future__ import annotations

import dataclasses
import json
import random
import re

import pytest

from spanscope.demo.knowledge_base import DOCUMENTS, LexicalRetriever
from spanscope.demo.latency import SimulatedLatency
from spanscope.demo.profiles import PROFILES
from spanscope.demo.simulated_llm import (
    LLMTimeoutError,
    RateLimitError,
    SimulatedChatModel,
    count_tokens,
)
from spanscope.demo.summary import percentile, summarize
from spanscope.demo.workload import INTENTS, KNOWN_ORDER_IDS, plan_requests
from spanscope.entities import TraceInfo, TraceState

EXPECTED_DOC = {"refund": "refunds", "shipping": "shipping", "password_reset": "password-reset",
                "billing": "billing", "warranty": "warranty",
                "account_deletion": "account-deletion", "plan_upgrade": "plans",
                "cancellation": "order-cancellation", "two_factor": "two-factor",
                "international": "international"}
TOOLS = [{"type": "function", "function": {"name": name, "parameters": {}}}
         for name in ("search_knowledge_base", "lookup_order", "check_account")]


def _model(**rates: float) -> SimulatedChatModel:
    """A model with every fault off unless given, and no sleeping."""
    off = {"llm_timeout_rate": 0.0, "rate_limit_rate": 0.0, "wrong_query_rate": 0.0}
    profile = dataclasses.replace(PROFILES["1.4.0"], **{**off, **rates})
    return SimulatedChatModel(SimulatedLatency(random.Random(7), profile, time_scale=0.0))


def _plan(model: SimulatedChatModel, *questions: str) -> dict[str, dict]:
    messages = [{"role": "user", "content": q} for q in questions]
    completion = model.create(messages, tools=TOOLS)
    calls = completion["choices"][0]["message"]["tool_calls"]
    return {c["function"]["name"]: json.loads(c["function"]["arguments"]) for c in calls}


# --- workload ---------------------------------------------------------------------------
def test_same_seed_same_requests_and_prefix_stable() -> None:
    assert plan_requests(200, seed=3) == plan_requests(200, seed=3)
    assert plan_requests(50, seed=3) == plan_requests(200, seed=3)[:50]
    assert [p.question for p in plan_requests(50, 3)] != [p.question for p in plan_requests(50, 4)]


def test_conversations_have_one_to_four_turns_of_one_user() -> None:
    plans = plan_requests(400, seed=0)
    sessions: dict[str, list] = {}
    for plan in plans:
        sessions.setdefault(plan.session_id, []).append(plan)
    assert len(sessions) > 100
    for turns in sessions.values():
        assert [t.turn for t in turns] == list(range(1, len(turns) + 1))
        assert len(turns) <= 4
        assert len({(t.user_id, t.user_tier, t.app_version, t.environment) for t in turns}) == 1
    assert {len(t) for t in sessions.values()} >= {1, 2, 3}
    assert [p.client_request_id for p in plans[:3]] == ["req-1", "req-2", "req-3"]


def test_deployments_mix_versions_tiers_and_environments() -> None:
    plans = plan_requests(1000, seed=0)
    versions = {p.app_version for p in plans}
    assert versions == {"1.4.0", "1.5.0-beta"}
    assert {p.user_tier for p in plans} == {"free", "pro", "enterprise"}
    assert {p.environment for p in plans} == {"prod", "staging"}
    beta_share = sum(p.app_version == "1.5.0-beta" for p in plans) / len(plans)
    assert 0.15 < beta_share < 0.45


# --- retrieval --------------------------------------------------------------------------
@pytest.mark.parametrize("intent", sorted(INTENTS))
def test_every_question_retrieves_its_own_faq_first(intent: str) -> None:
    """Through the planner's query rewrite, as the app does it."""
    retriever = LexicalRetriever()
    _, openers, follow_ups = INTENTS[intent]
    for template in openers + follow_ups:
        question = template.format(order="A10042", product="desk lamp", days=9, months=5,
                                   country="Japan")
        query = _plan(_model(), question)["search_knowledge_base"]["query"]
        top, score = retriever.search(query)[0]
        assert top.id == EXPECTED_DOC[intent], (question, query)
        assert 0 < score <= 1


def test_misread_refund_question_retrieves_the_shipping_faq() -> None:
    question = "Can I get a refund on order A10042? It's been 9 days."
    query = _plan(_model(wrong_query_rate=1.0), question)["search_knowledge_base"]["query"]
    results = LexicalRetriever().search(query)
    assert results[0][0].id == "shipping"
    assert "refunds" not in [doc.id for doc, _ in results]


def test_retriever_returns_at_most_k_scored_documents_best_first() -> None:
    results = LexicalRetriever().search("refund order delivery password", k=3)
    assert len(results) == 3
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    assert LexicalRetriever().search("the and of") == []
    output = DOCUMENTS[0].to_output(0.5)
    assert output["metadata"]["doc_uri"] == "kb://faq/refunds"
    assert set(output) == {"id", "page_content", "metadata"}


# --- the simulated LLM -----------------------------------------------------------------
def test_plan_calls_order_and_account_tools_only_when_relevant() -> None:
    assert set(_plan(_model(), "Where is my order A10042?")) == {"search_knowledge_base",
                                                                  "lookup_order"}
    assert _plan(_model(), "Where is my order A10042?")["lookup_order"] == {"order_id": "A10042"}
    assert set(_plan(_model(), "I was charged twice this month.")) == {"search_knowledge_base",
                                                                       "check_account"}
    assert set(_plan(_model(), "How do I reset my password?")) == {"search_knowledge_base"}


def test_follow_up_query_carries_the_previous_topic() -> None:
    query = _plan(_model(), "I want a refund, the blender is broken.",
                  "How long does it take?")["search_knowledge_base"]["query"]
    assert "refund" in query.split()


def test_completion_is_openai_shaped_with_consistent_usage() -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "How long does shipping take?"}]
    completion = _model().create(messages)
    assert completion["object"] == "chat.completion"
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{24}", completion["id"])
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == count_tokens(choice["message"]["content"])
    assert usage["prompt_tokens"] > count_tokens("Be brief.How long does shipping take?")


def test_answer_is_grounded_in_tool_results() -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order_id": "A10042"}'}}
    search = {"id": "call_2", "type": "function",
              "function": {"name": "search_knowledge_base", "arguments": '{"query": "x"}'}}
    order = {"order_id": "A10042", "status": "delayed", "carrier": "DHL", "eta": "soon"}
    messages = [
        {"role": "user", "content": "Where is my order A10042?"},
        {"role": "assistant", "content": None, "tool_calls": [call, search]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(order)},
        {"role": "tool", "tool_call_id": "call_2",
         "content": json.dumps([DOCUMENTS[1].to_output(0.4)])},
    ]
    answer = _model().create(messages)["choices"][0]["message"]["content"]
    assert "A10042 is delayed with DHL" in answer
    assert "business days" in answer  # from the shipping FAQ


def test_rate_limit_bursts_and_timeouts_raise_provider_errors() -> None:
    model = _model(rate_limit_rate=1.0)
    with pytest.raises(RateLimitError) as info:
        model.create([{"role": "user", "content": "hi"}])
    assert info.value.status_code == 429
    with pytest.raises(LLMTimeoutError) as timeout:
        _model(llm_timeout_rate=1.0).create([{"role": "user", "content": "hi"}])
    assert isinstance(timeout.value, TimeoutError)


def test_rate_limit_burst_ends_so_a_retry_can_succeed() -> None:
    profile = dataclasses.replace(PROFILES["1.4.0"], llm_timeout_rate=0.0, rate_limit_rate=0.5)
    outcomes = []
    model = SimulatedChatModel(SimulatedLatency(random.Random(1), profile, time_scale=0.0))
    for _ in range(200):
        try:
            model.create([{"role": "user", "content": "hi"}])
            outcomes.append("ok")
        except RateLimitError:
            outcomes.append("429")
    assert 20 < outcomes.count("429") < 180
    assert "429,429" in ",".join(outcomes)  # bursts, not only isolated failures


def test_latency_is_slept_scaled_and_has_a_slow_tail() -> None:
    slept: list[float] = []
    profile = PROFILES["1.4.0"]
    latency = SimulatedLatency(random.Random(0), profile, time_scale=1 / 1000,
                               sleep=slept.append)
    values = [latency.spend(100) for _ in range(2000)]
    assert slept == pytest.approx([v / 1000 / 1000 for v in values])
    assert 80 < percentile(values, 50) < 125
    assert max(values) > 5 * percentile(values, 50)  # the tail exists


def test_orders_known_to_the_lookup_are_the_ones_users_mostly_type() -> None:
    plans = plan_requests(2000, seed=5)
    typed = [m.group(1) for p in plans if (m := re.search(r"order (A\w+)", p.question))]
    known = sum(order in KNOWN_ORDER_IDS for order in typed) / len(typed)
    assert 0.8 < known < 0.95


# --- summary maths ---------------------------------------------------------------------
def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 95) == 95


def test_summarize_counts_errors_tokens_and_versions() -> None:
    def info(i: int, state: str, ms: int, tokens: int | None, version: str) -> TraceInfo:
        metadata = {} if tokens is None else {"mlflow.trace.tokenUsage": json.dumps(
            {"input_tokens": tokens - 1, "output_tokens": 1, "total_tokens": tokens})}
        return TraceInfo(trace_id=f"tr-{i:032x}", request_time=1000 - i, execution_duration=ms,
                         state=TraceState(state), trace_metadata=metadata,
                         tags={"app_version": version})

    infos = [info(0, "OK", 10, 100, "a"), info(1, "ERROR", 30, None, "b"),
             info(2, "OK", 20, 300, "a"), info(3, "ERROR", 40, 50, "a")]
    summary = summarize(infos)
    assert summary.overall.traces == 4 and summary.overall.errors == 2
    assert summary.overall.error_rate == 0.5
    assert summary.overall.p50_ms == 25
    assert summary.total_tokens == 450 and summary.mean_tokens == 150
    assert summary.by_version["a"].traces == 3 and summary.by_version["b"].errors == 1
    assert summary.error_trace_ids == (infos[1].trace_id, infos[3].trace_id)
