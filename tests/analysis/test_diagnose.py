"""``diagnose``: every finding kind where it belongs, nowhere else, ranked causes first.

Traces are built with known timings, errors, retries, loops, tokens and retrieval
contents (``analysis_builders``); each test asserts the finding's span, severity and the
numbers in its evidence, and that the healthy variant of the same trace stays quiet.
"""

from __future__ import annotations

import json

import pytest
from analysis_builders import (
    REFUND_ANSWER,
    REFUND_DOC,
    REFUND_QUESTION,
    SHIPPING_ANSWER,
    SHIPPING_DOC,
    TraceBuilder,
    completion,
    documents,
    healthy_rag_trace,
    messages,
    rag_trace,
    wrong_answer_trace,
)

from spanscope.analysis import Finding, diagnose
from spanscope.analysis.diagnose import Thresholds
from spanscope.analysis.findings import KIND_PRIORITY, rank_findings
from spanscope.entities import AssessmentError, AssessmentSource, Feedback, Trace

QUIET_KINDS = {"bottleneck"}  # informational: every multi-span trace has a bottleneck


def run(trace: Trace, **kwargs: object) -> list[Finding]:
    """diagnose(), checking that every finding is JSON as is and the ranking holds."""
    findings = diagnose(trace, **kwargs)  # type: ignore[arg-type]
    for finding in findings:
        assert json.loads(json.dumps(finding.to_dict())) == finding.to_dict()
        assert finding.message.strip() and "\n" not in finding.message  # one plain line
    assert findings == rank_findings(findings)
    return findings


def of_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def only(findings: list[Finding], kind: str) -> Finding:
    found = of_kind(findings, kind)
    assert len(found) == 1, [(f.kind, f.span_name, f.message) for f in findings]
    return found[0]


def kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


# --- healthy traces ----------------------------------------------------------------------
def test_a_healthy_trace_has_only_its_low_bottleneck() -> None:
    findings = run(healthy_rag_trace())
    assert kinds(findings) == {"bottleneck"}
    assert only(findings, "bottleneck").severity == "low"


def test_a_single_span_trace_has_no_findings() -> None:
    b = TraceBuilder()
    b.add("answer", 0, 40, span_type="CHAT_MODEL", inputs=messages("hello"),
          outputs=completion("Hello! How can I help?"))
    assert run(b.trace()) == []


# --- error_origin ------------------------------------------------------------------------
def test_error_origin_is_the_deepest_span_not_the_ancestors_it_propagated_through() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", error="KeyError: order A7 not found")
    chain = b.add("handle_order", 5, 45, parent=root, span_type="CHAIN",
                  error="KeyError: order A7 not found")
    b.add("plan", 6, 20, parent=chain, span_type="CHAT_MODEL", outputs=completion("ok"))
    tool = b.add("lookup_order", 21, 40, parent=chain, span_type="TOOL",
                 inputs={"order_id": "A7"}, error="KeyError: order A7 not found")
    findings = run(b.trace())
    origin = only(findings, "error_origin")
    assert (origin.span_id, origin.span_name, origin.severity) == (tool, "lookup_order", "high")
    assert origin.evidence["exception_type"] == "KeyError"
    assert origin.evidence["exception_message"] == "order A7 not found"
    assert origin.evidence["propagated_through"] == [chain, root]
    assert origin.evidence["failed_trace"] is True
    assert "lookup_order failed with KeyError: order A7 not found" in origin.message
    assert "handle_order, agent" in origin.message
    assert findings[0] is origin


def test_an_error_caught_inside_an_ok_trace_is_medium() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", outputs="Here is your plan.")
    b.add("check_account", 5, 15, parent=root, span_type="TOOL",
          error="ConnectionError: account service unavailable (HTTP 503)")
    b.add("answer", 16, 48, parent=root, span_type="CHAT_MODEL",
          outputs=completion("Here is your plan."))
    origin = only(run(b.trace()), "error_origin")
    assert origin.severity == "medium" and origin.span_name == "check_account"
    assert origin.evidence["caught_by"] == "agent" and origin.evidence["failed_trace"] is False
    assert "agent caught it" in origin.message and "OK" in origin.message


def test_a_caught_error_and_the_failure_that_ended_the_trace_are_told_apart() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 90, span_type="AGENT", error="TimeoutError: timed out after 30s")
    b.add("check_account", 5, 15, parent=root, span_type="TOOL",
          error="ConnectionError: account service unavailable")
    b.add("answer", 20, 88, parent=root, span_type="CHAT_MODEL",
          error="TimeoutError: timed out after 30s")
    origins = of_kind(run(b.trace()), "error_origin")
    assert [(f.span_name, f.severity) for f in origins] == [("answer", "high"),
                                                            ("check_account", "medium")]


def test_a_root_failing_on_its_own_after_a_caught_child_error_is_the_origin() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 60, span_type="AGENT", error="ValueError: no answer produced")
    b.add("check_account", 5, 15, parent=root, span_type="TOOL",
          error="ConnectionError: account service unavailable")
    origins = of_kind(run(b.trace()), "error_origin")
    assert [(f.span_name, f.severity) for f in origins] == [("agent", "high"),
                                                            ("check_account", "medium")]
    assert origins[0].evidence["propagated_through"] == []


def test_a_wrapped_exception_points_at_the_span_that_raised_the_cause() -> None:
    b = TraceBuilder()
    cause = "KeyError: order A7 not found"
    root = b.add("agent", 0, 50, span_type="AGENT", error="ValueError: could not answer",
                 stacktrace=f"Traceback ...\n{cause}\n\nThe above exception was the direct "
                            "cause of the following exception:\n\nValueError: could not answer")
    tool = b.add("lookup_order", 10, 20, parent=root, span_type="TOOL", error=cause)
    origin = only(run(b.trace()), "error_origin")
    assert origin.span_id == tool and origin.severity == "high"
    assert origin.evidence["propagated_through_names"] == ["agent"]


def test_an_error_recorded_only_in_the_status_is_read_from_it() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", error="RuntimeError: boom",
                 status_only=True)
    b.add("tool", 10, 20, parent=root, span_type="TOOL", error="RuntimeError: boom",
          status_only=True)
    origin = only(run(b.trace()), "error_origin")
    assert origin.span_name == "tool"
    assert (origin.evidence["exception_type"], origin.evidence["exception_message"]) == (
        "RuntimeError", "boom")


# --- retry -------------------------------------------------------------------------------
def _retried(outcomes: list[str | None], *, same_inputs: bool = True) -> Trace:
    """Sibling ``call_llm`` attempts, 10 ms apart; an outcome is an error or None (OK)."""
    b = TraceBuilder()
    failed = outcomes[-1] is not None
    root = b.add("agent", 0, 10 * len(outcomes) + 5, span_type="AGENT",
                 error=outcomes[-1] if failed else None, outputs=None if failed else "Done.")
    for i, error in enumerate(outcomes):
        question = "What is my balance?" if same_inputs else f"Summarise document {i}"
        b.add("call_llm", 10 * i + 1, 10 * i + 4, parent=root, span_type="CHAT_MODEL",
              inputs=messages(question), error=error,
              outputs=None if error else completion("Done."))
    return b.trace()


RATE_LIMIT = "RateLimitError: 429 Too Many Requests"


def test_a_retry_that_recovered_is_medium_and_hides_its_failed_attempts() -> None:
    findings = run(_retried([RATE_LIMIT, RATE_LIMIT, None]))
    retry = only(findings, "retry")
    assert retry.severity == "medium"
    assert retry.evidence["attempts"] == 3 and retry.evidence["failed_attempts"] == 2
    assert retry.evidence["succeeded"] is True
    assert retry.evidence["errors"] == ["RateLimitError: 429 Too Many Requests"]
    assert retry.evidence["time_lost_ms"] == pytest.approx(20.0)
    assert "the last succeeded" in retry.message
    assert of_kind(findings, "error_origin") == []  # the retry finding tells it
    assert of_kind(findings, "agent_loop") == []  # three identical calls, but a retry


def test_a_retry_where_every_attempt_failed_is_high_with_the_last_as_origin() -> None:
    trace = _retried([RATE_LIMIT, RATE_LIMIT, RATE_LIMIT])
    findings = run(trace)
    retry = only(findings, "retry")
    assert retry.severity == "high" and retry.evidence["succeeded"] is False
    assert "all 3 attempts failed" in retry.message
    origin = only(findings, "error_origin")
    last_attempt = max(trace.search_spans(name="call_llm"), key=lambda s: s.start_time_ns)
    assert origin.span_id == last_attempt.span_id == retry.span_id
    assert [f.kind for f in findings[:2]] == ["error_origin", "retry"]


def test_failed_siblings_with_different_inputs_are_not_a_retry() -> None:
    findings = run(_retried(["ValueError: bad document", None], same_inputs=False))
    assert of_kind(findings, "retry") == []
    assert only(findings, "error_origin").severity == "medium"


def test_one_failed_call_is_not_a_retry() -> None:
    assert of_kind(run(_retried([None, RATE_LIMIT])), "retry") == []


# --- agent_loop --------------------------------------------------------------------------
def _tool_calls(args_list: list[dict[str, object]]) -> Trace:
    b = TraceBuilder()
    root = b.add("agent", 0, 10 * len(args_list) + 5, span_type="AGENT", outputs="Done.")
    for i, args in enumerate(args_list):
        b.add("search_web", 10 * i + 1, 10 * i + 9, parent=root, span_type="TOOL",
              inputs=args, outputs={"results": []})
    return b.trace()


def test_the_same_tool_with_the_same_arguments_again_and_again_is_a_loop() -> None:
    trace = _tool_calls([{"q": "refund policy", "k": 3}, {"k": 3, "q": "refund policy"},
                         {"q": "refund policy", "k": 3}, {"q": "refund policy", "k": 3}])
    loop = only(run(trace), "agent_loop")
    assert loop.severity == "medium" and loop.span_name == "search_web"
    assert loop.evidence["calls"] == 4 and loop.evidence["span_type"] == "TOOL"
    assert json.loads(loop.evidence["arguments"]) == {"k": 3, "q": "refund policy"}
    assert loop.evidence["total_ms"] == pytest.approx(32.0)
    assert "4 times with the same arguments" in loop.message


def test_five_identical_calls_are_a_high_severity_loop() -> None:
    loop = only(run(_tool_calls([{"q": "x y"}] * 5)), "agent_loop")
    assert loop.severity == "high"


def test_different_arguments_or_two_calls_are_not_a_loop() -> None:
    assert of_kind(run(_tool_calls([{"q": f"page {i}"} for i in range(6)])), "agent_loop") == []
    assert of_kind(run(_tool_calls([{"q": "same"}] * 2)), "agent_loop") == []


# --- bottleneck and critical path ----------------------------------------------------------
def test_bottleneck_is_the_largest_self_time_and_the_critical_path_ends_last() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT", outputs="ok")
    b.add("plan", 0, 20, parent=root, span_type="CHAT_MODEL", outputs=completion("ok"))
    chain = b.add("lookup", 20, 97, parent=root, span_type="CHAIN")
    slow = b.add("db_query", 21, 91, parent=chain, span_type="TOOL")
    b.add("format", 91, 96, parent=chain, span_type="PARSER")
    bottleneck = only(run(b.trace()), "bottleneck")
    assert bottleneck.span_id == slow and bottleneck.severity == "medium"  # 70%, not a model
    assert bottleneck.evidence["self_ms"] == pytest.approx(70.0)
    assert bottleneck.evidence["share"] == pytest.approx(0.70)
    assert [s["name"] for s in bottleneck.evidence["critical_path"]] == [
        "agent", "lookup", "format"]
    assert "70%" in bottleneck.message and "agent > lookup > format" in bottleneck.message


def test_a_model_call_bottleneck_is_low_however_big() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT", outputs="ok")
    b.add("answer", 1, 99, parent=root, span_type="LLM", outputs="ok")
    bottleneck = only(run(b.trace()), "bottleneck")
    assert bottleneck.severity == "low" and bottleneck.evidence["share"] == pytest.approx(0.98)


# --- gap ---------------------------------------------------------------------------------
def test_a_parent_spending_time_outside_its_children_is_a_gap() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT", outputs="ok")
    b.add("plan", 0, 10, parent=root, span_type="CHAT_MODEL", outputs=completion("ok"))
    b.add("answer", 60, 70, parent=root, span_type="CHAT_MODEL", outputs=completion("ok"))
    gap = only(run(b.trace()), "gap")
    assert gap.span_name == "agent" and gap.severity == "medium"
    assert gap.evidence["gap_ms"] == pytest.approx(80.0)
    assert gap.evidence["share"] == pytest.approx(0.8)
    longest = gap.evidence["stretches"][0]
    assert longest == {"start_offset_ms": 10.0, "duration_ms": 50.0, "after": "plan",
                       "before": "answer"}
    assert "between plan and answer" in gap.message


def test_small_gaps_are_not_reported() -> None:
    # 16% of the parent (under 20%), then 8 ms of a 10 s parent (under 20%, over 5 ms)
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT", outputs="ok")
    b.add("a", 0, 42, parent=root)
    b.add("b", 50, 92, parent=root)
    assert of_kind(run(b.trace()), "gap") == []
    b = TraceBuilder()
    root = b.add("agent", 0, 10_000, span_type="AGENT", outputs="ok")
    b.add("a", 0, 4_996, parent=root)
    b.add("b", 5_000, 9_996, parent=root)
    assert of_kind(run(b.trace()), "gap") == []


def test_a_model_call_with_a_child_is_not_a_gap() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT", outputs="ok")
    chat = b.add("chat", 0, 100, parent=root, span_type="CHAT_MODEL", outputs=completion("ok"))
    b.add("parse_tool_call", 90, 95, parent=chat, span_type="PARSER")
    assert of_kind(run(b.trace()), "gap") == []


# --- token_spike -------------------------------------------------------------------------
def _llm_calls(prompt_tokens: list[int]) -> Trace:
    b = TraceBuilder()
    root = b.add("agent", 0, 10 * len(prompt_tokens) + 5, span_type="AGENT", outputs="ok")
    for i, tokens in enumerate(prompt_tokens):
        b.add(f"llm_{i}", 10 * i + 1, 10 * i + 9, parent=root, span_type="CHAT_MODEL",
              inputs=messages("Summarise"), outputs=completion("ok", prompt_tokens=tokens))
    return b.trace()


def test_a_prompt_far_bigger_than_the_other_calls_is_a_token_spike() -> None:
    spike = only(run(_llm_calls([100, 120, 2_000])), "token_spike")
    assert spike.span_name == "llm_2" and spike.severity == "medium"
    assert spike.evidence["input_tokens"] == 2_000
    assert spike.evidence["others_median"] == pytest.approx(110.0)
    assert "2,000 input tokens" in spike.message and "18.2x" in spike.message


def test_a_moderately_bigger_or_small_prompt_is_not_a_spike() -> None:
    assert of_kind(run(_llm_calls([100, 120, 300])), "token_spike") == []  # under 3x
    assert of_kind(run(_llm_calls([10, 12, 400])), "token_spike") == []  # under +500 tokens


def test_a_caller_baseline_flags_a_lone_call() -> None:
    trace = _llm_calls([1_500])
    assert of_kind(run(trace), "token_spike") == []
    spike = only(run(trace, token_baseline=1_000), "token_spike")
    assert spike.evidence["baseline"] == 1_000 and "above the baseline of 1,000" in spike.message
    assert of_kind(run(trace, token_baseline=2_000), "token_spike") == []


def test_a_model_span_wrapping_another_does_not_count_twice() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT", outputs="ok")
    for i, tokens in enumerate([100, 110]):
        b.add(f"small_{i}", 10 * i, 10 * i + 8, parent=root, span_type="LLM",
              outputs=completion("ok", prompt_tokens=tokens))
    wrapper = b.add("client", 30, 90, parent=root, span_type="LLM",
                    outputs=completion("ok", prompt_tokens=5_000))
    inner = b.add("openai.chat", 31, 89, parent=wrapper, span_type="CHAT_MODEL",
                  outputs=completion("ok", prompt_tokens=5_000))
    spike = only(run(b.trace()), "token_spike")
    assert spike.span_id == inner and spike.evidence["other_calls"] == 2


# --- retrieval ---------------------------------------------------------------------------
def test_the_classic_wrong_answer_ranks_the_retrieval_span_first() -> None:
    trace, ids = wrong_answer_trace()
    findings = run(trace)
    top = findings[0]
    assert (top.kind, top.severity, top.span_id, top.span_name) == (
        "retrieval_mismatch", "high", ids["retrieve"], "retrieve")
    assert "do not match the query" in top.message
    assert top.evidence["query_terms_in_documents"] == 0.0
    assert top.evidence["missing_query_terms"] == ["refund", "broken", "headphones"]
    answer = only(findings, "answer_mismatch")
    assert answer.severity == "medium" and findings.index(answer) > 0


def test_a_query_drifted_from_the_question_is_a_mismatch_even_if_documents_match_it() -> None:
    """The demo's fault: the planner searched for a delivery problem, the retriever
    correctly returned the shipping FAQ for that query, the user had asked for a refund."""
    b, ids = rag_trace(REFUND_QUESTION, documents(SHIPPING_DOC),
                       SHIPPING_ANSWER, query="order delivery status tracking shipment")
    top = run(b.trace())[0]
    assert (top.kind, top.severity, top.span_id) == ("retrieval_mismatch", "high",
                                                     ids["retrieve"])
    assert top.evidence["reason"] == "query_drift"
    assert top.evidence["query_terms_in_documents"] > 0.5  # the documents match the query
    assert top.evidence["question_terms_in_documents"] == 0.0
    assert "do not match the query" in top.message
    assert "searched for 'order delivery status tracking shipment'" in top.message


def test_a_rewritten_query_that_keeps_the_question_is_fine() -> None:
    b, _ = rag_trace(REFUND_QUESTION, documents(REFUND_DOC), REFUND_ANSWER,
                     query="refund broken headphones return policy")
    assert kinds(run(b.trace())) == {"bottleneck"}


def test_empty_retrieval() -> None:
    for outputs in ([], {"documents": []}):
        b, ids = rag_trace(REFUND_QUESTION, outputs, REFUND_ANSWER)  # type: ignore[arg-type]
        empty = only(run(b.trace()), "empty_retrieval")
        assert empty.span_id == ids["retrieve"] and empty.severity == "medium"
        assert empty.evidence == {"query": REFUND_QUESTION, "documents": 0}


def test_low_retrieval_scores_in_either_place() -> None:
    docs = documents(REFUND_DOC, SHIPPING_DOC, scores=[0.05, 0.02])
    b, ids = rag_trace(REFUND_QUESTION, docs, REFUND_ANSWER)
    low = only(run(b.trace()), "low_retrieval_score")
    assert low.span_id == ids["retrieve"] and low.evidence["best"] == 0.05
    assert of_kind(run(b.trace(), min_retrieval_score=0.01), "low_retrieval_score") == []
    top_level = [{"page_content": REFUND_DOC, "score": 0.03}]
    b, _ = rag_trace(REFUND_QUESTION, top_level, REFUND_ANSWER)
    assert of_kind(run(b.trace()), "low_retrieval_score")
    unscored = documents(REFUND_DOC)  # no scores: nothing to judge
    b, _ = rag_trace(REFUND_QUESTION, unscored, REFUND_ANSWER)
    assert of_kind(run(b.trace()), "low_retrieval_score") == []


def test_a_failed_retriever_is_an_error_not_an_empty_retrieval() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", outputs="Sorry.")
    b.add("retrieve", 5, 10, parent=root, span_type="RETRIEVER",
          inputs={"query": REFUND_QUESTION}, error="ConnectionError: index unavailable")
    findings = run(b.trace())
    assert "empty_retrieval" not in kinds(findings)
    assert only(findings, "error_origin").span_name == "retrieve"


# --- answers and outputs -----------------------------------------------------------------
def test_an_answer_about_something_else_is_an_answer_mismatch() -> None:
    b, ids = rag_trace(REFUND_QUESTION, documents(REFUND_DOC), SHIPPING_ANSWER)
    mismatch = only(run(b.trace()), "answer_mismatch")
    assert mismatch.span_id == ids["support_agent"] and mismatch.severity == "medium"
    assert mismatch.evidence["question_terms_in_answer"] == 0.0
    assert mismatch.evidence["missing_question_terms"] == ["refund", "broken", "headphones"]


def test_answer_taken_from_the_last_model_call_when_the_root_has_none() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", inputs={"question": REFUND_QUESTION})
    last = b.add("answer", 5, 45, parent=root, span_type="CHAT_MODEL",
                 outputs=completion(SHIPPING_ANSWER))
    assert only(run(b.trace()), "answer_mismatch").span_id == last


def test_a_cut_off_model_output_is_truncated_output() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", outputs="Refunds take")
    chat = b.add("answer", 5, 45, parent=root, span_type="CHAT_MODEL",
                 outputs=completion("Refunds take", finish_reason="length"))
    b.add("claude", 46, 49, parent=root, span_type="LLM",
          outputs={"content": [{"type": "text", "text": "Refunds"}],
                   "stop_reason": "max_tokens"})
    truncated = of_kind(run(b.trace()), "truncated_output")
    assert [(f.span_name, f.evidence["finish_reason"]) for f in truncated] == [
        ("answer", "length"), ("claude", "max_tokens")]
    assert truncated[0].span_id == chat and truncated[0].severity == "medium"


def test_empty_outputs_and_tool_call_only_replies() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 50, span_type="AGENT", outputs="")
    b.add("plan", 1, 10, parent=root, span_type="CHAT_MODEL", outputs=completion(
        None, finish_reason="tool_calls", tool_calls=[{"id": "c", "type": "function",
                                                       "function": {"name": "f"}}]))
    b.add("answer", 11, 30, parent=root, span_type="CHAT_MODEL", outputs=completion(""))
    b.add("summarise", 31, 40, parent=root, span_type="LLM")  # OK, but no output at all
    empty = of_kind(run(b.trace()), "empty_output")
    assert [f.span_name for f in empty] == ["agent", "answer", "summarise"]
    assert "recorded no output" in empty[2].message


# --- assessments -------------------------------------------------------------------------
JUDGE = AssessmentSource("LLM_JUDGE", "gpt-4o")


def test_failed_assessments_carry_their_rationale() -> None:
    trace = healthy_rag_trace()
    span = trace.search_spans(name="retrieve")[0]
    trace.info.assessments = [
        Feedback(name="correctness", value=False, source=JUDGE,
                 rationale="The answer explains shipping times, not refunds."),
        Feedback(name="relevance", value="no", source=JUDGE, span_id=span.span_id),
        Feedback(name="groundedness", value=0.2, source=JUDGE),
        Feedback(name="safety", value="yes", source=JUDGE),
        Feedback(name="quality", value=0.9, source=JUDGE),
        Feedback(name="helpful", value=True, source=JUDGE),
        Feedback(name="stale", value=False, source=JUDGE, valid=False),  # overridden
    ]
    failed = of_kind(run(trace), "assessment_failed")
    assert [f.evidence["assessment_name"] for f in failed] == ["correctness", "groundedness",
                                                               "relevance"]
    correctness = failed[0]
    assert correctness.severity == "medium" and correctness.span_id is None
    assert "not refunds" in correctness.message and "LLM_JUDGE gpt-4o" in correctness.message
    assert failed[2].span_id == span.span_id and failed[2].span_name == "retrieve"


def test_a_crashed_scorer_is_an_assessment_error_not_a_failure() -> None:
    trace = healthy_rag_trace()
    trace.info.assessments = [Feedback(
        name="safety", source=JUDGE,
        error=AssessmentError("TIMEOUT", "judge timed out after 30s", "stack"))]
    findings = run(trace)
    error = only(findings, "assessment_error")
    assert error.severity == "low" and of_kind(findings, "assessment_failed") == []
    assert "says nothing about the trace" in error.message
    assert "TIMEOUT: judge timed out after 30s" in error.message
    assert error.evidence["error_code"] == "TIMEOUT"


# --- ranking and options -----------------------------------------------------------------
def test_ranking_is_severity_then_kind_priority_then_time() -> None:
    def finding(kind: str, severity: str, start: int) -> Finding:
        return Finding(kind, severity, None, None, "M", {}, start)  # type: ignore[arg-type]

    ranked = rank_findings([finding("bottleneck", "low", 0), finding("retry", "medium", 5),
                            finding("gap", "medium", 1), finding("retry", "medium", 2),
                            finding("error_origin", "high", 9)])
    assert [(f.kind, f.start_time_ns) for f in ranked] == [
        ("error_origin", 9), ("retry", 2), ("retry", 5), ("gap", 1), ("bottleneck", 0)]
    assert KIND_PRIORITY.index("error_origin") < KIND_PRIORITY.index("retrieval_mismatch") \
        < KIND_PRIORITY.index("answer_mismatch")


def test_a_bad_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity must be one of high, medium, low"):
        Finding("gap", "critical", None, None, "M")  # type: ignore[arg-type]


def test_thresholds_can_be_tightened_one_at_a_time() -> None:
    trace = healthy_rag_trace()
    strict = Thresholds(answer_min_overlap=1.01)  # every question term must be answered
    assert "answer_mismatch" not in kinds(run(trace))
    assert "answer_mismatch" in kinds(run(trace, thresholds=strict))


def test_unfinished_spans_and_orphans_do_not_break_the_diagnosis() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, None, span_type="AGENT")  # still running
    b.add("plan", 1, 10, parent=root, span_type="CHAT_MODEL", outputs=completion("ok"))
    b.add("lost", 20, 30, parent="feedfacefeedface", span_type="TOOL",
          error="OSError: disk full")
    findings = run(b.trace(state="IN_PROGRESS"))
    assert only(findings, "error_origin").span_name == "lost"
