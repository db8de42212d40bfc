"""Cost over the REST API: dated prices split the server's model usage the same way, and
the summary's cost by span type and its unpriced calls come back whole."""

from __future__ import annotations

import pytest
from remote_server import ServerProcess

from cost_traces import CHANGE_MS, PRICES, call_trace, new_cost, old_cost, usage
from spanscope.analysis import summarize
from spanscope.analysis.pricing import load_prices, selection_cost
from spanscope.store.aggregates import GroupKey, Selection
from spanscope.store.rest import RestStore
from spanscope.store.sql import SqlStore

CALL = usage(1000, 100, cache_read_input_tokens=400, reasoning_tokens=50)


def test_model_usage_periods_and_cost_over_rest(server: ServerProcess, backend_uri: str,
                                                ) -> None:
    store = RestStore(server.url)
    experiment = store.create_experiment(f"cost-{id(store)}-{CHANGE_MS}")
    store.log_traces([
        call_trace(CHANGE_MS - 1, [("acme-1", "CHAT_MODEL", CALL)], experiment_id=experiment),
        call_trace(CHANGE_MS, [("acme-1", "CHAT_MODEL", CALL), ("mystery-9", "LLM",
                                                                 usage(5, 1))],
                   experiment_id=experiment)])
    selection = Selection((experiment,))
    with SqlStore(backend_uri) as direct:
        for options in ({"periods": [CHANGE_MS]}, {"group_by": GroupKey("span_type")}, {}):
            assert store.model_usage(selection, **options) == direct.model_usage(
                selection, **options)
    cost = selection_cost(store, selection, load_prices(PRICES))
    assert cost.cost == pytest.approx(old_cost(CALL) + new_cost(CALL))
    assert (cost.unpriced_calls, cost.unpriced_tokens) == (1, 6)
    by_type = summarize(experiment_ids=[experiment], group_by="span_type", store=store,
                        prices=PRICES).to_dict()
    rows = {r["span_type"]: r for r in by_type["rows"]}
    assert rows["LLM"]["cost_usd"] is None and rows["LLM"]["unpriced_calls"] == 1
    assert by_type["cost"]["unpriced_models"] == ["mystery-9"]
    store.close()
