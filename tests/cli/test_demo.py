"""``spanscope demo`` end to end: what it writes to a real SQLite store, and what it prints."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

import spanscope
from spanscope.cli.main import cli
from spanscope.demo import run_demo
from spanscope.entities import Span, SpanStatusCode, Trace, TraceState, span_token_usage

APP_ERROR_TYPES = {"LLMTimeoutError", "RateLimitError", "OrderNotFoundError",
                   "InvalidOrderIdError"}
Reader = Callable[..., list[Trace]]


def _children(trace: Trace, parent: Span) -> list[Span]:
    return sorted((s for s in trace.data.spans if s.parent_id == parent.span_id),
                  key=lambda s: s.start_time_ns)


def _exception_types(trace: Trace) -> set[str]:
    return {str(e.attributes.get("exception.type", "")).rsplit(".", 1)[-1]
            for s in trace.data.spans for e in s.events if e.name == "exception"}


def test_demo_writes_exactly_n_traces_of_one_run(demo_db: tuple[str, str],
                                                 read_traces: Reader) -> None:
    uri, _ = demo_db
    traces = read_traces(uri)
    assert len(traces) == 40
    assert len({t.info.tags["demo_run"] for t in traces}) == 1
    assert sorted(t.info.client_request_id for t in traces) == sorted(
        f"req-{i}" for i in range(1, 41))


def test_every_trace_has_the_agent_structure(demo_db: tuple[str, str],
                                             read_traces: Reader) -> None:
    uri, _ = demo_db
    for trace in read_traces(uri):
        root = trace.data.root_span
        assert root is not None and root.name == "support_agent"
        assert root.span_type == "AGENT"
        assert set(root.inputs) == {"question", "user_tier", "history"}
        assert trace.info.tags["mlflow.traceName"] == "support_agent"
        children = _children(trace, root)
        assert children[0].name == "plan" and children[0].span_type == "CHAT_MODEL"
        info = trace.info
        assert info.tags["environment"] in {"prod", "staging"}
        assert info.tags["app_version"] in {"1.4.0", "1.5.0-beta"}
        assert info.tags["user_tier"] in {"free", "pro", "enterprise"}
        assert info.tags["user_tier"] == root.inputs["user_tier"]
        assert re.fullmatch(r"s-1-\d{5}", info.session_id or "")
        assert re.fullmatch(r"u-\d{4}", info.user_id or "")
        if info.state == TraceState.OK:
            kinds = [s.span_type for s in children]
            assert "RETRIEVER" in kinds
            assert children[-1].name == "chat" and children[-1].span_type == "CHAT_MODEL"
            assert isinstance(root.outputs, str) and root.outputs.startswith("Thanks")


def test_retriever_spans_return_scored_documents(demo_db: tuple[str, str],
                                                 read_traces: Reader) -> None:
    uri, _ = demo_db
    retrievers = [s for t in read_traces(uri) for s in t.search_spans(span_type="RETRIEVER")]
    assert len(retrievers) >= 30
    for span in retrievers:
        assert span.name == "search_knowledge_base"
        assert isinstance(span.inputs["query"], str)
        docs = span.outputs
        assert 1 <= len(docs) <= 3
        scores = [d["metadata"]["score"] for d in docs]
        assert scores == sorted(scores, reverse=True) and all(0 < x <= 1 for x in scores)
        for doc in docs:
            assert doc["page_content"] and doc["metadata"]["doc_uri"].startswith("kb://faq/")


def test_chat_spans_carry_openai_completions_and_token_usage(demo_db: tuple[str, str],
                                                             read_traces: Reader) -> None:
    uri, _ = demo_db
    for trace in read_traces(uri):
        usages = []
        for span in trace.search_spans(span_type="CHAT_MODEL"):
            assert span.inputs["model"] == "sim-chat-1" and span.inputs["messages"]
            if span.status.status_code == SpanStatusCode.ERROR:
                assert span.outputs is None
                continue
            completion = span.outputs
            assert completion["choices"][0]["message"]["role"] == "assistant"
            usage = span_token_usage(span)
            assert usage is not None and usage["total_tokens"] > 20
            assert usage["total_tokens"] == completion["usage"]["total_tokens"]
            usages.append(usage)
        if usages:  # the trace total is the sum over its successful LLM calls
            assert trace.info.token_usage is not None
            assert trace.info.token_usage["total_tokens"] == sum(
                u["total_tokens"] for u in usages)


def test_spans_are_really_timed_and_sequential(demo_db: tuple[str, str],
                                               read_traces: Reader) -> None:
    """Children run one after another inside the root; durations come from the clock."""
    uri, _ = demo_db
    for trace in read_traces(uri):
        root = trace.data.root_span
        assert root is not None and root.end_time_ns is not None
        children = _children(trace, root)
        for earlier, later in itertools.pairwise(children):
            assert earlier.end_time_ns <= later.start_time_ns
        for child in children:
            assert root.start_time_ns <= child.start_time_ns <= child.end_time_ns
            assert child.end_time_ns <= root.end_time_ns
        # an LLM call sleeps at least its time to first token (350 ms / 500)
        for span in trace.search_spans(span_type="CHAT_MODEL"):
            if span.status.status_code != SpanStatusCode.ERROR:
                assert span.duration_ns >= 0.5e6
        assert abs(trace.info.execution_duration - root.duration_ns / 1e6) <= 1


def test_summary_is_computed_from_the_store(demo_db: tuple[str, str],
                                            read_traces: Reader) -> None:
    uri, out = demo_db
    infos = [t.info for t in read_traces(uri, include_spans=False)]
    errors = sum(i.state == TraceState.ERROR for i in infos)
    assert re.search(r"Traces\s+40\b", out)
    assert re.search(rf"Errors\s+{errors} \({errors / 40:.1%}\)", out)
    tokens = sum(i.token_usage["total_tokens"] for i in infos if i.token_usage)
    assert f"{tokens:,} /" in out
    assert re.search(r"Latency p50 / p95\s+[\d.]+ ms / [\d.]+ ms", out)
    assert re.search(r"Dropped by the SDK\s+0\b", out)
    assert "1.4.0" in out and "What to run next" in out
    assert f"--tracking-uri {uri} traces list" in out
    assert f"--tracking-uri {uri} report --group-by tags.app_version" in out
    assert f"--tracking-uri {uri} ui" in out
    suggested = re.search(r"traces analyze (tr-[0-9a-f]{32})", out)
    if errors:
        assert suggested is not None
        assert spanscope.get_trace(suggested.group(1)).info.state == TraceState.ERROR


def test_failed_requests_end_as_error_traces_with_the_exception(
        tmp_path: Path, read_traces: Reader) -> None:
    uri = f"sqlite:///{tmp_path}/errors.db"
    spanscope.set_tracking_uri(uri)
    result = run_demo(200, seed=0)
    assert result.flushed and result.dropped == 0
    assert 0.02 <= result.errors / 200 <= 0.10, result.errors
    kinds = Counter(r.error for r in result.records if r.error)
    assert set(kinds) <= APP_ERROR_TYPES and len(kinds) >= 2, kinds
    by_id = {t.info.trace_id: t for t in read_traces(uri)}
    assert len(by_id) == 200 and set(by_id) == set(result.trace_ids)
    recovered = 0
    for record in result.records:
        trace = by_id[record.trace_id]
        assert str(trace.info.state) == record.state
        assert trace.info.client_request_id == record.client_request_id
        if record.error:
            assert trace.data.root_span.status.status_code == SpanStatusCode.ERROR
            assert record.error in _exception_types(trace)
        elif any(s.status.status_code == SpanStatusCode.ERROR for s in trace.data.spans):
            recovered += 1  # a retried rate limit or an unavailable account service
    assert recovered >= 1


def test_rate_limited_calls_show_as_sibling_attempts(tmp_path: Path,
                                                     read_traces: Reader) -> None:
    uri = f"sqlite:///{tmp_path}/retries.db"
    spanscope.set_tracking_uri(uri)
    run_demo(300, seed=2, time_scale=0.0)
    retried = 0
    for trace in read_traces(uri):
        root = trace.data.root_span
        for name in ("plan", "chat"):
            attempts = [s for s in _children(trace, root) if s.name == name]
            if len(attempts) < 2:
                continue
            retried += 1
            assert [s.attributes["attempt"] for s in attempts] == list(
                range(1, len(attempts) + 1))
            for failed in attempts[:-1]:
                assert failed.status.status_code == SpanStatusCode.ERROR
                assert any(e.name == "exception" for e in failed.events)
    assert retried >= 3


def test_some_refund_questions_retrieve_the_shipping_faq(tmp_path: Path,
                                                         read_traces: Reader) -> None:
    uri = f"sqlite:///{tmp_path}/retrieval.db"
    spanscope.set_tracking_uri(uri)
    run_demo(600, seed=0, time_scale=0.0)
    refund, wrong = 0, []
    for trace in read_traces(uri):
        question = trace.data.root_span.inputs["question"]
        if not re.search(r"refund|money back", question, re.IGNORECASE):
            continue
        retrievals = trace.search_spans(span_type="RETRIEVER")
        if not retrievals:
            continue
        refund += 1
        if retrievals[0].outputs[0]["id"] == "shipping":
            wrong.append(trace)
    assert refund > 50
    assert 0.01 <= len(wrong) / refund <= 0.2, (len(wrong), refund)
    answered = [t for t in wrong if t.info.state == TraceState.OK]
    assert answered, "a wrong retrieval should still produce an answer"
    for trace in answered:  # ... an answer about shipping, not refunds
        assert "delivery" in trace.data.root_span.outputs
        assert "refund" not in trace.data.root_span.outputs.lower()


def test_same_seed_same_questions_and_states(tmp_path: Path, read_traces: Reader) -> None:
    def run(seed: int, name: str) -> list[tuple]:
        uri = f"sqlite:///{tmp_path}/{name}.db"
        result = CliRunner().invoke(cli, ["--tracking-uri", uri, "demo", "--traces", "25",
                                          "--seed", str(seed), "--no-progress"])
        assert result.exit_code == 0, result.output
        traces = read_traces(uri, include_spans=False)
        traces.sort(key=lambda t: int(t.info.client_request_id.split("-")[1]))
        return [(t.info.client_request_id, t.info.request_preview, str(t.info.state),
                 t.info.session_id, t.info.user_id, t.info.tags["app_version"],
                 t.info.tags["environment"], t.info.tags["user_tier"]) for t in traces]

    first, again, other = run(5, "a"), run(5, "b"), run(6, "c")
    assert first == again
    assert [row[1] for row in first] != [row[1] for row in other]


def test_experiment_option_writes_into_that_experiment(tmp_path: Path,
                                                       runner: CliRunner) -> None:
    uri = f"sqlite:///{tmp_path}/exp.db"
    result = runner.invoke(cli, ["--tracking-uri", uri, "demo", "--traces", "5",
                                 "--experiment", "support-bot", "--no-progress"])
    assert result.exit_code == 0, result.output
    match = re.search(r"traces list --experiment-id (\S+)", result.stdout)
    assert match is not None
    listed = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-o", "json",
                                 "--experiment-id", match.group(1)])
    assert listed.exit_code == 0 and listed.stdout.count('"trace_id"') == 5
    default = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-o", "json"])
    assert default.exit_code == 0 and default.stdout.strip() == "[]"


def test_progress_bar_goes_to_stderr(tmp_path: Path, runner: CliRunner) -> None:
    uri = f"sqlite:///{tmp_path}/progress.db"
    result = runner.invoke(cli, ["--tracking-uri", uri, "demo", "--traces", "5"])
    assert result.exit_code == 0, result.output
    assert "Running the support agent" in result.stderr
    assert "Running the support agent" not in result.stdout
