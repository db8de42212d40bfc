"""The web UI, clicked through in a real Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
from tests.server.conftest import ServerProcess
from tests.ui.conftest import BIG_TRACE_SPANS, Page

from spanscope.store.sql import SqlStore


def _ids(page: Page) -> list[str]:
    return page.page.locator("table.list a.id").all_inner_texts()


def test_the_list_filters_with_the_filter_language(server: ServerProcess, page: Page,
                                                   demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/")
    assert p.locator("h1").inner_text() == "Traces"
    assert len(_ids(page)) == 50  # a page; the demo wrote 61 traces
    assert p.get_by_role("link", name="Next page").count() == 1
    p.get_by_label("Filter").fill("attributes.status = 'ERROR' OR tags.size = 'big'")
    with p.expect_navigation():
        p.get_by_label("Filter").press("Enter")
    query = parse_qs(urlparse(p.url).query)
    assert query["filter"] == ["attributes.status = 'ERROR' OR tags.size = 'big'"]
    shown = set(_ids(page))
    with SqlStore(demo_store) as store:
        expected = set(store.search_trace_ids(
            ["0"], filter_string="attributes.status = 'ERROR' OR tags.size = 'big'"))
    assert shown == expected and len(shown) >= 2
    page.shot("list-filtered")


def test_a_bad_filter_is_explained_next_to_the_box(server: ServerProcess, page: Page) -> None:
    p = page.page
    response = p.goto(server.url + "/?filter=" + "atributes.status%20%3D%20'OK'")
    assert response is not None and response.status == 400  # a page, not an error page
    alert = p.get_by_role("alert")
    assert "position" in alert.inner_text() or "^" in alert.inner_text()
    assert p.get_by_label("Filter").input_value() == "atributes.status = 'OK'"
    assert p.get_by_label("Filter").get_attribute("aria-invalid") == "true"
    page.errors.clear()  # the browser logs the 400 status itself
    page.shot("list-bad-filter")


def test_keyboard_opens_a_trace_and_findings_lead_to_the_span(server: ServerProcess,
                                                               page: Page) -> None:
    p = page.page
    p.goto(server.url + "/?state=ERROR")
    p.keyboard.press("j")
    p.keyboard.press("Enter")
    p.wait_for_url(re.compile(r"/traces/tr-[0-9a-f]{32}"))
    assert p.locator(".badge.state-ERROR").first.is_visible()
    finding = p.locator("ol.findings li").first
    assert "error_origin" in finding.inner_text()
    finding.locator("a[data-span]").click()
    detail = p.locator("#detail .span-detail")
    detail.wait_for()
    assert "Inputs" in detail.inner_text() and "Outputs" in detail.inner_text()
    assert p.locator(".waterfall .row.culprit").count() >= 1
    page.shot("trace-error")


def test_chat_messages_read_as_a_conversation(server: ServerProcess, page: Page) -> None:
    p = page.page
    p.goto(server.url + "/?span_type=CHAT_MODEL")
    p.locator("table.list a.id").first.click()
    p.locator(".waterfall .row", has_text="CHAT_MODEL").first.click()
    p.locator("#detail ol.chat").first.wait_for()
    roles = p.locator("#detail ol.chat .role").all_inner_texts()
    assert "SYSTEM" in [r.upper() for r in roles] and "USER" in [r.upper() for r in roles]


def test_feedback_saved_in_the_browser_is_in_the_store(server: ServerProcess, page: Page,
                                                       demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/")
    trace_id = _ids(page)[3]
    p.goto(f"{server.url}/traces/{trace_id}")
    p.get_by_label("Name", exact=True).fill("helpful")
    p.get_by_label("Value", exact=True).fill("no")
    p.get_by_label("Rationale").fill("answers about shipping, asked about refunds")
    p.get_by_role("button", name="Save feedback").click()
    p.wait_for_url(f"**/traces/{trace_id}#assessments")
    assert "helpful" in p.locator("#assessments table").inner_text()
    with SqlStore(demo_store) as store:
        stored = [a for a in store.get_trace(trace_id).info.assessments if a.name == "helpful"]
    assert len(stored) == 1 and stored[0].value is False
    assert stored[0].rationale == "answers about shipping, asked about refunds"
    assert str(stored[0].source.source_type) == "HUMAN"
    p.get_by_label("Tag key").fill("reviewed")
    p.get_by_label("Tag value").fill("yes")
    with p.expect_navigation():
        p.get_by_role("button", name="Save tag").click()
    assert "reviewed=yes" in p.locator("dl.facts").inner_text()
    with SqlStore(demo_store) as store:
        assert store.get_trace(trace_id).info.tags["reviewed"] == "yes"
    page.shot("trace-feedback")


def test_a_bad_feedback_value_says_what_is_wrong(server: ServerProcess, page: Page) -> None:
    p = page.page
    p.goto(server.url + "/")
    p.locator("table.list a.id").first.click()
    p.get_by_label("Type").select_option("number")
    p.get_by_label("Value", exact=True).fill("lots")
    p.get_by_role("button", name="Save feedback").click()
    assert "is not a number" in p.get_by_role("alert").inner_text()
    page.errors.clear()  # the 400 response is logged by the browser


def test_a_10000_span_trace_opens_and_folds(server: ServerProcess, page: Page,
                                            demo_store: str) -> None:
    """The tree arrives with its first rows (``FIRST_ROWS``), then ``TREE_CHUNK`` at a time
    as the reader scrolls, each piece cut from the trace the page read (the server's
    cache); the findings and a span's payloads load on their own."""
    from spanscope.analysis import diagnose
    from spanscope.analysis.trace_view import waterfall_rows
    from spanscope.server.ui import views
    from spanscope.server.ui.pages import FINDINGS_SHOWN, FIRST_ROWS, TREE_CHUNK

    with SqlStore(demo_store) as store:
        (trace_id,) = store.search_trace_ids(["0"], filter_string="tags.size = 'big'")
    p = page.page
    started = time.perf_counter()
    p.goto(f"{server.url}/traces/{trace_id}")
    p.locator(".waterfall .row").first.wait_for()
    seconds = time.perf_counter() - started
    print(f"10,000-span trace page usable in {seconds:.2f} s")
    rows = p.locator(".waterfall .row")
    assert rows.count() == FIRST_ROWS  # a few screens; the rest as the reader scrolls
    assert f"{BIG_TRACE_SPANS:,}" in p.locator("#tree-h").inner_text()
    p.locator("#findings ol.findings, #findings p.empty:not(.loading)").first.wait_for()
    for chunk in (1, 2, 3):  # scrolling to the end loads the next rows
        expected = FIRST_ROWS + chunk * TREE_CHUNK
        p.locator(".waterfall .more").scroll_into_view_if_needed()
        p.wait_for_function(f"document.querySelectorAll('.waterfall .row').length >= {expected}")
    shown = p.eval_on_selector_all(".waterfall .row", "rows => rows.map(r => r.id.slice(5))")
    with SqlStore(demo_store) as store:
        trace = store.get_trace(trace_id)
    order = [r.span_id for r in waterfall_rows(trace)]
    assert shown == order[:len(shown)]  # the pieces join up: none lost, none twice
    first, _ = views.first_findings(diagnose(trace), FINDINGS_SHOWN)
    assert p.locator("#findings ol.findings > li").count() == len(first)
    root = rows.first
    root.focus()
    p.keyboard.press("ArrowLeft")
    assert root.get_attribute("aria-expanded") == "false"
    p.wait_for_function("document.querySelectorAll('.waterfall .row:not(.hidden)').length"
                        " === 1")  # rows arriving now are folded too
    p.keyboard.press("ArrowRight")  # more rows may arrive meanwhile: all shown in the end
    p.wait_for_function("document.querySelectorAll('.waterfall .row:not(.hidden)').length"
                        " === document.querySelectorAll('.waterfall .row').length")
    rows.nth(2500).click()
    p.locator("#detail .span-detail").wait_for()
    assert rows.nth(2500).get_attribute("id")[5:] in p.locator("#detail").inner_text()


@pytest.mark.parametrize("width", [800, 1400])
def test_pages_read_at_800_and_1400_px(server: ServerProcess, page: Page, width: int) -> None:
    p = page.page
    p.set_viewport_size({"width": width, "height": 900})
    p.goto(server.url + "/?state=ERROR")
    page.shot(f"list-{width}")
    p.locator("table.list a.id").first.click()
    p.wait_for_url(re.compile(r"/traces/tr-[0-9a-f]{32}"))
    assert p.evaluate("document.documentElement.scrollWidth") <= width
    page.shot(f"trace-{width}")


def test_with_auth_the_browser_signs_in_with_a_key(demo_store: str, page: Page) -> None:
    from spanscope.store.keys import Role, open_key_store

    keys = open_key_store(demo_store)
    try:
        secret = keys.create_key(Role.VIEWER, name="ui-test").token
    finally:
        keys.close()
    with ServerProcess(demo_store, "--auth") as secured:
        p = page.page
        p.goto(secured.url + "/")
        assert urlparse(p.url).path == "/login"
        p.get_by_label("API key").fill("not-a-key")
        p.get_by_role("button", name="Sign in").click()
        assert "not valid" in p.get_by_role("alert").inner_text()
        p.get_by_label("API key").fill(secret)
        p.get_by_role("button", name="Sign in").click()
        p.wait_for_url(secured.url + "/")
        assert len(_ids(page)) == 50
    page.errors.clear()  # the browser logs the 401 of the bad key


def test_the_whole_report_opens_from_the_overview(server: ServerProcess, page: Page,
                                                   demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/overview?since=all&group_by=tags.app_version")
    p.get_by_role("link", name="the whole report").click()
    p.wait_for_url(re.compile(r"/overview/report\?.*group_by=tags.app_version"))
    with SqlStore(demo_store) as store:
        total = len(store.search_trace_ids(["0"]))
    assert p.locator("#summary .card .value").first.inner_text() == str(total)
    assert "By tags.app_version" in p.locator("#groups").inner_text()
    p.locator("#slowest a.trace-id").first.click()  # opens the trace in the UI
    p.wait_for_url(re.compile(r"/traces/tr-[0-9a-f]{32}$"))
    assert p.locator("#tree-h").is_visible()
    bad = p.goto(server.url + "/overview?group_by=colour")
    assert bad is not None and bad.status == 400
    assert "tags.KEY" in p.get_by_role("alert").inner_text()
    page.errors.clear()  # the browser logs the 400


def test_a_session_reads_as_a_conversation(server: ServerProcess, page: Page,
                                           demo_store: str) -> None:
    with SqlStore(demo_store) as store:
        traces = store.search_traces(["0"], max_results=200, include_spans=False)
    sessions: dict[str, list[str]] = {}
    for trace in traces:
        session = trace.info.trace_metadata.get("mlflow.trace.session")
        if session:
            sessions.setdefault(session, []).append(trace.info.trace_id)
    session, ids = max(sessions.items(), key=lambda kv: len(kv[1]))
    p = page.page
    p.goto(server.url + "/")
    p.locator(f"a[href='/sessions/{session}']").first.click()
    p.wait_for_url(f"**/sessions/{session}")
    assert p.locator("li.role-user").count() == len(ids)
    shown = p.locator("li.role-assistant code").all_inner_texts()
    assert sorted(shown) == sorted(ids)
    p.goto(server.url + "/sessions/no-such-session")
    assert "No trace belongs to this session" in p.locator("main").inner_text()


def test_two_selected_traces_compare_side_by_side(server: ServerProcess, page: Page) -> None:
    p = page.page
    p.goto(server.url + "/")
    ids = _ids(page)[:2]
    for trace_id in ids:
        p.get_by_label(f"Select {trace_id}").check()
    p.get_by_role("button", name="Compare the two selected").click()
    p.wait_for_url(re.compile(r"/compare\?"))
    assert ids[0] in p.locator("main").inner_text() and ids[1] in p.locator("main").inner_text()
    rows = p.locator("table.compare tbody tr")
    assert rows.count() >= 3  # the demo's agent, its planner, its answer ...
    assert "both" in rows.first.inner_text()
    page.shot("compare")
    bad = p.goto(server.url + f"/compare?t={ids[0]}")
    assert bad is not None and bad.status == 400
    assert "exactly two" in p.get_by_role("alert").inner_text()
    page.errors.clear()  # the browser logs the 400


def test_selected_traces_are_tagged_and_deleted_after_a_confirmation(
        server: ServerProcess, page: Page, demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/?order=duration")
    ids = _ids(page)[-3:]
    for trace_id in ids:
        p.get_by_label(f"Select {trace_id}").check()
    p.get_by_label("Tag key").fill("triage")
    p.get_by_label("Tag value").fill("later")
    with p.expect_navigation():
        p.get_by_role("button", name="Tag selected").click()
    with SqlStore(demo_store) as store:
        assert all(store.get_trace(i).info.tags.get("triage") == "later" for i in ids)
    for trace_id in ids[:2]:
        p.get_by_label(f"Select {trace_id}").check()
    with p.expect_navigation():
        p.get_by_role("button", name="Delete selected…").click()
    assert p.locator("h1").inner_text() == "Delete 2 traces?"
    with SqlStore(demo_store) as store:
        assert len(store.search_trace_ids(["0"], filter_string="tags.triage = 'later'")) == 3
    with p.expect_navigation():
        p.get_by_role("button", name="Delete 2 traces").click()
    assert "Deleted 2 traces." in p.get_by_role("status").inner_text()
    with SqlStore(demo_store) as store:
        left = store.search_trace_ids(["0"], filter_string="tags.triage = 'later'")
    assert left == [ids[2]]


def test_the_review_queue_labels_trace_after_trace(server: ServerProcess, page: Page,
                                                   demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/?filter=" + "attributes.status%20%3D%20'ERROR'")
    p.locator("p.keys").wait_for()  # key suggestions, arriving after the list
    assert "tags.app_version" in p.locator("p.keys").inner_text()
    with SqlStore(demo_store) as store:
        failed = store.search_trace_ids(["0"], filter_string="attributes.status = 'ERROR'")
    assert len(failed) >= 2, failed
    p.get_by_label("Feedback to give").fill("root_cause_found")
    with p.expect_navigation():
        p.get_by_role("button", name="Review traces without it").click()
    labelled = []
    while "Nothing left to review" not in p.locator("main").inner_text():
        assert len(labelled) <= len(failed), labelled  # every trace comes up once
        assert "Review queue" in p.get_by_role("status").inner_text()
        labelled.append(p.url.split("/traces/")[1].split("?")[0])
        with p.expect_navigation():
            if len(labelled) == 1:  # skipped, not labelled
                p.get_by_role("link", name="Skip this one").click()
            else:
                p.get_by_label("Value", exact=True).fill("yes")  # autofocused in the queue
                p.keyboard.press("Enter")
    assert sorted(labelled) == sorted(failed)
    with SqlStore(demo_store) as store:
        done = store.search_trace_ids(["0"], filter_string="feedback.root_cause_found = true")
    assert sorted(done) == sorted(labelled[1:])


def test_previous_and_next_walk_the_list_in_its_order(server: ServerProcess, page: Page,
                                                      demo_store: str) -> None:
    """The trace page links the traces before and after it in the list it came from
    (filter and order carried in the address), across page boundaries too; n/p walk."""
    with SqlStore(demo_store) as store:
        slowest = [t.info.trace_id for t in store.search_traces(
            ["0"], order_by=["execution_time DESC"], max_results=52, include_spans=False)]
        failed = [t.info.trace_id for t in store.search_traces(
            ["0"], filter_string="attributes.status = 'ERROR'", max_results=50,
            include_spans=False)]
    p = page.page
    p.goto(server.url + "/?order=duration")
    assert _ids(page) == slowest[:50]
    p.locator("table.list a.id").nth(1).click()
    p.wait_for_url(f"**/traces/{slowest[1]}?back=**")
    neighbours = p.locator(".neighbours")
    neighbours.get_by_role("link", name="Next →").wait_for()
    assert neighbours.get_by_role("link", name="← Previous").get_attribute(
        "href").startswith(f"/traces/{slowest[0]}?back=")
    p.keyboard.press("n")
    p.wait_for_url(f"**/traces/{slowest[2]}?back=**")
    neighbours.get_by_role("link", name="← Previous").wait_for()
    p.keyboard.press("p")
    p.wait_for_url(f"**/traces/{slowest[1]}?back=**")
    neighbours.get_by_role("link", name="← Previous").click()
    p.wait_for_url(f"**/traces/{slowest[0]}?back=**")
    neighbours.get_by_text("first in the list").wait_for()
    p.goto(server.url + "/?order=duration")  # the last row of page 1 leads to page 2
    p.locator("table.list a.id").nth(49).click()
    neighbours.get_by_role("link", name="Next →").click()
    p.wait_for_url(f"**/traces/{slowest[50]}?back=**")
    p.goto(server.url + "/?state=ERROR")  # a filtered list stays filtered
    p.locator("table.list a.id").last.click()
    neighbours.get_by_text("last in the list").wait_for()
    assert neighbours.get_by_role("link", name="← Previous").get_attribute(
        "href").startswith(f"/traces/{failed[-2]}?back=")


def test_the_filter_box_suggests_as_you_type(server: ServerProcess, page: Page) -> None:
    """Fields and the experiment's keys, then operators, then values, then AND/OR, all
    chosen from the keyboard."""
    p = page.page
    p.goto(server.url + "/")
    p.locator("p.keys").wait_for()  # the experiment's keys arrive after the list
    box = p.get_by_label("Filter")
    options = p.get_by_role("listbox", name="Suggestions").get_by_role("option")
    box.focus()
    box.press_sequentially("tags.app")
    assert options.all_inner_texts() == ["tags.app_version"]  # the experiment's own key
    box.fill("")
    box.press_sequentially("attributes.st")
    assert options.first.inner_text() == "attributes.status"
    box.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == "filter-suggest-0"
    box.press("Enter")
    assert box.input_value() == "attributes.status "
    assert options.first.inner_text() == "="  # operators after a field
    box.press("ArrowDown")
    box.press("Tab")
    assert options.all_inner_texts() == ["'OK'", "'ERROR'", "'IN_PROGRESS'"]
    page.shot("filter-suggestions")
    box.press("ArrowDown")
    box.press("ArrowDown")
    box.press("Enter")
    assert box.input_value() == "attributes.status = 'ERROR' "
    assert options.all_inner_texts()[:2] == ["AND", "OR"]
    box.press("Escape")
    assert p.get_by_role("listbox", name="Suggestions").is_hidden()
    with p.expect_navigation():
        box.press("Enter")  # nothing chosen: Enter applies the filter
    assert parse_qs(urlparse(p.url).query)["filter"] == ["attributes.status = 'ERROR' "]
    assert len(_ids(page)) >= 2
    assert all(s == "ERROR" for s in p.locator("table.list .badge").all_inner_texts())


def test_overview_figures_open_the_traces_behind_them(server: ServerProcess, page: Page,
                                                      demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/overview?since=all&group_by=tags.app_version")
    figures = p.locator("section.figures")
    p.wait_for_function("!document.querySelector('.panel.pending')")  # the panels loaded
    page.shot("overview-figures")
    with SqlStore(demo_store) as store:
        def ids(filter_string: str | None) -> set[str]:
            return set(store.search_trace_ids(["0"], filter_string=filter_string))

        failed = ids("attributes.status = 'ERROR'")
        total = ids(None)
        versions = {t.info.tags.get("app_version") for t in store.search_traces(
            ["0"], max_results=200, include_spans=False)} - {None}
        version = sorted(versions)[-1]
        in_version = ids(f"tags.app_version = '{version}'")
    cards = figures.locator("ul.cards")
    assert cards.get_by_role("link", name=re.compile(r"^Traces")).inner_text().endswith(
        f"{len(total):,}")
    cards.get_by_role("link", name=re.compile(r"^Failed")).click()
    p.wait_for_url(re.compile(r"/\?.*state=ERROR"))
    assert set(_ids(page)) == failed
    p.go_back()
    figures.get_by_role("table", name="By tags.app_version").get_by_role("row").filter(
        has_text=version).get_by_role("link").first.click()
    p.wait_for_url(re.compile(r"/\?.*filter="))
    assert set(_ids(page)) == in_version
    p.go_back()
    pattern = figures.get_by_role("table", name="Error patterns").locator("tbody tr").first
    span_names = pattern.locator("td").nth(4).inner_text().split(", ")
    pattern.get_by_role("link").first.click()
    p.wait_for_url(re.compile(r"/\?.*span\.name"))
    with SqlStore(demo_store) as store:
        expected = set(store.search_trace_ids(["0"], filter_string=" OR ".join(
            f"(span.name = '{n}' AND span.status = 'ERROR')" for n in span_names)))
    assert set(_ids(page)) == expected and expected
    p.go_back()
    span_type = figures.get_by_role("table", name="By span type").locator("tbody tr").filter(
        has_text="RETRIEVER")
    count = int(span_type.locator("td").nth(1).inner_text().replace(",", ""))
    span_type.get_by_role("link").first.click()
    p.wait_for_url(re.compile(r"/\?.*span_type=RETRIEVER"))
    with SqlStore(demo_store) as store:
        with_retriever = set(store.search_trace_ids(["0"],
                                                    filter_string="span.type = 'RETRIEVER'"))
    shown = set(_ids(page))  # the list's first page (50)
    assert shown <= with_retriever and len(shown) == min(50, len(with_retriever))
    assert count >= len(with_retriever)  # spans: a trace may hold several
    p.go_back()
    p.wait_for_function("!document.querySelector('.panel.pending')")  # loaded again
    # latency p50/p95/p99 over time, or, when every trace falls in one bucket, why not
    over_time = figures.locator("#panel-time")
    assert over_time.locator("svg.latency").count() == 1 or "no trend" in over_time.inner_text()
    bars = figures.get_by_role("list", name="Traces over time")
    failed_bar = bars.locator("a.failed").first
    failed_bar.click()
    p.wait_for_url(re.compile(r"/\?.*timestamp_ms"))
    shown = set(_ids(page))
    assert shown and shown <= failed
