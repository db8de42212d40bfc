"""``compare``: an injected regression is found, its interval excludes 0, nothing else is."""

from __future__ import annotations

import json
import random

import pytest
from many_traces import HOUR_MS, T0_MS, Failure, make

from spanscope.analysis import compare
from spanscope.exceptions import InvalidInputError
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore

A, B = "tags.app_version = '1.0'", "tags.app_version = '2.0'"


def cohorts(n: int = 150, *, slower: float = 1.0, retrieve_slower: int = 0,
            b_errors: float = 0.1, seed: int = 3) -> list:
    """``n`` traces per version; version 2.0's latency is multiplied by ``slower`` and its
    retrieve span lasts ``retrieve_slower`` ms longer. Same inputs otherwise."""
    rng = random.Random(seed)
    traces = []
    for i in range(n):
        latency = int(rng.lognormvariate(5, 0.4)) + 40
        retrieve = rng.randrange(10, 30)
        tokens = rng.randrange(100, 400)
        quality = rng.random()
        for version, factor, extra, error_rate in (("1.0", 1.0, 0, 0.1),
                                                    ("2.0", slower, retrieve_slower, b_errors)):
            failed = (i % 10) < error_rate * 10
            trace, _ = make(request_time=T0_MS + (i * HOUR_MS) // n, latency_ms=int(
                latency * factor) + extra, children=[("retrieve", "RETRIEVER", retrieve + extra)],
                input_tokens=tokens, output_tokens=tokens // 4,
                failure=Failure("boom 1") if failed else None,
                tags={"app_version": version}, feedback=quality)
            traces.append(trace)
    return traces


def metric(result, name: str) -> dict:
    (row,) = [r for r in result.metrics.to_dict("records") if r["metric"] == name]
    return row


def test_an_injected_latency_regression_is_found(store: SqlStore) -> None:
    store.log_traces(cohorts(slower=1.5, retrieve_slower=25))
    result = compare(A, B, experiment_ids=["0"], store=store, seed=1)
    assert (result.a.traces, result.b.traces) == (150, 150)
    p50 = metric(result, "latency_p50_ms")
    assert p50["b"] > p50["a"] * 1.3
    assert p50["significant"] and p50["ci_low"] > 0  # the interval excludes 0
    assert p50["ci_low"] <= p50["diff"] <= p50["ci_high"]
    assert metric(result, "latency_p95_ms")["significant"]
    errors = metric(result, "error_rate")
    assert errors["a"] == errors["b"] and not errors["significant"]
    tokens = metric(result, "total_tokens_per_trace")
    assert tokens["diff"] == 0 and not tokens["significant"]
    quality = metric(result, "feedback.quality")
    assert not quality["significant"] and quality["n_a"] == 150
    spans = {r["span_name"]: r for r in result.spans.to_dict("records")}
    assert spans["retrieve"]["p50_significant"] and spans["retrieve"]["p50_diff_ms"] >= 20
    assert not spans["chat"]["p50_significant"]
    assert "latency p50 rose" in result.verdict
    assert "span 'retrieve' (RETRIEVER) p50 rose" in result.verdict
    assert "error rate" not in result.verdict
    json.dumps(result.to_dict())


def test_identical_cohorts_show_no_change(store: SqlStore) -> None:
    store.log_traces(cohorts())
    result = compare(A, B, experiment_ids=["0"], store=store)
    assert not result.metrics["significant"].any()
    assert not result.spans["p50_significant"].any()
    assert "no significant change" in result.verdict


def test_an_error_rate_regression_is_found() -> None:
    store = InMemoryStore()
    store.log_traces(cohorts(n=200, b_errors=0.5))
    result = compare(A, B, experiment_ids=["0"], store=store)
    errors = metric(result, "error_rate")
    assert errors["a"] == pytest.approx(0.1) and errors["b"] == pytest.approx(0.5)
    assert errors["significant"] and errors["ci_low"] > 0
    assert "error rate rose" in result.verdict


def test_a_seed_reproduces_the_intervals_and_samples_cap_the_work(store: SqlStore) -> None:
    store.log_traces(cohorts(n=120, slower=1.2))
    first = compare(A, B, experiment_ids=["0"], store=store, seed=5, sample_size=50)
    again = compare(A, B, experiment_ids=["0"], store=store, seed=5, sample_size=50)
    assert first.to_dict() == again.to_dict()
    assert (first.a.traces, first.a.sampled) == (120, 50)
    other = compare(A, B, experiment_ids=["0"], store=store, seed=6, sample_size=50)
    assert other.to_dict() != first.to_dict()


def test_sql_and_reference_stores_compare_alike(store: SqlStore) -> None:
    traces = cohorts(n=60, slower=1.3)
    memory = InMemoryStore()
    memory.log_traces(traces)
    store.log_traces(traces)
    assert compare(A, B, experiment_ids=["0"], store=store).to_dict() == compare(
        A, B, experiment_ids=["0"], store=memory).to_dict()


def test_bad_cohorts_are_clear_errors(store: SqlStore) -> None:
    store.log_traces(cohorts(n=20))
    with pytest.raises(InvalidInputError, match=r"cohort \"tags\.app_version = '3\.0'\" is empty"):
        compare(A, "tags.app_version = '3.0'", experiment_ids=["0"], store=store)
    with pytest.raises(InvalidInputError, match="resamples"):
        compare(A, B, experiment_ids=["0"], store=store, resamples=10)
    with pytest.raises(InvalidInputError, match="confidence"):
        compare(A, B, experiment_ids=["0"], store=store, confidence=1.5)
