"""Traces in Jupyter: ``_repr_html_`` draws the span tree, timeline and findings, offline."""

from __future__ import annotations

import shutil

import pytest
from analysis_builders import wrong_answer_trace

from factories import make_trace
from spanscope.analysis.notebook import MAX_SPANS
from spanscope.entities import PagedList


def test_a_trace_draws_its_tree_findings_and_payloads() -> None:
    trace, _ = wrong_answer_trace()
    html = trace._repr_html_()
    assert html is not None and trace.info.trace_id in html
    assert html.count('role="treeitem"') == len(trace.data.spans)
    assert "retrieval" in html  # the finding of diagnose() is shown
    assert "<script" not in html and "http" not in html and "<link" not in html
    assert 'class="bar"' in html and "Inputs" in html


def test_a_huge_trace_shows_its_first_spans_and_says_how_many_more() -> None:
    trace = make_trace(MAX_SPANS + 500)
    html = trace._repr_html_()
    assert html.count('role="treeitem"') == MAX_SPANS
    assert "500 more spans" in html


def test_a_page_of_traces_is_a_table_and_other_pages_keep_their_repr() -> None:
    page = PagedList([make_trace(2), make_trace(3)], token="next")
    html = page._repr_html_()
    assert html is not None and all(t.info.trace_id in html for t in page)
    assert 'page_token="next"' in html
    assert PagedList([1, 2])._repr_html_() is None


def test_the_fragment_renders_in_chromium_without_the_network(tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Chromium is needed: apt-get install -y chromium", pytrace=False)
    trace, _ = wrong_answer_trace()
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.set_content(f"<html><body>{trace._repr_html_()}</body></html>")
        rows = page.locator('[role="treeitem"]')
        assert rows.count() == len(trace.data.spans)
        rows.first.locator("summary").click()
        assert page.locator("pre").first.is_visible()
        page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
        browser.close()
    assert [r for r in requests if not r.startswith(("about:", "data:"))] == []
