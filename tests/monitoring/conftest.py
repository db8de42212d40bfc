"""Fixtures for online evaluation: a real store (SQLite file and PostgreSQL), its online
scorer store, the local OpenAI-compatible judge, and traces with chosen times.

- ``judge``: a ``FakeOpenAI`` answering "yes", with the environment a user sets
  (``OPENAI_BASE_URL``, ``SPANSCOPE_JUDGE_MODEL``) and no client retries, so an outage is
  seen at once by the worker (which does its own backoff);
- ``online``: ``(trace store, online scorer store)`` for the parametrized ``store_uri``;
- ``finished(store, n, start_ms, ...)``: log ``n`` finished traces, one per ms from
  ``start_ms`` (each 10 ms long), and return their ids.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from online_fixtures import JUDGE_MODEL

from spanscope.store.online_scorers import OnlineScorerStore, open_online_scorer_store
from spanscope.store.sql import SqlStore
from spanscope.testing.fake_openai import FakeOpenAI


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI('{"result": "yes", "rationale": "fine"}') as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("SPANSCOPE_JUDGE_MODEL", JUDGE_MODEL)
        monkeypatch.setenv("SPANSCOPE_JUDGE_TIMEOUT", "5")
        monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "0")
        yield server


@pytest.fixture
def online(store: SqlStore) -> Iterator[tuple[SqlStore, OnlineScorerStore]]:
    scorers = open_online_scorer_store(store.uri)
    try:
        yield store, scorers
    finally:
        scorers.close()
