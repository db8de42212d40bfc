"""Fixtures for autolog: a real SQLite store, clean tracing state, the fake providers.

- autouse ``_fresh``: tracing state reset and every autolog switched off around each test.
- ``uri`` / ``read_traces()`` / ``read_trace()``: as in tests/tracing (flush, then read).
- ``openai_server`` / ``anthropic_server``: the local fake providers, started per test.
- ``openai_client`` / ``async_openai_client`` / ``anthropic_client`` / ``async_anthropic_client``:
  the real clients pointed at them, retries off so an error reaches the test at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from tests.tracing.conftest import read_trace, read_traces, uri  # noqa: F401 (shared fixtures)

import spanscope.anthropic
import spanscope.openai
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
