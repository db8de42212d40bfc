"""Datasets and evaluations in the UI, in a real Chromium against a real server: traces
picked in the list become dataset records (as ``merge_records(traces)`` makes them), a
dataset's versions and records, evaluation runs with their metrics and per-row results."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from tests.server.conftest import ServerProcess
from tests.ui.conftest import Page

from spanscope.evaluation.dataset_records import record_updates
from spanscope.store.sql import SqlStore


def _ids(page: Page) -> list[str]:
    return page.page.locator("table.list a.id").all_inner_texts()


def test_selected_traces_become_a_dataset_with_versions(server: ServerProcess, page: Page,
                                                        demo_store: str) -> None:
    p = page.page
    p.goto(server.url + "/?state=OK")
    first = _ids(page)[:3]
    for trace_id in first:
        p.get_by_label(f"Select {trace_id}").check()
    p.get_by_label("New dataset name").fill("ui-picked")
    with p.expect_navigation():
        p.get_by_role("button", name="Add selected to dataset").click()
    assert re.search(r"/datasets/[^/?]+\?added=3%2C0$", p.url), p.url
    assert "3 new records, 0 updated; this is version 1" in p.get_by_role("status").inner_text()
    dataset_id = urlparse(p.url).path.split("/")[-1]
    with SqlStore(demo_store) as store:
        records = store.get_dataset_records(dataset_id)
        expected = record_updates([store.get_trace(i) for i in first])
        assert store.get_dataset(dataset_id).experiment_ids == ["0"]
    assert sorted(r.source_trace_id for r in records) == sorted(first)
    by_trace = {r.source_trace_id: r for r in records}
    for update in expected:  # what merge_records(traces) would have stored
        stored = by_trace[update.source_trace_id]
        assert stored.inputs == update.inputs and stored.outputs == update.outputs
    shown = p.locator("table[aria-label='Records'] a.id").all_inner_texts()
    assert sorted(shown) == sorted(first)

    # Two more, one already in: into the existing dataset, picked from the list.
    p.goto(server.url + "/?state=OK")
    second = [first[0], _ids(page)[5]]
    for trace_id in second:
        p.get_by_label(f"Select {trace_id}").check()
    p.get_by_label("Dataset", exact=True).select_option(label="ui-picked (3 records)")
    with p.expect_navigation():
        p.get_by_role("button", name="Add selected to dataset").click()
    assert parse_qs(urlparse(p.url).query)["added"] == ["1,1"]
    versions = p.locator("table[aria-label='Versions'] tbody tr")
    assert versions.locator("td:first-child").all_inner_texts() == ["2", "1", "0"]
    assert p.locator("table[aria-label='Records'] tbody tr").count() == 4
    p.get_by_role("link", name="1", exact=True).click()
    p.wait_for_url(re.compile(r"\?version=1$"))
    assert "Records of version 1" in p.locator("#records-h").inner_text()
    assert p.locator("table[aria-label='Records'] tbody tr").count() == 3
    p.get_by_role("link", name="Datasets", exact=True).first.click()
    assert "ui-picked" in p.locator("table[aria-label='Datasets']").inner_text()
    page.shot("dataset")


def test_adding_without_a_dataset_says_what_is_missing(server: ServerProcess,
                                                       page: Page) -> None:
    p = page.page
    p.goto(server.url + "/")
    p.get_by_label(f"Select {_ids(page)[0]}").check()
    p.get_by_role("button", name="Add selected to dataset").click()
    assert "choose a dataset, or name a new one" in p.get_by_role("alert").inner_text()
    page.errors.clear()  # the browser logs the 400


def test_an_evaluation_run_shows_its_metrics_and_rows(server: ServerProcess, page: Page,
                                                      demo_store: str) -> None:
    import spanscope
    from spanscope.genai import evaluate
    from spanscope.genai.scorers import scorer

    @scorer
    def exact_match(outputs: str, expectations: dict[str, str]) -> bool:
        return outputs == expectations["expected_response"]

    def support_bot(question: str) -> str:
        return "Refunds take 5 business days." if "refund" in question else "I don't know."

    data = [{"inputs": {"question": "How long do refunds take?"},
             "expectations": {"expected_response": "Refunds take 5 business days."}},
            {"inputs": {"question": "Is shipping free?"},
             "expectations": {"expected_response": "Only over $50."}}]
    def better_bot(question: str) -> str:
        return "Refunds take 5 business days." if "refund" in question else "Only over $50."

    spanscope.set_tracking_uri(demo_store)
    try:
        result = evaluate(data, scorers=[exact_match], predict_fn=support_bot)
        better = evaluate(data, scorers=[exact_match], predict_fn=better_bot)
        spanscope.flush(timeout=30)
    finally:
        spanscope.set_tracking_uri(None)
    p = page.page
    p.goto(server.url + "/")
    p.get_by_role("link", name="Evaluations").click()
    p.wait_for_url("**/evaluations")
    runs = p.locator("table[aria-label='Evaluation runs']")
    assert "exact_match/mean" in runs.inner_text()
    assert "0.5" in runs.locator(f"tr:has(input[value='{result.run_id}'])").inner_text()
    for run_id in (result.run_id, better.run_id):
        p.locator(f"input[name='run'][value='{run_id}']").check()
    p.get_by_role("button", name="Compare the two selected").click()
    p.wait_for_url(re.compile(r"/evaluations/compare\?run="))
    metrics = p.get_by_role("table", name="Metrics compared")
    assert "+0.5" in metrics.get_by_role("row").filter(has_text="exact_match/mean").inner_text()
    compared = p.get_by_role("table", name="Rows compared").locator("tbody tr")
    assert compared.locator("td:first-child").all_inner_texts() == ["improved", "same"]
    assert "Is shipping free?" in compared.first.inner_text()
    assert "false → true" in compared.first.inner_text()
    page.shot("evaluation-compare")
    p.goto(server.url + f"/evaluations/{result.run_id}")
    assert "exact_match/mean" in p.locator("table[aria-label='Metrics']").inner_text()
    rows = p.locator("table[aria-label='Results'] tbody tr")
    assert rows.count() == 2
    assert p.locator("td.score-cell.pass").count() == 1
    assert p.locator("td.score-cell.fail").count() == 1
    trace_ids = set(result.result_df["trace_id"])
    shown = set(p.locator("table[aria-label='Results'] a.id").all_inner_texts())
    assert shown == trace_ids
    page.shot("evaluation")
    p.locator("table[aria-label='Results'] a.id").first.click()
    p.wait_for_url(re.compile(r"/traces/tr-"))
    assert "exact_match" in p.locator("#assessments").inner_text()
    missing = p.goto(server.url + "/evaluations/no-such-run")
    assert missing is not None and missing.status == 404
    page.errors.clear()  # the browser logs the 404
