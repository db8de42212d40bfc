"""``spanscope report`` prices calls by a deployment's price file and says what is unpriced,
on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.server.conftest import asgi_api

from cost_traces import CHANGE_MS, PRICES, call_trace, new_cost, old_cost, usage
from spanscope.analysis import pricing
from spanscope.cli.main import cli
from spanscope.store.sql import SqlStore

CALL = usage(1000, 100, cache_read_input_tokens=400, reasoning_tokens=50)


@pytest.fixture
def priced_uri(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES))
    monkeypatch.setenv(pricing.PRICES_ENV, str(path))
    pricing._reset_for_tests()
    with SqlStore(store_uri) as store:
        store.log_traces([
            call_trace(CHANGE_MS - 1, [("acme-1", "CHAT_MODEL", CALL)], user="ann"),
            call_trace(CHANGE_MS, [("acme-1", "CHAT_MODEL", CALL),
                                   ("mystery-9", "LLM", usage(5, 1))], user="bob")])
    yield store_uri
    pricing._reset_for_tests()


def test_report_shows_the_cost_and_what_is_unpriced(runner: CliRunner, priced_uri: str,
                                                    tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    result = runner.invoke(cli, ["--tracking-uri", priced_uri, "report", "--json",
                                 "--group-by", "span_type", "--html", str(html)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["cost_usd"] == pytest.approx(old_cost(CALL) + new_cost(CALL))
    assert data["cost"]["unpriced_calls"] == 1 and data["cost"]["unpriced_tokens"] == 6
    assert any(note.startswith("unpriced: 1 calls / 6 tokens of mystery-9")
               for note in data["notes"])
    rows = {r["span_type"]: r for r in data["groups"]["rows"]}
    assert rows["LLM"]["cost_usd"] is None and rows["CHAT_MODEL"]["cost_usd"] > 0
    assert "unpriced: 1 calls / 6 tokens" in html.read_text(encoding="utf-8")
    table = runner.invoke(cli, ["--tracking-uri", priced_uri, "report", "--group-by", "user"])
    assert table.exit_code == 0, table.output
    assert "unpriced" in table.output and "By user" in table.output


def test_traces_analyze_prices_the_trace_at_its_time(runner: CliRunner, priced_uri: str,
                                                      ) -> None:
    with SqlStore(priced_uri) as store:
        before = next(t for t in store.search_traces(["0"]) if t.info.request_time < CHANGE_MS)
    result = runner.invoke(cli, ["--tracking-uri", priced_uri, "traces", "analyze",
                                 before.info.trace_id, "--json"])
    assert result.exit_code == 0, result.output
    cost = json.loads(result.stdout)["cost"]
    assert cost["cost"] == pytest.approx(old_cost(CALL))  # the old price, at its time
    assert (cost["calls"], cost["unpriced_calls"]) == (1, 0)
    table = runner.invoke(cli, ["--tracking-uri", priced_uri, "traces", "analyze",
                                before.info.trace_id])
    assert f"Estimated cost: {old_cost(CALL):.6f} USD for 1 model calls" in table.output


@pytest.mark.parametrize(("currency", "written"), [("EUR", "\u20ac"), ("GBP", "\u00a3"),
                                                   ("CHF", " CHF"), ("USD", "$")])
def test_summaries_show_the_currency_of_the_prices(
        runner: CliRunner, store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        currency: str, written: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({**PRICES, "currency": currency}))
    monkeypatch.setenv(pricing.PRICES_ENV, str(path))
    pricing._reset_for_tests()
    try:
        with SqlStore(store_uri) as store:
            store.log_traces([call_trace(CHANGE_MS, [("acme-1", "CHAT_MODEL", CALL)],
                                         user="ann")])
        cost = pricing.format_money(new_cost(CALL), currency)
        assert written in cost and (currency == "USD") == ("$" in cost)
        html = tmp_path / "report.html"
        report = runner.invoke(cli, ["--tracking-uri", store_uri, "report", "--group-by",
                                     "user", "--html", str(html)], terminal_width=200)
        assert report.exit_code == 0, report.output
        assert report.output.count(cost) == 2  # the summary and the row of "ann"
        page = html.read_text(encoding="utf-8")
        assert page.count(cost) == 2
        assert ("$" in report.output) == ("$" in page) == (currency == "USD")
        data = json.loads(runner.invoke(cli, ["--tracking-uri", store_uri, "report",
                                              "--json"]).stdout)
        assert data["currency"] == currency
        with asgi_api(store_uri, monitor=False) as api:  # the UI's overview
            overview = api.get("/overview", params={"experiment_id": "0", "since": "all"})
        assert overview.status_code == 200, overview.text
        assert cost in overview.text and ("$" in overview.text) == (currency == "USD")
    finally:
        pricing._reset_for_tests()
