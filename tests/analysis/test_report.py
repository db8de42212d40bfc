"""The report: its data on both databases, and the HTML file in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from many_traces import dataset

from spanscope.analysis import build_report, render_html, write_html
from spanscope.analysis.report import histogram_edges
from spanscope.exceptions import InvalidInputError
from spanscope.store.sql import SqlStore

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
CHART_CLASSES = ("traces", "latency", "tokens", "histogram", "span-types")
ONE_BUCKET_CHARTS = ("histogram", "span-types")  # the demo's traces fall in one bucket


@pytest.fixture(scope="module")
def demo_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store holding a run of the demo app (real SDK traces, errors, tokens)."""
    from click.testing import CliRunner

    from spanscope.cli.main import cli

    uri = f"sqlite:///{tmp_path_factory.mktemp('report')}/demo.db"
    result = CliRunner().invoke(cli, ["--tracking-uri", uri, "demo", "--traces", "80",
                                      "--seed", "3", "--no-progress"])
    assert result.exit_code == 0, result.output
    import spanscope

    spanscope.flush(timeout=30)
    return uri


def external_references(html: str) -> list[str]:
    """src/href values and CSS urls that would reach the network."""
    found = re.findall(r"""(?:src|href)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""", html, re.I)
    found += re.findall(r"url\(\s*['\"]?\s*((?:https?:)?//[^)'\"]*)", html, re.I)
    found += re.findall(r"@import\s+['\"]?([^'\";]+)", html, re.I)
    return found


def test_report_data_matches_the_traces(store: SqlStore) -> None:
    traces, facts = dataset(120)
    store.log_traces(traces)
    report = build_report(experiment_ids=["0"], group_by="tags.app_version",
                          compare_filters=("tags.app_version = '1.0'",
                                           "tags.app_version = '2.0'"), store=store)
    assert report.summary.overall["traces"] == len(facts)
    assert report.timeseries.bucket == "hour"  # six hours of traces
    assert report.timeseries.table["traces"].sum() == len(facts)
    assert sum(report.histogram.counts) == len(facts)
    assert report.histogram.edges[0] == min(f.latency_ms for f in facts)
    slowest = sorted(facts, key=lambda f: (-f.latency_ms, -f.request_time))[:10]
    assert [t.latency_ms for t in report.slowest] == [f.latency_ms for f in slowest]
    assert report.errors.error_traces == sum(f.error for f in facts)
    assert set(report.profile.by_type["span_type"]) == {"AGENT", "CHAT_MODEL", "RETRIEVER",
                                                          "RERANKER", "TOOL"}
    assert report.groups is not None and len(report.groups.table) == 3
    assert report.comparison is not None
    assert report.comparison.a.traces == sum(f.app_version == "1.0" for f in facts)
    assert any("my-local-model" in note for note in report.notes)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["summary"]["traces"] == len(facts)
    html = render_html(report)
    assert "Cohort comparison" in html and "By tags.app_version" in html
    for klass in CHART_CLASSES:  # six hourly buckets: every chart is drawn
        assert re.search(rf'<svg class="chart {klass}"', html), klass
    # the sections asked for come right after the summary
    assert html.index('id="summary"') < html.index('id="groups"') < html.index(
        'id="comparison"') < html.index('id="over-time"') < html.index('id="errors"')


def test_error_pattern_counts_agree_with_the_summary(demo_uri: str) -> None:
    """Failed traces are the summary's errors; the rest of the traces with a failure
    recovered; a row's example is a failed trace whenever the row has one."""
    with SqlStore(demo_uri) as store:
        report = build_report(store=store)
        errors = report.errors
        assert errors.failed_traces == report.summary.overall["errors"]
        assert errors.recovered_traces == errors.error_traces - errors.failed_traces
        failed_ids = set(store.search_trace_ids(["0"], filter_string="attributes.status = 'ERROR'"))
        assert errors.recovered_traces > 0  # the demo retries rate limits
        for row in errors.patterns:
            assert row["failed"] + row["recovered"] == row["count"]
            example = row["example_trace_ids"][0]
            assert (example in failed_ids) == (row["failed"] > 0), row["pattern"]


def test_an_empty_selection_is_a_clear_error(store: SqlStore) -> None:
    with pytest.raises(InvalidInputError, match="no traces match"):
        build_report(experiment_ids=["0"], store=store)
    with pytest.raises(InvalidInputError, match=r"group by tags\.KEY"):
        build_report(experiment_ids=["0"], group_by="state", store=store)


def test_histogram_edges() -> None:
    edges, log = histogram_edges(10.0, 10_000.0, bins=3)
    assert log and edges == pytest.approx([10.0, 100.0, 1000.0, 10_000.0])
    edges, log = histogram_edges(10.0, 40.0, bins=3)
    assert not log and edges == pytest.approx([10.0, 20.0, 30.0, 40.0])
    assert histogram_edges(5.0, 5.0) == ([5.0, 6.0], False)
    assert histogram_edges(None, None) == ([], False)


def test_the_html_report_is_self_contained(demo_uri: str, tmp_path: Path) -> None:
    with SqlStore(demo_uri) as store:
        report = build_report(group_by="tags.app_version", store=store,
                              compare_filters=("tags.app_version = '1.4.0'",
                                               "tags.app_version = '1.5.0-beta'"))
    path = write_html(report, tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert external_references(html) == []
    assert "<script" not in html and "<link" not in html and "<img" not in html
    for klass in ONE_BUCKET_CHARTS:
        assert re.search(rf'<svg class="chart {klass}"', html), klass
    # the demo runs in real time: its traces usually fall in one minute, but may straddle two
    if len(report.timeseries.table) == 1:
        assert "fall in one" in html and '<svg class="chart traces"' not in html
    else:
        assert "fall in one" not in html and '<svg class="chart traces"' in html
    for trace in report.slowest:
        assert f'id="slow-{trace.trace_id}"' in html
    pattern = report.errors.patterns[0]["pattern"]
    assert pattern.replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;") in html
    linked = render_html(report, trace_url="https://ui.example/#/traces/{trace_id}")
    assert f"https://ui.example/#/traces/{report.slowest[0].trace_id}" in linked


def test_the_html_report_opens_in_headless_chromium(demo_uri: str, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("Chromium is needed to check the HTML report renders: apt-get install -y "
                    "chromium (.ci/run installs it)", pytrace=False)
    with SqlStore(demo_uri) as store:
        report = build_report(store=store)
    path = write_html(report, tmp_path / "report.html")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run",
               "--proxy-server=127.0.0.1:9",  # any network request would fail
               f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*command, "--dump-dom", path.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "<h1>Spanscope report</h1>" in dom
    assert len(re.findall(r"<svg\b", dom)) >= len(ONE_BUCKET_CHARTS)
    for klass in ONE_BUCKET_CHARTS:
        assert f'class="chart {klass}"' in dom
    assert '<rect class="bar"' in dom
    assert report.slowest[0].trace_id in dom
    shot = tmp_path / "report.png"
    subprocess.run([*command, "--hide-scrollbars", "--window-size=1280,2400",
                    f"--screenshot={shot}", path.as_uri()], capture_output=True,
                   timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_every_linked_trace_id_has_its_section(demo_uri: str) -> None:
    with SqlStore(demo_uri) as store:
        report = build_report(store=store, trace_details=True)
    html = render_html(report)
    linked = set(re.findall(r'href="#trace-(tr-[0-9a-f]+)"', html))
    sections = set(re.findall(r'<section class="trace" id="trace-(tr-[0-9a-f]+)"', html))
    assert linked and linked <= sections
    assert {t.trace_id for t in report.slowest} <= sections
    assert {p["example_trace_ids"][0] for p in report.errors.patterns} <= sections
    failed = next(v for v in report.traces if v.state == "ERROR")
    assert failed.findings and failed.findings[0].kind == "error_origin"
    assert re.search(f'id="span-{failed.trace_id}-{failed.findings[0].span_id}" '
                     f'class="row culprit', html)
    # with a server URL, ids link there and no section is needed
    plain = build_report(store=SqlStore(demo_uri))
    served = render_html(plain, trace_url="http://127.0.0.1:5000/traces/{trace_id}")
    assert 'href="#trace-' not in served
    assert f"http://127.0.0.1:5000/traces/{plain.slowest[0].trace_id}" in served


@pytest.mark.parametrize("width", [800, 1400])
def test_the_html_report_reads_at_800_and_1400_px(demo_uri: str, tmp_path: Path,
                                                  width: int) -> None:
    """No horizontal scrolling, ids wrapping at most once; the screenshots are kept in the
    test's temporary directory for a person to read."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("Chromium is needed: apt-get install -y chromium", pytrace=False)
    with SqlStore(demo_uri) as store:
        report = build_report(group_by="tags.app_version", store=store, trace_details=True)
    path = write_html(report, tmp_path / "report.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.goto(path.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        heights = page.evaluate("""[...document.querySelectorAll('#slowest a.trace-id code')]
            .map(e => Math.round(e.getBoundingClientRect().height /
                                 parseFloat(getComputedStyle(e).lineHeight)))""")
        assert heights and max(heights) <= 2, heights
        page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
        browser.close()


def test_report_and_finding_reprs_are_one_short_line(demo_uri: str) -> None:
    from spanscope.analysis import diagnose

    with SqlStore(demo_uri) as store:
        report = build_report(store=store, trace_details=True)
        failed = next(v for v in report.traces if v.state == "ERROR")
        findings = diagnose(store.get_trace(failed.trace_id))
    text = repr(report)
    assert text.startswith("<Report 'Spanscope report': ") and "\n" not in text
    assert f"{report.summary.overall['traces']:,} traces" in text and len(text) < 200
    first = repr(findings[0])
    assert first.startswith("<Finding high error_origin in ") and len(first) < 200
