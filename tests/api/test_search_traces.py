"""``spanscope.search_traces``: filters, order_by, pages, the DataFrame and its extra columns."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import spanscope
from factories import make_trace
from spanscope import tracking
from spanscope.api.dataframe import DATAFRAME_COLUMNS
from spanscope.entities import Feedback, Span, Trace
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.query import filter_traces, parse_order_by, sort_traces
from spanscope.testing import reset_tracing

T0 = 1_700_000_000_000


@pytest.fixture(autouse=True)
def uri(request: pytest.FixtureRequest, store_uri: str) -> Iterator[str]:
    reset_tracing()
    spanscope.set_tracking_uri(store_uri)
    yield store_uri
    reset_tracing()


def _traces(n: int = 12) -> list[Trace]:
    traces = []
    for i in range(n):
        tags = {"env": "prod" if i % 3 else "dev", "quality_score": f"0.{i % 10}5"}
        if i % 4 == 0:
            tags["reviewed"] = "yes"
        assessments = [Feedback(name="correctness", value=i % 2 == 0, create_time_ms=T0)]
        traces.append(make_trace(4, request_time=T0 + (i // 2) * 1000, tags=tags,
                                 question=f"question {i}", assessments=assessments,
                                 state="ERROR" if i == 5 else "OK"))
    tracking.get_store().log_traces(traces)
    return traces


def test_columns_types_and_rows() -> None:
    traces = _traces()
    frame = spanscope.search_traces(filter_string="tags.env = 'prod'")
    expected = sort_traces(filter_traces("tags.env = 'prod'", traces))
    assert list(frame["trace_id"]) == [t.info.trace_id for t in expected]
    assert list(frame.columns) == [*DATAFRAME_COLUMNS, "tags.env"]
    first = frame.iloc[0]
    assert isinstance(first["trace"], Trace) and first["trace"].info.trace_id == first["trace_id"]
    assert first["state"] == "OK" and isinstance(first["state"], str)
    assert first["status"] == first["state"] and first["request_id"] == first["trace_id"]
    assert str(frame["request_time"].dtype) == "Int64"
    assert str(frame["execution_duration"].dtype) == "Int64"
    assert first["request"] == {"question": first["trace"].data.spans[0].inputs["question"]}
    assert first["response"] == {"answer": "The capital of France is Paris."}
    assert isinstance(first["spans"], list) and len(first["spans"]) == 4
    assert first["assessments"][0]["assessment_name"] == "correctness"
    assert list(frame["tags.env"]) == ["prod"] * len(expected)
    assert frame.attrs["next_page_token"] is None


def test_filter_fields_become_columns_numeric_when_compared_as_numbers() -> None:
    traces = _traces()
    text = ("tag.quality_score < 0.6 AND (feedback.correctness = TRUE OR "
            "metadata.`mlflow.trace_schema.version` = '3') AND tags.reviewed IS NOT NULL")
    frame = spanscope.search_traces(filter_string=text)
    expected = sort_traces(filter_traces(text, traces))
    assert list(frame["trace_id"]) == [t.info.trace_id for t in expected]
    assert str(frame["tag.quality_score"].dtype) == "Float64"
    assert list(frame["tag.quality_score"]) == [
        float(t.info.tags["quality_score"]) for t in expected]
    assert list(frame["feedback.correctness"]) == [t.info.assessments[0].value for t in expected]
    assert list(frame["metadata.`mlflow.trace_schema.version`"]) == ["3"] * len(expected)
    assert list(frame["tags.reviewed"]) == ["yes"] * len(expected)


def test_extract_fields() -> None:
    (trace,) = [make_trace(5, request_time=T0, question="Where is Paris?",
                           tags={"env": "prod"}, metadata={"team": "search"})]
    tracking.get_store().log_traces([trace])
    fields = ["retrieve_2.inputs.query", "retrieve_2.outputs.1.id", "retrieve_2.outputs",
              "ChatOpenAI_1.attributes.mlflow.chat.tokenUsage.input_tokens",
              "ChatOpenAI_1.attributes.`mlflow.llm.model`", "agent.inputs",
              "span.outputs.answer", "span.inputs.top_k", "agent.duration_ms",
              "agent.start_time", "agent.end_time", "tags.env", "metadata.team",
              "nope.inputs", "agent.inputs.missing", "tags.missing"]
    frame = spanscope.search_traces(extract_fields=fields)
    row = frame.iloc[0]
    spans = {s.name: s for s in trace.data.spans}
    root: Span = spans["agent"]
    assert list(frame.columns)[-len(fields):] == fields
    assert row["retrieve_2.inputs.query"] == "Where is Paris?"
    assert row["retrieve_2.outputs.1.id"] == "doc-1"
    assert row["retrieve_2.outputs"] == spans["retrieve_2"].outputs
    assert row["ChatOpenAI_1.attributes.mlflow.chat.tokenUsage.input_tokens"] == 120
    assert row["ChatOpenAI_1.attributes.`mlflow.llm.model`"] == "gpt-4o-mini"
    assert row["agent.inputs"] == {"question": "Where is Paris?"}
    # the first span in start order where the path resolves: the root, not parse_answer_4
    assert row["span.outputs.answer"] == "The capital of France is Paris."
    assert row["span.inputs.top_k"] == 3
    assert row["agent.duration_ms"] == pytest.approx(root.duration_ns / 1e6)
    assert row["agent.start_time"] == root.start_time_ns // 1_000_000
    assert row["agent.end_time"] == root.end_time_ns // 1_000_000
    assert (row["tags.env"], row["metadata.team"]) == ("prod", "search")
    for absent in ("nope.inputs", "agent.inputs.missing", "tags.missing"):
        assert row[absent] is None


@pytest.mark.parametrize("bad", ["agent", "agent.bogus", "agent.start_time.x", "tags",
                                 "AND", "agent.inputs.'x'", "`unclosed.inputs", 5])
def test_bad_extract_field_is_invalid_input(bad: object) -> None:
    _traces(2)
    with pytest.raises(InvalidInputError, match="extract field"):
        spanscope.search_traces(extract_fields=[bad])  # type: ignore[list-item]


def test_extract_fields_need_spans_and_a_dataframe() -> None:
    _traces(2)
    with pytest.raises(InvalidInputError, match="include_spans=True"):
        spanscope.search_traces(extract_fields=["agent.inputs"], include_spans=False)
    with pytest.raises(InvalidInputError, match="return_type='pandas'"):
        spanscope.search_traces(extract_fields=["tags.env"], return_type="list")
    frame = spanscope.search_traces(extract_fields=["tags.env"], include_spans=False)
    assert set(frame["tags.env"]) == {"prod", "dev"}


@pytest.mark.parametrize("order_by", [None, ["timestamp ASC"], ["tags.quality_score DESC"],
                                      ["execution_time", "tags.env DESC"]])
@pytest.mark.parametrize("return_type", ["list", "pandas"])
def test_pages_with_filter_and_order_cover_the_full_result(order_by: list[str] | None,
                                                           return_type: str) -> None:
    traces = _traces()
    text = "tags.env = 'prod' OR attributes.state = 'ERROR'"
    expected = [t.info.trace_id for t in sort_traces(filter_traces(text, traces),
                                                     parse_order_by(order_by))]
    whole = spanscope.search_traces(filter_string=text, order_by=order_by, return_type="list")
    assert [t.info.trace_id for t in whole] == expected
    found, token = [], None
    while True:
        page = spanscope.search_traces(filter_string=text, order_by=order_by, max_results=3,
                                       page_token=token, return_type=return_type)
        if return_type == "list":
            found += [t.info.trace_id for t in page]
            token = page.token
        else:
            assert isinstance(page, pd.DataFrame)
            found += list(page["trace_id"])
            token = page.attrs["next_page_token"]
        if token is None:
            break
    assert found == expected


def test_max_results_none_reads_every_page() -> None:
    store = tracking.get_store()
    store.log_traces([make_trace(1, request_time=T0 + i, tags={"k": str(i % 2)})
                      for i in range(1203)])
    found = spanscope.search_traces(filter_string="tags.k = '1'", return_type="list",
                                    include_spans=False)
    assert len(found) == 601 and found.token is None
    assert len(spanscope.search_traces(filter_string="tags.k = '1'", max_results=700,
                                       return_type="list", include_spans=False)) == 601


def test_bad_filter_and_arguments() -> None:
    _traces(2)
    with pytest.raises(FilterError, match=r"Invalid filter \"tags.env = \" at position 11"):
        spanscope.search_traces(filter_string="tags.env = ")
    with pytest.raises(FilterError, match="order_by"):
        spanscope.search_traces(order_by=["span.name"])
    with pytest.raises(InvalidInputError, match="max_results"):
        spanscope.search_traces(max_results=0)
    with pytest.raises(InvalidInputError, match="return_type"):
        spanscope.search_traces(return_type="polars")  # type: ignore[arg-type]


def test_searches_the_active_experiment_by_default() -> None:
    _traces(3)
    spanscope.set_experiment("other")
    (other,) = [make_trace(1, experiment_id=tracking.get_experiment_id(), tags={"env": "prod"})]
    tracking.get_store().log_traces([other])
    found = spanscope.search_traces(filter_string="tags.env = 'prod'", return_type="list")
    assert [t.info.trace_id for t in found] == [other.info.trace_id]
    assert len(spanscope.search_traces(["0"], filter_string="tags.env IS NOT NULL",
                                       return_type="list")) == 3
