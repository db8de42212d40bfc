"""Write an MLflow tracking store with every trace feature, using the real ``mlflow`` package.

Run with the peer venv python (``python bench/_peer.py`` prints its path)::

    "$(python bench/_peer.py)" tests/data/make_mlflow_store.py URI [--expected OUT.json]
    "$(python bench/_peer.py)" tests/data/make_mlflow_store.py URI --bulk 10000

``URI`` is what MLflow tracks to: ``sqlite:///path/mlflow.db``, ``postgresql://…`` or a
running ``mlflow server``'s ``http://127.0.0.1:PORT``. The full store holds three
experiments (and a deleted one) with agent, RAG, streaming, error and legacy (spans in the
artifact store)
traces, every span type, token usage, sessions and users, tags, metadata, assessments of
every kind (feedback values and errors, expectations, overrides, span-level ones, an
issue reference) and two evaluation datasets. ``--expected`` writes what MLflow itself
reads back (``get_trace(id).to_dict()`` per trace, the datasets' records) for tests to
compare an import with. ``--bulk N`` instead writes N small traces (three spans, every
tenth with a feedback) into the experiment ``bulk`` through MLflow's batched
``log_spans``, for the import benchmark. The last
line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import mlflow
from mlflow.entities import AssessmentError, AssessmentSource, SpanEvent, SpanType
from mlflow.tracking import MlflowClient

JUDGE = AssessmentSource(source_type="LLM_JUDGE", source_id="openai:/gpt-4o-mini")
HUMAN = AssessmentSource(source_type="HUMAN", source_id="alice@example.com")


# --- the support agent: session, user, token usage, tool calls -------------------------------


@mlflow.trace(name="embed", span_type=SpanType.EMBEDDING)
def embed(text: str) -> list[float]:
    return [0.1, 0.2, 0.3]


@mlflow.trace(name="search_docs", span_type=SpanType.RETRIEVER)
def search_docs(query: str) -> list[dict]:
    embed(query)
    return [
        {"page_content": "Refunds take 5 days.", "metadata": {"doc_uri": "kb/refunds.md"},
         "id": "doc-1"},
        {"page_content": "Shipping takes 3 days.", "metadata": {"doc_uri": "kb/shipping.md"},
         "id": "doc-2"},
    ]


@mlflow.trace(name="rerank", span_type=SpanType.RERANKER)
def rerank(docs: list[dict]) -> list[dict]:
    span = mlflow.get_current_active_span()
    span.set_attributes({"custom.top_k": 1, "custom.model": "rerank-v2", "custom.ratio": 0.5,
                         "custom.flags": [True, False]})
    span.add_event(SpanEvent(name="cache_miss", attributes={"key": "refunds", "attempt": 1}))
    return docs[:1]


@mlflow.trace(name="chat", span_type=SpanType.CHAT_MODEL)
def chat(messages: list[dict], model: str = "gpt-4o-mini") -> dict:
    span = mlflow.get_current_active_span()
    span.set_attribute("mlflow.chat.tokenUsage",
                       {"input_tokens": 40, "output_tokens": 9, "total_tokens": 49})
    span.set_attribute("mlflow.llm.model", model)
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Refunds take 5 days."}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}}


@mlflow.trace(name="lookup_order", span_type=SpanType.TOOL)
def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped"}


@mlflow.trace(name="support_agent", span_type=SpanType.AGENT)
def support_agent(question: str, session: str, user: str, turn: int) -> str:
    mlflow.update_current_trace(
        tags={"env": "prod", "team": "support"},
        client_request_id=f"req-{session}-{turn}",
        session_id=session,
        user=user,
        metadata={"app_version": "2.1.0", "turn": str(turn)},
    )
    with mlflow.start_span(name="guard", span_type=SpanType.GUARDRAIL) as guard:
        guard.set_inputs({"text": question})
        guard.set_outputs({"allowed": True})
    docs = rerank(search_docs(question))
    lookup_order("o-17")
    out = chat([{"role": "system", "content": docs[0]["page_content"]},
                {"role": "user", "content": question}])
    return out["choices"][0]["message"]["content"]


# --- errors ------------------------------------------------------------------------------------


@mlflow.trace(name="flaky_tool", span_type=SpanType.TOOL)
def flaky_tool(query: str) -> str:
    raise TimeoutError("upstream timed out after 30s")


@mlflow.trace(name="plan", span_type=SpanType.CHAIN)
def plan(question: str) -> str:
    try:
        return flaky_tool(question)
    except TimeoutError:
        return "fallback"  # handled: the tool span is an error, the trace is not


@mlflow.trace(name="failing_agent", span_type=SpanType.AGENT)
def failing_agent(question: str) -> str:
    plan(question)
    raise ValueError(f"cannot answer {question!r}")


# --- RAG with a streamed answer ------------------------------------------------------------------


@mlflow.trace(name="stream_answer", span_type=SpanType.LLM)
def stream_answer(context: str) -> Iterator[str]:
    yield from ["Par", "is"]


@mlflow.trace(name="rag", span_type=SpanType.CHAIN)
def rag(query: str) -> str:
    with mlflow.start_span(name="parse", span_type=SpanType.PARSER) as span:
        span.set_inputs(query)
        span.set_outputs({"terms": query.split()})
    with mlflow.start_span(name="memory", span_type=SpanType.MEMORY) as span:
        span.set_outputs([])
    with mlflow.start_span(name="custom_step", span_type="MY_CUSTOM_TYPE") as span:
        span.set_attribute("custom.note", "a span type MLflow does not define")
    return "".join(stream_answer(query))


def _last() -> str:
    mlflow.flush_trace_async_logging()
    return mlflow.get_last_active_trace_id()


def _assess(support: list[str], error_id: str, rag_id: str) -> None:
    """Assessments of every kind MLflow 3.17 has."""
    first = support[0]
    correct = mlflow.log_feedback(trace_id=first, name="correctness", value=False,
                                  rationale="It said 5 days; policy says 7.", source=JUDGE)
    mlflow.override_feedback(trace_id=first, assessment_id=correct.assessment_id, value=True,
                             rationale="Policy changed to 5 days.", source=HUMAN)
    mlflow.log_feedback(trace_id=first, name="relevance", value=0.85, source=JUDGE,
                        metadata={"judge_version": "3"})
    mlflow.log_feedback(trace_id=first, name="tone", value="friendly", source=JUDGE)
    mlflow.log_feedback(trace_id=first, name="scores", value={"clarity": 4, "brevity": 5},
                        source=JUDGE)
    mlflow.log_feedback(trace_id=first, name="safety", source=JUDGE,
                        error=AssessmentError(error_code="RATE_LIMIT_EXCEEDED",
                                              error_message="judge rate limited"))
    try:
        raise TimeoutError("judge timed out")
    except TimeoutError as exc:
        mlflow.log_feedback(trace_id=first, name="groundedness", source=JUDGE, error=exc)
    mlflow.log_expectation(trace_id=first, name="expected_response",
                           value="Refunds take 5 days.", source=HUMAN)
    mlflow.log_expectation(trace_id=first, name="expected_facts", source=HUMAN,
                           value=["refunds", "5 days"])
    mlflow.log_expectation(trace_id=first, name="guidelines", source=HUMAN,
                           value={"tone": "polite", "max_words": 50})
    retrieve = mlflow.get_trace(first).search_spans(name="search_docs")[0]
    mlflow.log_feedback(trace_id=first, name="retrieval_relevance", value=True,
                        span_id=retrieve.span_id,
                        source=AssessmentSource(source_type="CODE", source_id="relevance.py"))
    mlflow.log_feedback(trace_id=support[1], name="correctness", value=True, source=JUDGE)
    mlflow.log_feedback(trace_id=error_id, name="user_frustration", value="high",
                        source=HUMAN, rationale="The agent failed twice.")
    store = mlflow.tracking._tracking_service.utils._get_store()
    experiment_id = mlflow.get_trace(rag_id).info.experiment_id
    issue = store.create_issue(experiment_id=experiment_id, name="slow streaming",
                               description="The streamed answer is slow.")
    mlflow.log_issue(trace_id=rag_id, issue_id=issue.issue_id, rationale="took 4s")


def _legacy_trace(experiment_id: str) -> str:
    """A trace whose spans sit in the artifact store (``traces.json``), as MLflow writes
    for stores without span logging: ``start_trace`` then ``_upload_trace_data``."""
    with mlflow.start_span(name="legacy_root", span_type=SpanType.CHAIN) as span:
        span.set_inputs({"q": "old"})
        span.set_outputs("from before spans were in the database")
    source = mlflow.get_trace(_last())
    old_hex = source.info.trace_id.removeprefix("tr-")
    client = MlflowClient()
    info = source.info
    info.trace_id = "tr-" + "0123456789abcdef" * 2
    info.tags = {k: v for k, v in info.tags.items()  # start_trace sets the artifact location
                 if k not in ("mlflow.trace.spansLocation", "mlflow.artifactLocation")}
    info.tags["mlflow.traceName"] = "legacy_root"
    info.trace_location.mlflow_experiment.experiment_id = experiment_id
    tracing = client._tracing_client
    returned = tracing.start_trace(info)
    data = mlflow.entities.TraceData.from_dict(json.loads(json.dumps(
        source.data.to_dict()).replace(old_hex, returned.trace_id.removeprefix("tr-"))))
    tracing._upload_trace_data(returned, data)
    return returned.trace_id


def _datasets(support_exp: str, eval_exp: str, support: list[str]) -> list[str]:
    from mlflow.genai import datasets

    qa = datasets.create_dataset(name="support_qa", experiment_id=[support_exp, eval_exp],
                                 tags={"owner": "alice", "stage": "draft"})
    qa.merge_records([
        {"inputs": {"question": "How long do refunds take?"},
         "expectations": {"expected_response": "5 days"}, "tags": {"topic": "refunds"}},
        {"inputs": {"question": "Where is my order?", "order_id": "o-17"},
         "expectations": {"expected_facts": ["shipped"]}, "outputs": {"answer": "Shipped."}},
    ])
    qa.merge_records([  # a second merge: one update, one insert
        {"inputs": {"question": "How long do refunds take?"},
         "expectations": {"guidelines": "mention the policy"}},
        {"inputs": {"question": "Can I change my address?"}, "tags": {"topic": "account"}},
    ])
    from_traces = datasets.create_dataset(name="from_traces", experiment_id=support_exp)
    from_traces.merge_records([mlflow.get_trace(t) for t in support[:2]])
    return [qa.dataset_id, from_traces.dataset_id]


def _experiment(name: str, artifacts: pathlib.Path | None) -> str:
    """Make ``name`` the active experiment, created with its artifacts under ``artifacts``."""
    if artifacts is not None and mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=(artifacts / name).as_uri())
    return mlflow.set_experiment(name).experiment_id


def full(expected: pathlib.Path | None, artifacts: pathlib.Path | None) -> dict[str, Any]:
    """Write the full-featured store; return (and optionally save) what MLflow reads back."""
    support_exp = _experiment("support-bot", artifacts)
    MlflowClient().set_experiment_tag(support_exp, "team", "support")
    support = []
    for turn, (session, user) in enumerate([("s-1", "u-1"), ("s-1", "u-1"), ("s-2", "u-2")]):
        support_agent(f"How long do refunds take? ({turn})", session, user, turn)
        support.append(_last())
    with contextlib.suppress(ValueError):  # the error is the point
        failing_agent("What breaks?")
    error_id = _last()
    mlflow.set_trace_tag(error_id, "triage", "needed")

    rag_exp = _experiment("rag-eval", artifacts)
    rag("capital of France")
    rag_id = _last()
    legacy_id = _legacy_trace(rag_exp)
    _assess(support, error_id, rag_id)
    dataset_ids = _datasets(support_exp, rag_exp, support)

    retired = _experiment("retired", artifacts)  # deleted: its trace is not imported
    with mlflow.start_span(name="old") as span:
        span.set_outputs("gone")
    _last()
    mlflow.delete_experiment(retired)

    mlflow.set_experiment("Default")
    with mlflow.start_span(name="hello") as span:
        span.set_inputs({"x": 1})
        span.set_outputs(2)
    default_id = _last()

    trace_ids = [*support, error_id, rag_id, legacy_id, default_id]
    summary: dict[str, Any] = {
        "experiments": {"support-bot": support_exp, "rag-eval": rag_exp},
        "trace_ids": trace_ids, "legacy_trace_id": legacy_id, "dataset_ids": dataset_ids,
    }
    if expected is not None:
        from mlflow.genai import datasets

        traces = {t: mlflow.get_trace(t).to_dict() for t in trace_ids}
        records = {}
        for dataset_id in dataset_ids:
            ds = datasets.get_dataset(dataset_id=dataset_id)
            records[ds.name] = {"tags": ds.tags, "experiment_ids": ds.experiment_ids,
                                "records": json.loads(ds.to_df().to_json(orient="records"))}
        expected.write_text(json.dumps({**summary, "traces": traces, "datasets": records},
                                       indent=1, default=str))
    return summary


def _template() -> dict[str, Any]:
    """One small agent trace written by MLflow, as its span dicts."""
    with mlflow.start_span(name="agent", span_type=SpanType.AGENT) as root:
        root.set_inputs({"question": "question 0"})
        mlflow.update_current_trace(session_id="s-0", metadata={"i": "0"})
        with mlflow.start_span(name="retrieve", span_type=SpanType.RETRIEVER) as span:
            span.set_inputs({"query": "q0"})
            span.set_outputs([{"page_content": "text", "id": "d0"}])
        with mlflow.start_span(name="llm", span_type=SpanType.CHAT_MODEL) as span:
            span.set_inputs({"messages": [{"role": "user", "content": "question 0"}]})
            span.set_attribute("mlflow.chat.tokenUsage",
                               {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25})
            span.set_outputs({"content": "answer 0"})
        root.set_outputs("answer 0")
    return mlflow.get_trace(_last()).to_dict()


def bulk(count: int, batch: int = 500) -> dict[str, Any]:
    """``count`` small traces (three spans) in the experiment ``bulk``, every tenth with a
    feedback. Written as MLflow's exporter does (``log_spans``), but many traces per call:
    one ``@mlflow.trace`` call per trace runs at about 3 traces/s on this machine."""
    import base64
    import random

    from mlflow.entities import Span

    experiment_id = mlflow.set_experiment("bulk").experiment_id
    template = _template()
    old_hex = template["info"]["trace_id"].removeprefix("tr-")
    old_b64 = base64.b64encode(bytes.fromhex(old_hex)).decode()
    text = json.dumps(template["data"]["spans"])
    store = mlflow.tracking._tracking_service.utils._get_store()
    rng = random.Random(7)
    trace_ids: list[str] = []
    for start in range(1, count, batch):
        spans = []
        for i in range(start, min(start + batch, count)):
            new_hex = f"{rng.getrandbits(128):032x}"
            copied = (text.replace(old_hex, new_hex)
                      .replace(old_b64, base64.b64encode(bytes.fromhex(new_hex)).decode())
                      .replace("question 0", f"question {i}").replace("answer 0", f"answer {i}"))
            for span in json.loads(copied):
                span["start_time_unix_nano"] += i * 1_000_000
                span["end_time_unix_nano"] += i * 1_000_000
                spans.append(Span.from_dict(span))
            trace_ids.append("tr-" + new_hex)
        store.log_spans(experiment_id, spans)
    for i, trace_id in enumerate(trace_ids):
        if i % 10 == 0:
            mlflow.log_feedback(trace_id=trace_id, name="quality", value=i % 3 != 0,
                                source=JUDGE)
    return {"bulk": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri")
    parser.add_argument("--expected", type=pathlib.Path)
    parser.add_argument("--bulk", type=int)
    parser.add_argument("--artifacts", type=pathlib.Path,
                        help="artifact root of new experiments (default: the server's, or "
                             "mlruns/ beside a sqlite file)")
    args = parser.parse_args()
    artifacts = args.artifacts
    if artifacts is None and args.uri.startswith("sqlite:///"):
        artifacts = pathlib.Path(args.uri.removeprefix("sqlite:///")).resolve().parent / "mlruns"
    mlflow.set_tracking_uri(args.uri)
    with tempfile.TemporaryDirectory(prefix="spanscope-mlflow-store-") as tmp:
        os.chdir(tmp)  # whatever MLflow writes relative to the working directory stays out
        result = bulk(args.bulk) if args.bulk else full(args.expected, artifacts)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
