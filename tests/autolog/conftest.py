"""Fixtures for autolog: a real SQLite store, clean tracing state, the fake providers.

- autouse ``_fresh``: tracing state reset and every autolog switched off around each test.
- ``uri`` / ``read_traces()`` / ``read_trace()``: as in tests/tracing (flush, then read).
- ``openai_server`` / ``anthropic_server``: the local fake providers, started per test.
- ``openai_client`` / ``async_openai_client`` / ``anthropic_client`` / ``async_anthropic_client``:
  the real clients pointed at them, retries off so an error reaches the test at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest

import spanscope.anthropic
import spanscope.openai
import spanscope.tracing as tracing
from spanscope import tracking
from spanscope.entities import Trace
from spanscope.testing import reset_tracing
from spanscope.testing.fake_anthropic import FakeAnthropic
from spanscope.testing.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    reset_tracing()
    yield
    spanscope.openai.autolog(disable=True)
    spanscope.anthropic.autolog(disable=True)
    reset_tracing()


@pytest.fixture
def uri(tmp_path: object) -> str:
    value = f"sqlite:///{tmp_path}/traces.db"
    tracking.set_tracking_uri(value)
    return value


@pytest.fixture
def read_traces(uri: str) -> Callable[[], list[Trace]]:
    def read() -> list[Trace]:
        assert tracing.flush(timeout=30), tracing.get_export_stats()
        found = tracking.get_store(uri).search_traces(max_results=10_000)
        return sorted(found, key=lambda t: (t.info.request_time, t.data.spans[0].start_time_ns))

    return read


@pytest.fixture
def read_trace(read_traces: Callable[[], list[Trace]]) -> Callable[[], Trace]:
    def read() -> Trace:
        traces = read_traces()
        assert len(traces) == 1, [t.info.tags.get("mlflow.traceName") for t in traces]
        return traces[0]

    return read


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("Refunds are accepted within 30 days of delivery.") as server:
        yield server


@pytest.fixture
def openai_client(openai_server: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=openai_server.url, api_key="test-key", max_retries=0)


@pytest.fixture
def async_openai_client(openai_server: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=openai_server.url, api_key="test-key", max_retries=0)


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic("Refunds are accepted within 30 days of delivery.") as server:
        yield server


@pytest.fixture
def anthropic_client(anthropic_server: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=anthropic_server.url, api_key="test-key",
                               max_retries=0)


@pytest.fixture
def async_anthropic_client(anthropic_server: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=anthropic_server.url, api_key="test-key",
                                    max_retries=0)
