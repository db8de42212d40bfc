"""The trace list's custom time range, cost column and text-search matches, clicked through
in a real Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.server.conftest import ServerProcess
from tests.ui.conftest import Page

from spanscope.analysis.pricing import selection_cost
from spanscope.server.ui import views
from spanscope.store.aggregates import Selection
from spanscope.store.sql import SqlStore

NO_COST = "\u2013"  # the list's dash for a trace without model calls


def _ids(page: Page) -> list[str]:
    return page.page.locator("table.list a.id").all_inner_texts()


def _row(page: Page, trace_id: str):
    return page.page.locator("table.list tbody tr").filter(has=page.page.get_by_text(trace_id))


def test_a_custom_time_range_filters_the_list(server: ServerProcess, page: Page,
                                              demo_store: str) -> None:
    """From/To go into the address and become trace.timestamp bounds: the hour of the
    10,000-span trace (2020-09-13 12:26 UTC) holds that trace alone."""
    p = page.page
    p.goto(server.url + "/")
    p.get_by_label("From (UTC)").fill("2020-09-13T12:00")
    assert p.get_by_label("Time").input_value() == "custom"  # typing a date picks it
    p.get_by_label("To (UTC)").fill("2020-09-13T13:00")
    with p.expect_navigation():
        p.get_by_role("button", name="Apply").click()
    query = parse_qs(urlparse(p.url).query)
    assert query["from"] == ["2020-09-13T12:00"] and query["to"] == ["2020-09-13T13:00"]
    with SqlStore(demo_store) as store:
        expected = store.search_trace_ids(["0"], filter_string=(
            "trace.timestamp >= '2020-09-13T12:00' AND trace.timestamp < '2020-09-13T13:00'"))
        (big,) = store.search_trace_ids(["0"], filter_string="tags.size = 'big'")
    assert _ids(page) == expected == [big]
    assert p.get_by_label("From (UTC)").input_value() == "2020-09-13T12:00"
    page.shot("list-custom-range")
    # Everything from that hour on but the big trace's minute: the demo's traces.
    p.get_by_label("From (UTC)").fill("2020-09-13T12:27")
    p.get_by_label("To (UTC)").fill("")
    with p.expect_navigation():
        p.get_by_role("button", name="Apply").click()
    shown = set(_ids(page))
    assert big not in shown and len(shown) == 50  # a full page of the demo's traces
    p.get_by_label("Time").select_option("24h")  # a quick range clears the custom one
    assert p.get_by_label("From (UTC)").input_value() == ""
    bad = p.goto(server.url + "/?from=2020-09-13T13:00&to=2020-09-13T12:00")
    assert bad is not None and bad.status == 400
    assert "To must be after From" in p.get_by_role("alert").inner_text()
    page.errors.clear()  # the browser logs the 400


def test_the_cost_column_prices_each_trace_or_says_unpriced(server: ServerProcess,
                                                            page: Page,
                                                            demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/?filter=" + "tags.pricing%20%3D%20'in-house'")
    (unpriced,) = _ids(page)
    cell = _row(page, unpriced).locator("td.cost")
    assert cell.inner_text() == "unpriced"  # a model without a price: never $0
    assert "in-house-llm-7" in cell.get_attribute("title")
    p.goto(server.url + "/")
    ids = _ids(page)
    shown = dict(zip(ids, p.locator("table.list td.cost").all_inner_texts(), strict=True))
    with SqlStore(demo_store) as store:
        for trace_id in ids:
            total = selection_cost(store, Selection(("0",), f"attributes.trace_id = '{trace_id}'"))
            assert shown[trace_id] == (views.cost_text(total)[0] or NO_COST), trace_id
    assert any(text.startswith("$") for text in shown.values())  # the demo's calls priced
    page.shot("list-cost")


def test_a_text_filter_shows_where_it_matched(server: ServerProcess, page: Page) -> None:
    p = page.page
    p.goto(server.url + "/?filter=" + "text%20CONTAINS%20'Lyon'")
    (trace_id,) = _ids(page)
    match = _row(page, trace_id).locator("td.match")
    assert match.locator("mark").all_inner_texts() == ["Lyon", "Lyon"]
    wheres = match.locator("a.where").all_inner_texts()
    assert wheres == ["in in_house_agent · outputs", "in chat · outputs"]
    page.shot("list-text-match")
    match.get_by_role("link", name="in chat · outputs").click()
    p.wait_for_url(f"**/traces/{trace_id}?back=**#span-*")
    chat = p.locator(".waterfall .row", has_text="chat")
    p.locator("#detail .span-detail").wait_for()  # the matched span opens by itself
    assert chat.get_attribute("aria-selected") == "true"
    assert "Lyon ships it." in p.locator("#detail").inner_text()
    p.goto(server.url + "/?filter=" + "tags.pricing%20%3D%20'in-house'")
    assert p.locator("table.list td.match").count() == 0  # no text condition: no column


def test_a_trace_with_many_findings_lists_a_few_of_each_kind_first(
        server: ServerProcess, page: Page, demo_store: str) -> None:
    from spanscope.analysis import diagnose
    from spanscope.server.ui.pages import FINDINGS_SHOWN

    with SqlStore(demo_store) as store:
        (trace_id,) = store.search_trace_ids(["0"], filter_string="tags.size = 'many-findings'")
        findings = diagnose(store.get_trace(trace_id))
    first, left = views.first_findings(findings, FINDINGS_SHOWN)
    assert left and sum(n for _, n in left) == len(findings) - len(first)
    p = page.page
    p.goto(f"{server.url}/traces/{trace_id}")
    listed = p.locator("#findings ol.findings > li")
    listed.first.wait_for()
    assert listed.count() == len(first)
    more = p.locator("#findings p.more-findings")
    assert f"{len(findings) - len(first)} more" in more.inner_text()
    assert p.locator(".waterfall .row.culprit").count() == len(first)
    more.get_by_role("button", name="Show all").click()
    p.wait_for_function("document.querySelectorAll('#findings ol.findings > li').length"
                        f" === {len(findings)}")
    p.wait_for_function("document.querySelectorAll('.waterfall .row.culprit').length"
                        f" === {len(findings)}")


def test_the_filter_row_lays_out_at_1280_px(server: ServerProcess, page: Page) -> None:
    """At 1280 px the filter box fills its own line, the experiment's keys sit under it as
    chips (no comma-separated run), and Apply stays on the line of the quick filters
    instead of wrapping alone."""
    p = page.page
    p.goto(server.url + "/")
    p.locator("p.keys code").first.wait_for()

    def box(locator):
        found = locator.bounding_box()
        assert found is not None
        return found

    filter_box = box(p.get_by_label("Filter", exact=True))
    keys = box(p.locator("p.keys"))
    order, apply = box(p.get_by_label("Order")), box(p.get_by_role("button", name="Apply"))
    state = box(p.get_by_label("State"))
    assert filter_box["width"] > 900  # the whole line but the experiment picker
    assert filter_box["y"] + filter_box["height"] <= keys["y"] < state["y"]
    assert abs(apply["y"] + apply["height"] - (order["y"] + order["height"])) < 4
    assert abs(state["y"] - order["y"]) < 4  # one line of quick filters
    assert "," not in p.locator("p.keys").inner_text()
    page.shot("list-filter-row-1280")
