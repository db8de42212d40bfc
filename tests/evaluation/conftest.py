"""Fixtures for evaluation tests: a real OpenAI-compatible server and a real SQLite store.

- ``judge_server``: a ``FakeOpenAI`` on an ephemeral port, with the environment a user
  would set (``OPENAI_BASE_URL``, no ``OPENAI_API_KEY``, ``SPANSCOPE_JUDGE_MODEL=
  openai:/fake-judge``) and short judge timeouts/backoff so failure paths run quickly.
- ``tracking_uri``: ``sqlite:///<tmp_path>/eval.db`` as the tracking URI, with tracing
  state reset before and after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spanscope import tracking
from spanscope.testing import reset_tracing
from spanscope.testing.fake_openai import FakeOpenAI

JUDGE_MODEL = "openai:/fake-judge"


@pytest.fixture
def judge_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("SPANSCOPE_JUDGE_MODEL", JUDGE_MODEL)
        monkeypatch.setenv("SPANSCOPE_JUDGE_TIMEOUT", "5")
        monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "3")
        monkeypatch.setenv("SPANSCOPE_JUDGE_RETRY_BACKOFF", "0.01")
        yield server


@pytest.fixture
def tracking_uri(tmp_path: Path) -> Iterator[str]:
    reset_tracing()
    uri = f"sqlite:///{tmp_path}/eval.db"
    tracking.set_tracking_uri(uri)
    yield uri
    reset_tracing()
