"""The UI's view decisions, without a browser: payload kinds, list rows, quick filters."""

from __future__ import annotations

import pytest
from tests.factories import make_trace

from spanscope.entities import Feedback
from spanscope.query import parse_filter
from spanscope.server.ui import views


def test_chat_messages_in_every_common_shape() -> None:
    plain = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    for value in (plain, {"messages": plain}):
        payload = views.payload_view(value)
        assert payload is not None and payload.kind == "chat"
        assert [m.role for m in payload.messages] == ["system", "user"]
    completion = {"choices": [{"message": {"role": "assistant", "content": None,
                                           "tool_calls": [{"function": {
                                               "name": "lookup", "arguments": "{\"id\": 1}"}}]}}]}
    payload = views.payload_view(completion)
    assert payload is not None and payload.kind == "chat"
    assert payload.messages[0].tool_calls == ['lookup({"id": 1})']
    parts = {"role": "assistant", "content": [{"type": "text", "text": "Refunds take 5 days."}]}
    assert views.payload_view(parts).messages[0].content == "Refunds take 5 days."


def test_documents_with_scores_and_plain_json() -> None:
    docs = views.payload_view([{"doc": "Shipping takes 3-5 days", "score": 0.82},
                               {"page_content": "Refunds", "metadata": {"doc_uri": "faq-7"}}])
    assert docs is not None and docs.kind == "documents"
    assert docs.documents[0] == {"text": "Shipping takes 3-5 days", "score": 0.82, "id": None}
    assert docs.documents[1]["id"] == "faq-7"
    other = views.payload_view({"query": "refund policy", "k": 3})
    assert other is not None and other.kind == "json" and '"k": 3' in other.json
    assert views.payload_view("a plain answer").kind == "text"
    assert views.payload_view(None) is None
    assert views.payload_view([{"role": 1}]).kind == "json"  # not messages after all


def test_quick_filters_combine_with_the_typed_filter() -> None:
    text = views.combine_filters("tags.env = 'prod' OR tags.env = 'dev'", state="ERROR",
                                 since="1h", span_type="RETRIEVER", now_ms=10_000_000)
    assert text == ("(tags.env = 'prod' OR tags.env = 'dev') AND attributes.status = 'ERROR' "
                    "AND attributes.timestamp_ms >= 6400000 AND span.type = 'RETRIEVER'")
    parse_filter(text)  # it is a valid filter
    assert views.combine_filters("  ", now_ms=0) is None
    assert views.combine_filters(None, state="BOGUS", since="1y", span_type="x' OR '1",
                                 now_ms=0) is None  # unknown choices are ignored, never pasted


def test_a_list_row_has_the_columns_the_list_shows() -> None:
    trace = make_trace(tags={"env": "prod"}, user_id="u-1", session_id="s-1")
    trace.info.assessments = [
        Feedback(name="correctness", value=False, trace_id=trace.info.trace_id),
        Feedback(name="old", value=True, trace_id=trace.info.trace_id, valid=False)]
    row = views.list_row(trace.info)
    assert row.trace_id == trace.info.trace_id and row.tags["env"] == "prod"
    assert (row.user, row.session) == ("u-1", "s-1")
    assert row.assessments == {"correctness": "false"}  # overridden ones are not shown
    assert views.assessment_columns([row, row]) == ["correctness"]


def test_the_list_a_trace_page_came_from() -> None:
    back = "/?experiment_id=3&filter=tags.a+%3D+%27b%27&state=ERROR&order=duration"
    assert views.list_from_back(back) == {
        "experiment_id": "3", "filter": "tags.a = 'b'", "state": "ERROR", "since": "",
        "from": "", "to": "", "span_type": "", "order": "duration"}
    assert views.list_from_back("/?order=sideways")["order"] == "time"
    assert views.list_from_back("/") is None
    assert views.list_from_back("https://elsewhere/?filter=x") is None


def test_an_evaluation_table_reads_scores_by_name() -> None:
    body = {"columns": ["inputs", "outputs", "trace_id", "match/value", "match/rationale",
                        "match/error"],
            "data": [[{"q": 1}, "a", "tr-1", True, "same", None],
                     [{"q": 2}, "b", None, False, None, None]]}
    table = views.evaluation_table(body, limit=1)
    assert table.scores == ["match"] and table.total == 2 and len(table.rows) == 1
    assert table.rows[0]["scores"]["match"] == {"value": True, "rationale": "same",
                                                "error": None}
    assert views.compact_json({"q": "x" * 400}, 20).endswith("…")


def test_the_top_of_a_big_tree_is_the_top_of_the_whole_tree() -> None:
    from spanscope.analysis.trace_view import waterfall_rows

    trace = make_trace(40, state="ERROR")
    assert waterfall_rows(trace, limit=7) == waterfall_rows(trace)[:7]
    assert len(waterfall_rows(trace, limit=100)) == 40


def test_neighbours_slowest_first_walk_past_traces_in_progress(tmp_path) -> None:
    """Missing durations sort last in both directions: previous and next still walk the
    list "slowest first" one trace at a time, in-progress traces at its end."""
    import dataclasses

    from spanscope.entities import TraceState
    from spanscope.server.ui.pages import _neighbours
    from spanscope.store.sql import SqlStore

    traces = [make_trace(n) for n in (2, 4, 6)]  # 7 ms a child: durations differ
    running = [make_trace(2, request_time=1_700_000_000_000 + i) for i in range(2)]
    for trace in running:
        trace.info = dataclasses.replace(trace.info, state=TraceState.IN_PROGRESS,
                                         execution_duration=None)
    with SqlStore(f"sqlite:///{tmp_path}/n.db") as store:
        store.log_traces(traces + running)
        ordered = [t.info.trace_id for t in store.search_traces(
            ["0"], order_by=["execution_time DESC"], include_spans=False)]
        assert set(ordered[3:]) == {t.info.trace_id for t in running}
        params = {"experiment_id": "0", "filter": "", "state": "", "since": "",
                  "span_type": "", "order": "duration"}
        walked = [_neighbours(store, trace_id, params) for trace_id in ordered]
    assert [w["next"] for w in walked] == [*ordered[1:], None]
    assert [w["previous"] for w in walked] == [None, *ordered[:-1]]


def test_a_trace_page_lists_a_few_findings_of_each_kind_first() -> None:
    from spanscope.analysis.findings import Finding

    def finding(kind: str, n: int) -> Finding:
        return Finding(kind=kind, severity="high", span_id=f"s{n}", span_name="x",
                       message=f"{kind} {n}")

    findings = [finding("retrieval_mismatch", n) for n in range(30)] + [
        finding("gap", n) for n in range(3)] + [finding("bottleneck", 0)]
    shown, left = views.first_findings(findings, limit=8, per_kind=5)
    assert [f.kind for f in shown] == ["retrieval_mismatch"] * 5 + ["gap"] * 3
    assert left == [("retrieval_mismatch", 25), ("bottleneck", 1)]
    assert views.first_findings(findings[:2], limit=8) == (findings[:2], [])


def test_a_custom_range_is_a_trace_timestamp_condition() -> None:
    from spanscope.exceptions import InvalidInputError

    params = {"filter": "tags.a = 'b'", "from": "2026-12-04T09:00", "to": "2026-12-04T10:00"}
    combined = views.list_filter(params, now_ms=0)
    start, end = 1_796_374_800_000, 1_796_378_400_000  # 09:00 and 10:00 UTC
    assert combined == (f"(tags.a = 'b') AND trace.timestamp >= {start} AND "
                        f"trace.timestamp < {end}")
    parse_filter(combined)
    assert views.list_filter({"to": "2026-12-04"}, now_ms=0) == \
        "trace.timestamp < 1796342400000"  # a date alone: its midnight
    for bad in ({"from": "yesterday"}, {"from": "2026-12-04T10:00", "to": "2026-12-04T09:00"}):
        with pytest.raises(InvalidInputError):
            views.list_filter(bad, now_ms=0)


def test_a_cost_is_a_price_or_unpriced_never_zero() -> None:
    from spanscope.analysis.pricing import CostTotal

    assert views.cost_text(None) == ("", None)
    assert views.cost_text(CostTotal(cost=0.00042, calls=2)) == ("$0.0004", None)
    assert views.cost_text(CostTotal(cost=12.5, calls=9))[0] == "$12.50"
    text, note = views.cost_text(CostTotal(cost=None, calls=1, unpriced_calls=1,
                                           unpriced_tokens=150,
                                           unpriced_models=["in-house-llm-7"]))
    assert text == "unpriced" and "in-house-llm-7" in note and "150 tokens" in note
    mixed = CostTotal(cost=0.002, calls=3, unpriced_calls=1, unpriced_models=["x"])
    assert views.cost_text(mixed)[0] == "$0.0020 + unpriced"
