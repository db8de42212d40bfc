"""``build_dataset_from_traces``: stratified, deduplicated, reproducible sampling.

Traces are built with known states, durations (``make_trace`` spans: 2 spans = 17 ms,
6 spans = 45 ms) and tags, logged to real stores, and the sample is checked stratum by
stratum against the proportional allocation.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest

import spanscope
from factories import make_trace
from spanscope.entities import AssessmentSource, Expectation, Trace
from spanscope.evaluation.sampling import allocate
from spanscope.exceptions import InvalidInputError
from spanscope.genai.datasets import build_dataset_from_traces, get_dataset

FAST, SLOW = 2, 6  # spans -> 17 ms and 45 ms


@pytest.fixture
def uri(store_uri: str) -> Iterator[str]:
    spanscope.set_tracking_uri(store_uri)
    yield store_uri


def _log(spec: list[tuple[int, str, int, dict[str, str] | None]]) -> dict[str, Trace]:
    """Log ``count`` traces per (count, state, spans, tags); returns them by trace id."""
    traces = []
    for count, state, spans, tags in spec:
        for _ in range(count):
            traces.append(make_trace(spans, state=state, tags=tags,
                                     question=f"question {len(traces)}"))
    spanscope.tracking.get_store().log_traces(traces)
    return {t.info.trace_id: t for t in traces}


def _stratum(trace: Trace) -> tuple[str, str]:
    return (str(trace.info.state), "slow" if trace.info.execution_duration > 17 else "fast")


def test_allocation_is_proportional_with_a_floor_of_one() -> None:
    sizes = {("a",): 600, ("b",): 300, ("c",): 60, ("d",): 40}
    alloc = allocate(sizes, 20)
    assert sum(alloc.values()) == 20
    for key, size in sizes.items():
        assert abs(alloc[key] - 20 * size / 1000) <= 1
    rare = allocate({("ok",): 990, ("error",): 10}, 10)
    assert rare == {("ok",): 9, ("error",): 1}  # 0.1 rounds to 0, but every stratum gets one
    assert allocate({("a",): 3, ("b",): 2}, 10) == {("a",): 3, ("b",): 2}  # everything
    assert allocate({("a",): 5, ("b",): 0}, 3) == {("a",): 3, ("b",): 0}
    few = allocate({(k,): 10 for k in "abcde"}, 2, random.Random(1))
    assert sorted(few.values()) == [0, 0, 0, 1, 1]


def test_sample_follows_the_strata_proportions(uri: str) -> None:
    traces = _log([(60, "OK", FAST, None), (30, "OK", SLOW, None),
                   (6, "ERROR", FAST, None), (4, "ERROR", SLOW, None)])
    ds = build_dataset_from_traces("mix", max_records=20)
    rows = ds.to_df().to_dict(orient="records")
    assert len(rows) == 20
    counts = Counter(_stratum(traces[r["source_trace_id"]]) for r in rows)
    sizes = {("OK", "fast"): 60, ("OK", "slow"): 30, ("ERROR", "fast"): 6,
             ("ERROR", "slow"): 4}
    for key, size in sizes.items():
        assert abs(counts[key] - 20 * size / 100) <= 1, (key, counts)
    assert counts[("ERROR", "slow")] >= 1
    sample = ds.last_sample
    assert sample.latency_threshold_ms == 17.0
    assert sample.taken == sample.allocation
    # records carry lineage and the trace's inputs and outputs
    first = traces[rows[0]["source_trace_id"]]
    assert rows[0]["inputs"] == first.data.root_span.inputs
    assert rows[0]["outputs"] == first.data.root_span.outputs


def test_rare_errors_are_represented(uri: str) -> None:
    traces = _log([(98, "OK", FAST, None), (2, "ERROR", FAST, None)])
    ds = build_dataset_from_traces("rare", max_records=10, stratify_by=["state"])
    states = Counter(str(traces[t].info.state) for t in ds.to_df()["source_trace_id"])
    assert states == {"OK": 9, "ERROR": 1}


def test_tags_are_a_stratification_dimension(uri: str) -> None:
    traces = _log([(30, "OK", FAST, {"route": "billing"}), (15, "OK", FAST, {"route": "auth"}),
                   (3, "OK", FAST, {"route": "legal"}), (2, "OK", FAST, None)])
    ds = build_dataset_from_traces("routes", max_records=10, stratify_by=["tags.route"])
    routes = Counter(traces[t].info.tags.get("route", "(none)")
                     for t in ds.to_df()["source_trace_id"])
    expected = {"billing": 6, "auth": 3, "legal": 1, "(none)": 1}  # 6.0, 3.0, 0.6, 0.4
    for route, share in expected.items():
        assert abs(routes[route] - share) <= 1, routes
    assert routes["legal"] >= 1 and routes["(none)"] >= 1
    assert sum(routes.values()) == 10
    tag_alias = build_dataset_from_traces("routes-2", max_records=10,
                                          stratify_by=["tag.route"])
    assert tag_alias.digest == ds.digest


def test_duplicate_inputs_are_skipped_and_the_slots_refilled(uri: str) -> None:
    store = spanscope.tracking.get_store()
    same = [make_trace(FAST, question="same question") for _ in range(30)]
    distinct = [make_trace(FAST, question=f"q{i}") for i in range(10)]
    store.log_traces(same + distinct)
    ds = build_dataset_from_traces("dedupe", max_records=8, stratify_by=["state"])
    frame = ds.to_df()
    assert len(frame) == 8
    questions = [r["question"] for r in frame["inputs"]]
    assert len(set(questions)) == 8
    assert ds.last_sample.skipped.get("duplicate inputs", 0) >= 1


def test_sampling_is_deterministic_for_a_seed(uri: str) -> None:
    _log([(40, "OK", FAST, None), (20, "OK", SLOW, None), (10, "ERROR", SLOW, None)])
    a = build_dataset_from_traces("seed-a", max_records=12, seed=7)
    b = build_dataset_from_traces("seed-b", max_records=12, seed=7)
    c = build_dataset_from_traces("seed-c", max_records=12, seed=8)
    assert a.last_sample.trace_ids == b.last_sample.trace_ids
    assert a.digest == b.digest
    assert set(a.last_sample.trace_ids) != set(c.last_sample.trace_ids)


def test_filter_expectations_and_merging_into_an_existing_dataset(uri: str) -> None:
    human = AssessmentSource("HUMAN", "reviewer")
    labelled = make_trace(FAST, question="labelled", tags={"reviewed": "yes"},
                          assessments=[Expectation(name="expected_response", value="42",
                                                   source=human)])
    others = [make_trace(FAST, question=f"other {i}") for i in range(5)]
    spanscope.tracking.get_store().log_traces([labelled, *others])
    ds = build_dataset_from_traces("reviewed", filter_string="tags.reviewed = 'yes'")
    (row,) = ds.to_df().to_dict(orient="records")
    assert row["source_trace_id"] == labelled.info.trace_id
    assert row["expectations"] == {"expected_response": "42"}
    again = build_dataset_from_traces("reviewed", filter_string="tags.reviewed IS NULL",
                                      max_records=3)  # exists: merged into it
    assert again.dataset_id == ds.dataset_id and again.version == 2
    assert get_dataset("reviewed").record_count == 4


def test_bad_arguments(uri: str) -> None:
    _log([(3, "OK", FAST, None)])
    with pytest.raises(InvalidInputError, match="cannot stratify by 'colour'"):
        build_dataset_from_traces("x", stratify_by=["colour"])
    with pytest.raises(InvalidInputError, match="max_records"):
        build_dataset_from_traces("x", max_records=0)
    empty = build_dataset_from_traces("nothing", filter_string="tags.none = 'x'")
    assert empty.version == 0 and empty.record_count == 0


def test_stratify_by_reads_names_as_the_filter_language_does() -> None:
    from spanscope.evaluation.sampling import _dimension

    assert _dimension("STATUS") == _dimension("attributes.state") == ("state", None)
    assert _dimension("execution_time") == _dimension("latency") == ("latency", None)
    assert _dimension("tag.`app.version`") == _dimension("tags.app.version") == (
        "tag", "app.version")
    assert _dimension('request_metadata."a b"') == ("metadata", "a b")
    for bad in ("colour", "tags.", "span.name", "tags.`open"):
        with pytest.raises(InvalidInputError, match="cannot stratify"):
            _dimension(bad)
