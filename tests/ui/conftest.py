"""Fixtures for the UI tests: a real ``spanscope server`` holding the demo app's traces (and
one 10,000-span trace), and a headless Chromium (Debian's, through Playwright) that fails
the test on any request leaving 127.0.0.1 and on any console error.

Screenshots go to ``$SPANSCOPE_UI_SHOTS`` (default: the test's temporary directory), so a
person can read them after a run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner
from tests.server.conftest import ServerProcess

CHROMIUM = next((path for name in ("chromium", "chromium-browser")
                 if (path := shutil.which(name))), None)
BIG_TRACE_SPANS = 10_000


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with 60 demo traces and one trace of ``BIG_TRACE_SPANS`` spans."""
    from tests.factories import make_trace

    from spanscope.cli.main import cli
    from spanscope.store.sql import SqlStore

    uri = f"sqlite:///{tmp_path_factory.mktemp('ui')}/demo.db"
    _log_sdk_traces(uri)  # first: the demo's traces are the newest, first in the list
    result = CliRunner().invoke(cli, ["--tracking-uri", uri, "demo", "--traces", "60",
                                      "--seed", "7", "--no-progress"])
    assert result.exit_code == 0, result.output
    import spanscope

    spanscope.flush(timeout=30)
    big = make_trace(BIG_TRACE_SPANS, name="big_agent", tags={"size": "big"},
                     request_time=1_600_000_000_000)
    with SqlStore(uri) as store:
        store.log_traces([big])
    return uri


def _log_sdk_traces(uri: str) -> None:
    """Two traces written by the tracing SDK: one whose model call is of a model no price
    table knows (the list says "unpriced" for it, never $0), and an agent whose 30
    retrievals all miss the question (30 findings of one kind, more than a trace page
    lists at first)."""
    import spanscope
    from spanscope.entities import SpanType

    spanscope.set_tracking_uri(uri)
    try:
        with spanscope.start_span("in_house_agent", span_type=SpanType.AGENT) as root:
            root.set_inputs({"question": "Which warehouse ships order A77?"})
            spanscope.update_current_trace(tags={"pricing": "in-house"})
            with spanscope.start_span("chat", span_type=SpanType.CHAT_MODEL) as chat:
                chat.set_inputs({"messages": [{"role": "user", "content": "order A77"}]})
                chat.set_attributes({"mlflow.llm.model": "in-house-llm-7",
                                     "mlflow.chat.tokenUsage": {"input_tokens": 120,
                                                                "output_tokens": 30,
                                                                "total_tokens": 150}})
                chat.set_outputs({"choices": [{"message": {"role": "assistant",
                                                            "content": "Lyon ships it."}}]})
            root.set_outputs({"answer": "Lyon ships it."})
        with spanscope.start_span("retrieval_loop", span_type=SpanType.AGENT) as root:
            root.set_inputs({"question": "a task of many steps"})
            spanscope.update_current_trace(tags={"size": "many-findings"})
            for step in range(30):
                with spanscope.start_span("retrieve", span_type=SpanType.RETRIEVER) as r:
                    r.set_inputs({"query": f"step {step}"})
                    r.set_outputs([{"page_content": f"document {step}", "score": 0.8}])
            root.set_outputs({"answer": "all steps done"})
        spanscope.flush(timeout=30)
    finally:
        spanscope.set_tracking_uri(None)


@pytest.fixture(scope="module")
def server(demo_store: str) -> Iterator[ServerProcess]:
    with ServerProcess(demo_store) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("the UI tests need Chromium: apt-get install -y chromium (.ci/run does)",
                    pytrace=False)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


class Page:
    """A browser page that records what would make the test fail: requests to anywhere
    but 127.0.0.1, console errors, uncaught page errors."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.outside: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._only_local)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _only_local(self, route: Any) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("data", "about") or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Page]:
    shots = Path(os.environ.get("SPANSCOPE_UI_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    wrapped = Page(context.new_page(), shots)
    yield wrapped
    context.close()
    assert wrapped.outside == [], f"requests left 127.0.0.1: {wrapped.outside}"
    assert wrapped.errors == [], f"console errors: {wrapped.errors}"
