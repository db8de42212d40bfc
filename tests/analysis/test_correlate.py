"""``correlate`` on constructed data, and its statistics against SciPy's."""

from __future__ import annotations

import json
import math
import random

import pytest
import scipy.special
import scipy.stats
from many_traces import T0_MS, make

from spanscope.analysis import correlate
from spanscope.analysis.correlate import parse_numeric_field
from spanscope.analysis.stats import betainc, pearson, rank, spearman, t_sf_two_sided
from spanscope.exceptions import InvalidInputError
from spanscope.store.aggregates import NumericField
from spanscope.store.sql import SqlStore


def test_betainc_and_t_tails_match_scipy() -> None:
    for a, b, x in [(0.5, 0.5, 0.3), (2.0, 3.0, 0.7), (10.0, 0.5, 0.99), (50.0, 0.5, 0.2),
                    (0.5, 7.0, 1e-6), (200.0, 0.5, 0.95)]:
        assert betainc(a, b, x) == pytest.approx(scipy.special.betainc(a, b, x), abs=1e-12)
    for t, df in [(0.0, 5), (1.5, 3), (-2.2, 10), (4.0, 100), (30.0, 1000), (0.01, 1)]:
        expected = 2 * scipy.stats.t.sf(abs(t), df)
        assert t_sf_two_sided(t, df) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_coefficients_and_p_values_match_scipy(seed: int) -> None:
    rng = random.Random(seed)
    x = [rng.gauss(0, 1) for _ in range(40)]
    y = [0.3 * v + rng.gauss(0, 1) for v in x]
    y[3] = y[4]  # a tie for the ranks
    r, p = pearson(x, y)
    expected = scipy.stats.pearsonr(x, y)
    assert r == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)
    rho, p_rho = spearman(x, y)
    expected = scipy.stats.spearmanr(x, y)
    assert rho == pytest.approx(expected.statistic, abs=1e-12)
    assert p_rho == pytest.approx(expected.pvalue, rel=1e-9)
    assert rank([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]


def test_undefined_correlations_are_none() -> None:
    assert pearson([1.0], [2.0]) == (None, None)
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == (None, None)
    r, p = pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    assert r == pytest.approx(1.0) and p == 0.0


@pytest.fixture
def constructed(store: SqlStore) -> tuple[SqlStore, list[float], list[float]]:
    """Quality score falls as total tokens rise (monotonic, not linear), plus noise."""
    rng = random.Random(9)
    traces, scores, tokens = [], [], []
    for i in range(80):
        total = rng.randrange(100, 3000)
        score = round(1 / (1 + math.exp((total - 1500) / 400)) + rng.gauss(0, 0.05), 4)
        tags = {"quality_score": str(score), "env": "prod"}
        trace, _ = make(request_time=T0_MS + i * 1000, latency_ms=50 + i,
                        input_tokens=total - 10, output_tokens=10, tags=tags,
                        feedback=i % 2 == 0)
        traces.append(trace)
        scores.append(score)
        tokens.append(float(total))
    untagged, _ = make(request_time=T0_MS + 10**6, latency_ms=5)
    store.log_traces([*traces, untagged])
    return store, scores, tokens


def test_correlate_a_tag_with_total_tokens(constructed: tuple) -> None:
    store, scores, tokens = constructed
    result = correlate("tag.quality_score", "tokens.total", experiment_ids=["0"], store=store)
    assert result.n == 80
    assert result.pearson == pytest.approx(scipy.stats.pearsonr(scores, tokens).statistic)
    assert result.spearman == pytest.approx(scipy.stats.spearmanr(scores, tokens).statistic)
    assert result.spearman < -0.8 and result.spearman_p < 1e-10
    assert result.x_coverage.present == 80 and result.y_coverage.present == 81
    assert "a strong negative relationship over 80 traces" in result.summary
    json.dumps(result.to_dict())


def test_latency_feedback_and_filters(constructed: tuple) -> None:
    store, _, _ = constructed
    result = correlate("execution_time_ms", "feedback.quality", "tags.env = 'prod'",
                       experiment_ids=["0"], store=store)
    assert result.n == 80
    even = [1.0 if i % 2 == 0 else 0.0 for i in range(80)]
    assert result.pearson == pytest.approx(
        scipy.stats.pearsonr([50.0 + i for i in range(80)], even).statistic)


def test_a_field_that_is_not_numeric_is_a_clear_error(constructed: tuple) -> None:
    store, _, _ = constructed
    with pytest.raises(InvalidInputError, match=r"tags.env is not numeric: none of its 80 "
                                                r"values reads as a number \(e.g. 'prod'\)"):
        correlate("tags.env", "latency_ms", experiment_ids=["0"], store=store)
    with pytest.raises(InvalidInputError, match=r"no selected trace has tags\.colour"):
        correlate("tags.colour", "latency_ms", experiment_ids=["0"], store=store)
    with pytest.raises(InvalidInputError, match=r"'attributes\.state' is not a numeric field"):
        correlate("attributes.state", "latency_ms", experiment_ids=["0"], store=store)
    with pytest.raises(InvalidInputError, match="unknown field 'colour'"):
        correlate("colour", "latency_ms", experiment_ids=["0"], store=store)
    with pytest.raises(InvalidInputError, match="no traces match"):
        correlate("latency_ms", "tokens.total", "tags.env = 'dev'", experiment_ids=["0"],
                  store=store)


def test_field_names() -> None:
    assert parse_numeric_field("latency_ms") == NumericField("attribute", "latency_ms")
    assert parse_numeric_field("attributes.execution_time_ms") == NumericField(
        "attribute", "latency_ms")
    assert parse_numeric_field("tokens.input") == NumericField("attribute", "input_tokens")
    assert parse_numeric_field("tag.`a.b`") == NumericField("tag", "a.b")
    assert parse_numeric_field("metadata.cost") == NumericField("metadata", "cost")
    assert parse_numeric_field("assessments.relevance.value") == NumericField(
        "assessment", "relevance")
    assert parse_numeric_field("expectation.score") == NumericField("assessment", "score")
