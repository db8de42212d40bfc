"""``summarize``, the price table and the analysis time arguments, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from many_traces import HOUR_MS, T0_MS, dataset, make

from spanscope.analysis import get_model_prices, pricing, set_model_prices, summarize
from spanscope.analysis.selection import parse_group_by, parse_time
from spanscope.exceptions import InvalidInputError
from spanscope.store.aggregates import GroupKey
from spanscope.store.sql import SqlStore


@pytest.fixture(autouse=True)
def _fresh_prices() -> None:
    pricing._reset_for_tests()
    yield
    pricing._reset_for_tests()


@pytest.fixture
def loaded(store: SqlStore) -> tuple[SqlStore, list]:
    traces, facts = dataset(140)
    store.log_traces(traces)
    return store, facts


def expected_cost(facts: list) -> float:
    prices = get_model_prices()
    total = 0.0
    for fact in facts:
        if fact.model in prices:
            price = prices[fact.model]
            total += (fact.input_tokens * price.input + fact.output_tokens * price.output) / 1e6
    return total


def test_overall_numbers_equal_a_plain_python_computation(loaded: tuple) -> None:
    store, facts = loaded
    result = summarize(experiment_ids=["0"], store=store)
    latencies = np.array([f.latency_ms for f in facts], dtype=float)
    row = result.table.iloc[0].to_dict()
    assert row == pytest.approx(result.overall, nan_ok=True)
    overall = result.overall
    assert overall["traces"] == len(facts)
    assert overall["errors"] == sum(f.error for f in facts)
    assert overall["error_rate"] == pytest.approx(overall["errors"] / len(facts))
    for q in (50, 95, 99):
        assert overall[f"latency_p{q}_ms"] == pytest.approx(np.percentile(latencies, q))
    assert overall["latency_mean_ms"] == pytest.approx(latencies.mean())
    assert overall["input_tokens"] == sum(f.input_tokens for f in facts)
    assert overall["output_tokens"] == sum(f.output_tokens for f in facts)
    assert overall["cost_usd"] == pytest.approx(expected_cost(facts))
    assert result.unpriced_models == ["(unnamed model)", "my-local-model"]
    json.dumps(result.to_dict())


def test_hourly_buckets_cover_the_window_and_add_up(loaded: tuple) -> None:
    store, facts = loaded
    result = summarize(experiment_ids="0", bucket="hour", start=T0_MS - 2 * HOUR_MS,
                       end=T0_MS + 8 * HOUR_MS, store=store)
    table = result.table
    assert len(table) == 10  # empty hours before and after the traces are rows too
    assert list(table["bucket"].iloc[:2].dt.hour) == [22, 23]
    assert table["traces"].iloc[:2].tolist() == [0, 0]
    assert table["traces"].sum() == len(facts)
    assert table["errors"].sum() == result.overall["errors"]
    assert table["cost_usd"].sum() == pytest.approx(result.overall["cost_usd"])
    for bucket_start, row in zip(table["bucket"], table.to_dict("records"), strict=True):
        start_ms = int(bucket_start.timestamp() * 1000)
        members = [f.latency_ms for f in facts if start_ms <= f.request_time < start_ms + HOUR_MS]
        if members:
            assert row["latency_p95_ms"] == pytest.approx(np.percentile(members, 95))


def test_group_by_a_tag_gives_one_row_per_value(loaded: tuple) -> None:
    store, facts = loaded
    result = summarize(group_by="tags.app_version", experiment_ids=["0"], store=store)
    rows = {r["tags.app_version"]: r for r in result.table.to_dict("records")}
    assert set(rows) == {"1.0", "2.0", None}
    for version, row in rows.items():
        members = [f for f in facts if f.app_version == version]
        assert row["traces"] == len(members)
        assert row["cost_usd"] == pytest.approx(expected_cost(members))
        assert row["latency_p50_ms"] == pytest.approx(
            np.percentile([f.latency_ms for f in members], 50))
    assert list(rows)[-1] is None  # traces without the tag come last


def test_filter_and_time_window_select_traces(loaded: tuple) -> None:
    store, facts = loaded
    result = summarize("attributes.state = 'ERROR'", ["0"], T0_MS + HOUR_MS,
                       T0_MS + 4 * HOUR_MS, store=store)
    members = [f for f in facts if f.error and T0_MS + HOUR_MS <= f.request_time
               < T0_MS + 4 * HOUR_MS]
    assert result.overall["traces"] == len(members) > 0
    assert result.overall["error_rate"] == 1.0


def test_an_empty_selection_is_zero_traces(loaded: tuple) -> None:
    store, _ = loaded
    result = summarize("tags.app_version = 'nope'", ["0"], bucket="day", store=store)
    assert result.empty and result.overall["traces"] == 0 and len(result.table) == 0
    assert result.overall["latency_p50_ms"] is None


def test_relative_and_absolute_times(store: SqlStore) -> None:
    now = int(time.time() * 1000)
    old, _ = make(request_time=now - 3 * 86_400_000, latency_ms=10)
    new, _ = make(request_time=now - 2 * HOUR_MS, latency_ms=20)
    store.log_traces([old, new])
    for start in ("24h", "1d", now - 86_400_000, datetime.now() - timedelta(hours=24),
                  datetime.fromtimestamp((now - 86_400_000) / 1000, tz=timezone.utc)
                  .isoformat().replace("+00:00", "Z")):
        assert summarize(experiment_ids=["0"], start=start, store=store).overall["traces"] == 1
    assert summarize(experiment_ids=["0"], end="2d", store=store).overall["traces"] == 1
    assert parse_time("2026-01-31") == 1_769_817_600_000
    assert parse_time("2026-01-31T00:00:00+01:00") == 1_769_814_000_000


def test_bad_arguments_are_clear_errors(store: SqlStore) -> None:
    with pytest.raises(InvalidInputError, match="bucket must be one of minute, hour, day"):
        summarize(bucket="fortnight", store=store)
    with pytest.raises(InvalidInputError, match=r"group by tags\.KEY, metadata\.KEY, user"):
        summarize(group_by="attributes.state", store=store)
    with pytest.raises(InvalidInputError, match=r"group by tags\.KEY, metadata\.KEY, user"):
        summarize(group_by="colour", store=store)
    with pytest.raises(InvalidInputError, match="is not a time"):
        summarize(start="yesterday-ish", store=store)
    with pytest.raises(InvalidInputError, match="end must be after start"):
        summarize(start="1h", end="2h", store=store)
    assert parse_group_by("tag.`a.b`") == GroupKey("tag", "a.b")
    assert parse_group_by("request_metadata.user") == GroupKey("metadata", "user")


def test_the_active_experiment_is_the_default(tmp_path: Path) -> None:
    import spanscope

    spanscope.set_tracking_uri(f"sqlite:///{tmp_path}/t.db")
    experiment_id = spanscope.set_experiment("analysis")
    trace, _ = make(request_time=T0_MS, latency_ms=10, experiment_id=experiment_id)
    from spanscope import tracking

    tracking.get_store().log_traces([trace])
    assert summarize().overall["traces"] == 1
    assert summarize(experiment_ids=["0"]).overall["traces"] == 0


# --- prices ------------------------------------------------------------------------------
def test_prices_match_dated_and_prefixed_model_names() -> None:
    assert pricing.price_for("gpt-4o-2024-08-06") == pricing.price_for("gpt-4o")
    assert pricing.price_for("gpt-4o-mini-2024-07-18") == pricing.price_for("gpt-4o-mini")
    assert pricing.price_for("openai:/gpt-4.1-mini") == pricing.price_for("gpt-4.1-mini")
    assert pricing.price_for("anthropic/claude-sonnet-4-20250514") == pricing.price_for(
        "claude-sonnet-4")
    assert pricing.price_for("GPT-4O") is not None
    assert pricing.price_for("gpt-4oo") is None
    assert pricing.price_for("sim-chat-1") is not None  # the demo's model
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "o3-mini", "claude-3-5-sonnet"):
        assert pricing.price_for(model) is not None, model
    assert pricing.cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


def test_prices_can_be_overridden_in_code_and_by_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loaded: tuple) -> None:
    store, facts = loaded
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"my-local-model": {"input": 1.0, "output": 2.0}}}))
    monkeypatch.setenv(pricing.PRICES_ENV, str(path))
    pricing._reset_for_tests()
    local = [f for f in facts if f.model == "my-local-model"]
    result = summarize(experiment_ids=["0"], store=store)
    assert result.unpriced_models == ["(unnamed model)"]
    assert result.overall["cost_usd"] == pytest.approx(expected_cost(facts))
    assert expected_cost(local) > 0
    set_model_prices({"gpt-4o": {"input": 0, "output": 0}, "my-local-model": [0, 0]})
    assert summarize(experiment_ids=["0"], store=store).overall["cost_usd"] == pytest.approx(
        expected_cost([f for f in facts if f.model == "gpt-4o-mini"]))
    set_model_prices(None)
    assert pricing.price_for("gpt-4o").input == 2.5
    with pytest.raises(InvalidInputError, match="price of 'x'"):
        set_model_prices({"x": {"input": -1, "output": 1}})
    path.write_text("{not json")
    pricing._reset_for_tests()
    with pytest.raises(InvalidInputError, match="cannot read a JSON price table"):
        get_model_prices()
