"""``profile_trace`` (and ``profile(trace)``): per type and per name timing of one trace."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from analysis_builders import TraceBuilder

from spanscope.analysis import ProfileRow, TraceProfile, profile, profile_trace
from spanscope.entities import Trace


def known_trace() -> Trace:
    b = TraceBuilder()
    root = b.add("agent", 0, 100, span_type="AGENT")
    b.add("plan", 0, 10, parent=root, span_type="CHAT_MODEL")
    b.add("retrieve", 10, 20, parent=root, span_type="RETRIEVER")
    b.add("chat", 20, 50, parent=root, span_type="CHAT_MODEL")
    b.add("chat", 60, 100, parent=root, span_type="CHAT_MODEL", error="TimeoutError: slow")
    b.add("stream", 95, None, parent=root, span_type="TOOL")  # unfinished: left out
    return b.trace()


def row(rows: list[ProfileRow], key: str) -> ProfileRow:
    return next(r for r in rows if r.key == key)


def test_rows_per_type_with_known_numbers() -> None:
    result = profile_trace(known_trace())
    assert result.duration_ms == 100.0
    assert [r.key for r in result.by_type] == ["AGENT", "CHAT_MODEL", "RETRIEVER"]
    chat = row(result.by_type, "CHAT_MODEL")
    assert (chat.count, chat.total_ms, chat.mean_ms, chat.p50_ms, chat.p95_ms) == (
        3, 80.0, pytest.approx(26.667, abs=1e-3), 30.0, pytest.approx(39.0))
    assert (chat.share, chat.self_ms, chat.self_share, chat.errors) == (0.8, 80.0, 0.8, 1)
    agent = row(result.by_type, "AGENT")
    assert (agent.total_ms, agent.share, agent.self_ms, agent.self_share) == (
        100.0, 1.0, 10.0, 0.1)
    # each moment counted once: self shares add up to the whole trace
    assert sum(r.self_share for r in result.by_type) == pytest.approx(1.0)


def test_rows_per_name_sorted_by_total() -> None:
    result = profile_trace(known_trace())
    assert [(r.key, r.count, r.total_ms) for r in result.by_name] == [
        ("agent", 1, 100.0), ("chat", 2, 70.0), ("plan", 1, 10.0), ("retrieve", 1, 10.0)]
    chat = row(result.by_name, "chat")
    assert (chat.mean_ms, chat.p50_ms, chat.p95_ms, chat.share, chat.errors) == (
        35.0, 35.0, 39.5, 0.7, 1)


def test_percentiles_agree_with_numpy() -> None:
    rng = random.Random(7)
    b = TraceBuilder()
    root = b.add("agent", 0, 10_000, span_type="AGENT")
    durations = [rng.uniform(0.5, 90.0) for _ in range(57)]
    for i, duration in enumerate(durations):
        start = 100 * i
        b.add("step", start, start + duration, parent=root, span_type="TOOL")
    step = row(profile_trace(b.trace()).by_name, "step")
    assert step.count == 57
    assert step.total_ms == pytest.approx(sum(durations), abs=1e-2)
    assert step.p50_ms == pytest.approx(float(np.percentile(durations, 50)), abs=1e-3)
    assert step.p95_ms == pytest.approx(float(np.percentile(durations, 95)), abs=1e-3)
    assert step.share == pytest.approx(sum(durations) / 10_000, abs=1e-4)


def test_json_and_pandas_views() -> None:
    result = profile_trace(known_trace())
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["by_type"][0] == {"key": "AGENT", "count": 1, "total_ms": 100.0,
                                  "mean_ms": 100.0, "p50_ms": 100.0, "p95_ms": 100.0,
                                  "share": 1.0, "self_ms": 10.0, "self_share": 0.1,
                                  "errors": 0}
    frame = result.to_pandas()
    assert list(frame.columns[:2]) == ["span_type", "count"]
    assert frame.set_index("span_type").loc["CHAT_MODEL", "total_ms"] == 80.0
    names = result.to_pandas(by="name")
    assert list(names["span_name"]) == ["agent", "chat", "plan", "retrieve"]
    with pytest.raises(ValueError, match="by must be 'type' or 'name'"):
        result.to_pandas(by="kind")


def test_profile_dispatches_a_trace_to_profile_trace() -> None:
    trace = known_trace()
    assert isinstance(profile(trace), TraceProfile)
    assert profile(trace) == profile_trace(trace)
    with pytest.raises(TypeError, match="takes no options"):
        profile(trace, experiment_ids=["0"])
    with pytest.raises(TypeError, match="a Trace, a filter string or None"):
        profile(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="filter string twice"):
        profile("span.type = 'LLM'", filter_string="span.type = 'TOOL'")


def test_an_empty_trace_profiles_to_nothing() -> None:
    b = TraceBuilder()
    b.add("agent", 0, None, span_type="AGENT")
    result = profile_trace(b.trace(state="IN_PROGRESS"))
    assert (result.duration_ms, result.by_type, result.by_name) == (0.0, [], [])
