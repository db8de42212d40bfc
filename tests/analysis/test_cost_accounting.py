"""Cost accounting: dated prices, cache and reasoning tokens, unpriced calls, cost by user,
session, tag and span type; SQLite and PostgreSQL against the in-memory reference."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cost_traces import (
    CHANGE_MS,
    DAY_MS,
    PRICES,
    call_trace,
    new_cost,
    old_cost,
    usage,
)
from spanscope.analysis import pricing, summarize
from spanscope.analysis.pricing import (
    CostTotal,
    ModelPrice,
    cost_of,
    load_prices,
    selection_cost,
    usage_for_pricing,
)
from spanscope.exceptions import InvalidInputError
from spanscope.store.aggregates import GroupKey, ModelUsageRow, Selection
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

TABLE = load_prices(PRICES)
BEFORE, ON, AFTER = CHANGE_MS - 1, CHANGE_MS, CHANGE_MS + 3_600_000
CACHED = usage(1000, 500, cache_read_input_tokens=600, cache_creation_input_tokens=100,
               reasoning_tokens=200)
PLAIN = usage(2000, 300)


@pytest.fixture(autouse=True)
def _fresh_prices() -> Iterator[None]:
    pricing._reset_for_tests()
    yield
    pricing._reset_for_tests()


def _traces() -> list:
    """Calls either side of the price change, by two users in three sessions, of a priced
    chat model, an embedding model, a model without a price and an unnamed one."""
    return [
        call_trace(BEFORE - DAY_MS, [("acme-1", "CHAT_MODEL", CACHED)], user="ann",
                   session="s1", tags={"team": "search"}),
        call_trace(BEFORE, [("acme-1", "CHAT_MODEL", PLAIN),
                            ("acme-embed", "EMBEDDING", usage(400, 0))],
                   user="ann", session="s1", tags={"team": "search"}),
        call_trace(ON, [("acme-1", "CHAT_MODEL", CACHED), ("mystery-9", "LLM", usage(50, 5))],
                   user="bob", session="s2"),
        call_trace(AFTER, [("acme-1", "LLM", PLAIN), (None, "LLM", usage(70, 7))],
                   user="bob", session="s3", tags={"team": "ads"}),
    ]


@pytest.fixture
def stores(store_uri: str) -> Iterator[tuple[SqlStore, InMemoryStore]]:
    sql, memory = SqlStore(store_uri), InMemoryStore()
    traces = _traces()
    sql.log_traces(traces)
    memory.log_traces(traces)
    yield sql, memory
    sql.close()


EXPECTED_PRICED = (old_cost(CACHED) + old_cost(PLAIN) + 400 * 0.02 / 1e6
                   + new_cost(CACHED) + new_cost(PLAIN))


# --- the price table -----------------------------------------------------------------------
def test_a_price_change_applies_from_its_date_on() -> None:
    assert TABLE.boundaries() == (CHANGE_MS,)
    old, new = TABLE.price_at("acme-1", BEFORE), TABLE.price_at("acme-1", ON)
    assert (old.input, old.cached_input, old.reasoning) == (1.0, 0.1, 4.0)
    assert (new.input, new.cached_input, new.effective_from) == (0.5, None, CHANGE_MS)
    assert TABLE.price_at("acme-1-2026-01-01", AFTER) == new  # a dated name, as before
    assert TABLE["acme-1"] == new  # as a mapping: the latest entry
    assert old.cost(**_kwargs(CACHED)) == pytest.approx(old_cost(CACHED))
    assert new.cost(**_kwargs(CACHED)) == pytest.approx(new_cost(CACHED))
    late = load_prices({"models": {"late-1": {"input": 1, "output": 1,
                                              "effective_from": "2026-03-01T12:00:00Z"}}})
    assert late.price_at("late-1", CHANGE_MS) is None  # nothing in effect yet: unpriced
    assert late.price_at("late-1", CHANGE_MS + 12 * 3_600_000).input == 1.0


def _kwargs(u: dict[str, int]) -> dict[str, int]:
    return {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"],
            "cached_input_tokens": u.get("cache_read_input_tokens", 0),
            "cache_write_tokens": u.get("cache_creation_input_tokens", 0),
            "reasoning_tokens": u.get("reasoning_tokens", 0)}


def test_override_entries_merge_by_model_and_date(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {
        "gpt-4o": {"effective_from": "2026-03-01", "input": 2.0, "output": 8.0},
        "acme-1": {"input": 9.0, "output": 9.0}}}))
    monkeypatch.setenv(pricing.PRICES_ENV, str(path))
    table = pricing.get_model_prices()
    shipped = table.price_at("gpt-4o", BEFORE)
    assert (shipped.input, shipped.cached_input) == (2.5, 1.25)  # the shipped entry, kept
    assert table.price_at("gpt-4o", ON).input == 2.0  # the deployment's price from its date
    assert table.price_at("acme-1", ON).input == 9.0
    assert table.price_at("gpt-4o-mini", ON).input == 0.15  # other models untouched
    pricing.set_model_prices({"acme-1": {"input": 1.0, "output": 1.0}})
    assert pricing.get_model_prices().price_at("acme-1", ON).input == 1.0
    pricing.set_model_prices(None)
    assert pricing.get_model_prices().price_at("acme-1", ON).input == 9.0
    euros = pricing.get_model_prices().merged(load_prices(
        {"currency": "EUR", "models": {"acme-1": {"input": 1, "output": 1}}}))
    assert (euros.currency, list(euros)) == ("EUR", ["acme-1"])  # another currency replaces


@pytest.mark.parametrize(("data", "message"), [
    ({"models": {"m": {"input": 1}}}, "price of 'm' .* has no 'output' price"),
    ({"models": {"m": {"input": 1, "output": 1, "cached": 1}}}, "unknown field.*cached"),
    ({"models": {"m": {"input": 1, "output": -1}}}, "output must be a number >= 0"),
    ({"models": {"m": {"input": 1, "output": 1, "effective_from": "March"}}},
     "effective_from must be a date"),
    ({"models": {"m": [{"input": 1, "output": 1, "effective_from": "2026-01-01"},
                       {"input": 2, "output": 2, "effective_from": "2026-01-01"}]}},
     "two entries with the same effective_from"),
    ({"currency": "USD", "models": {"m": {"input": 1, "output": 1, "currency": "EUR"}}},
     "one table holds one currency"),
    ({"models": ["m"]}, "'models' must map model names"),
])
def test_bad_price_tables_are_clear_errors(data: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_prices(data, "prices.json")


# --- cost_of: the function monitors call --------------------------------------------------
def _row(model: str, *, at: int | None = None, last: int | None = None, calls: int = 1,
         **tokens: int) -> ModelUsageRow:
    counts = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, **tokens}
    return ModelUsageRow(bucket_ms=None, group=None, model=model, traces=1, calls=calls,
                         first_ms=at, last_ms=at if last is None else last, **counts)


def test_unpriced_calls_are_counted_apart_never_as_zero() -> None:
    nothing = cost_of([_row("mystery-9", at=ON, input_tokens=10, total_tokens=10),
                       _row("", at=ON, calls=2, input_tokens=5, total_tokens=5)], TABLE)
    assert nothing == CostTotal(cost=None, currency="USD", calls=3, tokens=15,
                                unpriced_calls=3, unpriced_tokens=15,
                                unpriced_models=["(unnamed model)", "mystery-9"])
    assert cost_of([], TABLE).cost is None
    mixed = cost_of([_row("acme-1", at=ON, input_tokens=1_000_000, total_tokens=1_000_000),
                     _row("acme-1", at=ON, total_tokens=40)], TABLE)  # a total, no split
    assert mixed.cost == pytest.approx(0.5)
    assert (mixed.unpriced_calls, mixed.unpriced_tokens) == (1, 40)
    zero = cost_of([_row("acme-embed", at=ON, input_tokens=0, output_tokens=0)], TABLE)
    assert zero.cost == 0.0  # priced, and it cost nothing: not the same as unknown


def test_a_row_across_a_price_change_is_refused_not_guessed() -> None:
    with pytest.raises(InvalidInputError, match=r"spans a price change.*periods"):
        cost_of([_row("acme-1", at=BEFORE, last=ON, input_tokens=1, total_tokens=1)], TABLE)
    fine = cost_of([_row("acme-embed", at=BEFORE, last=ON, input_tokens=1, total_tokens=1)],
                   TABLE)  # no change for this model
    assert fine.cost == pytest.approx(0.02 / 1e6)


# --- the stores: SQLite and PostgreSQL agree with the reference ---------------------------
def test_model_usage_splits_at_price_changes_in_every_store(stores: tuple) -> None:
    sql, memory = stores
    for options in ({}, {"periods": [CHANGE_MS]}, {"periods": [CHANGE_MS, AFTER]},
                    {"periods": [CHANGE_MS], "bucket_ms": DAY_MS},
                    {"periods": [CHANGE_MS], "group_by": GroupKey("span_type")},
                    {"group_by": GroupKey("metadata", "mlflow.trace.user")},
                    {"group_by": GroupKey("trace")}):
        for selection in (Selection(None), Selection(None, "tags.team = 'search'"),
                          Selection(None, None, BEFORE, AFTER)):
            assert sql.model_usage(selection, **options) == memory.model_usage(
                selection, **options), (options, selection)
    rows = [r for r in sql.model_usage(Selection(None), periods=[CHANGE_MS])
            if r.model == "acme-1"]
    assert [(r.period_ms, r.traces, r.first_ms, r.last_ms) for r in rows] == [
        (None, 2, BEFORE - DAY_MS, BEFORE), (CHANGE_MS, 2, ON, AFTER)]  # oldest first
    after = rows[1]
    assert (after.cache_read_input_tokens, after.cache_creation_input_tokens,
            after.reasoning_tokens) == (600, 100, 200)
    assert after.input_tokens == CACHED["input_tokens"] + PLAIN["input_tokens"]


def test_the_price_in_effect_at_each_trace_is_used(stores: tuple) -> None:
    for store in stores:
        result = summarize(experiment_ids=["0"], store=store, prices=PRICES)
        assert result.overall["cost_usd"] == pytest.approx(EXPECTED_PRICED)
        assert (result.overall["calls"], result.overall["unpriced_calls"],
                result.overall["unpriced_tokens"]) == (7, 2, 55 + 77)
        assert result.unpriced_models == ["(unnamed model)", "mystery-9"]
        daily = summarize(experiment_ids=["0"], store=store, prices=PRICES, bucket="day",
                          start=BEFORE - DAY_MS, end=AFTER + 1)
        costs = daily.table.set_index("bucket")["cost_usd"]
        assert costs.iloc[0] == pytest.approx(old_cost(CACHED))
        assert costs.iloc[-1] == pytest.approx(new_cost(CACHED) + new_cost(PLAIN))
        assert daily.table["cost_usd"].sum() == pytest.approx(EXPECTED_PRICED)
        whole = selection_cost(store, Selection(("0",)), load_prices(PRICES))
        assert whole.cost == pytest.approx(EXPECTED_PRICED)
        assert (whole.unpriced_calls, whole.currency) == (2, "USD")


def test_cost_by_user_session_tag_and_span_type(stores: tuple) -> None:
    for store in stores:
        def by(key: str, s: SqlStore | InMemoryStore = store) -> dict:
            table = summarize(experiment_ids=["0"], store=s, prices=PRICES, group_by=key).table
            return {r[key]: r for r in table.to_dict("records")}

        users = by("user")
        assert users["ann"]["cost_usd"] == pytest.approx(
            old_cost(CACHED) + old_cost(PLAIN) + 400 * 0.02 / 1e6)
        assert users["bob"]["cost_usd"] == pytest.approx(new_cost(CACHED) + new_cost(PLAIN))
        assert (users["bob"]["unpriced_calls"], users["ann"]["unpriced_calls"]) == (2, 0)
        sessions = by("session")
        assert sessions["s2"]["cost_usd"] == pytest.approx(new_cost(CACHED))
        assert sessions["s2"]["traces"] == 1
        teams = by("tags.team")
        assert teams[None]["cost_usd"] == pytest.approx(new_cost(CACHED))
        assert teams["ads"]["cost_usd"] == pytest.approx(new_cost(PLAIN))
        types = by("span_type")
        assert types["CHAT_MODEL"]["cost_usd"] == pytest.approx(
            old_cost(CACHED) + old_cost(PLAIN) + new_cost(CACHED))
        assert types["EMBEDDING"]["cost_usd"] == pytest.approx(400 * 0.02 / 1e6)
        assert types["LLM"]["cost_usd"] == pytest.approx(new_cost(PLAIN))
        assert (types["LLM"]["calls"], types["LLM"]["unpriced_calls"]) == (3, 2)
        assert types["LLM"]["traces"] is None  # a trace holds spans of several types
        assert sum(r["cost_usd"] for r in types.values()) == pytest.approx(EXPECTED_PRICED)


def test_nothing_priced_gives_no_cost_rather_than_zero(store: SqlStore) -> None:
    store.log_traces([call_trace(ON, [("mystery-9", "LLM", usage(50, 5))])])
    result = summarize(experiment_ids=["0"], store=store, prices=PRICES)
    assert result.overall["cost_usd"] is None
    assert (result.overall["unpriced_calls"], result.overall["unpriced_tokens"]) == (1, 55)


def test_span_type_groups_usage_only(store: SqlStore) -> None:
    with pytest.raises(InvalidInputError, match="trace_stats cannot group by span type"):
        store.trace_stats(Selection(None), group_by=GroupKey("span_type"))
    with pytest.raises(InvalidInputError, match="periods must be epoch milliseconds"):
        store.model_usage(Selection(None), periods=["2026-03-01"])


def test_usage_for_pricing_asks_for_the_table_s_boundaries(stores: tuple) -> None:
    sql, _ = stores
    rows = usage_for_pricing(sql, Selection(None), prices=PRICES)
    assert {r.period_ms for r in rows} == {None, CHANGE_MS}
    assert cost_of(rows, PRICES).cost == pytest.approx(EXPECTED_PRICED)
    with pytest.raises(InvalidInputError, match="spans a price change"):
        cost_of(sql.model_usage(Selection(None)), PRICES)


def test_model_price_keeps_its_old_signature() -> None:
    price = ModelPrice(2.5, 10.0)
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(12.5)
    assert pricing.cost_usd("acme-1", 1_000_000, 0, PRICES, at_ms=BEFORE) == pytest.approx(1.0)
    assert pricing.cost_usd("acme-1", 1_000_000, 0, PRICES, at_ms=ON) == pytest.approx(0.5)
