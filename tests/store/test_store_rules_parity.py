"""Every store refuses the same bad input with the same error, word for word.

The rules live once (``trace_rules``, ``assessment_rules`` …, run by ``trace_methods`` and
``analytics_methods``); the stores implement only storage steps. These tests hold them to
it: each bad call runs on the in-memory store, SQLite and PostgreSQL, and all three must
raise the same exception class with the same message and leave the data as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mutation_stores import STORE_KINDS, open_any_store

from factories import make_trace
from spanscope.entities import AssessmentSource, AssessmentSourceType, Feedback, Trace
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError, SpanscopeError
from spanscope.store import trace_rules as rules
from spanscope.store.aggregates import GroupKey, NumericField, Sample, Selection
from spanscope.store.base import (
    AnalyticsStore,
    AssessmentStore,
    DatasetStore,
    ExperimentStore,
    RunStore,
    Store,
    TraceStore,
)
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore, schema

JUDGE = AssessmentSource(AssessmentSourceType.LLM_JUDGE, "judge")


@dataclasses.dataclass
class World:
    """One store with the same small history in it: a trace whose assessment ``a-1`` was
    overridden by ``a-2`` (so ``a-1`` is invalid), and a second trace."""

    store: Store
    trace: Trace
    other: Trace
    current: str  # the id of the assessment that overrides a-1
    run_id: str  # a run with param p = 1
    dataset_id: str  # a dataset named "ds" at version 0


def _world(store: Store) -> World:
    trace, other = make_trace(2), make_trace(1)
    trace.info.assessments = []
    other.info.assessments = []
    store.log_traces([trace, other])
    store.create_assessment(Feedback(name="quality", value=1, trace_id=trace.info.trace_id,
                                     source=JUDGE, assessment_id="a-1"))
    current = store.update_assessment(trace.info.trace_id, "a-1", value=2).assessment_id
    run = store.create_run("0", run_name="r")
    store.log_batch(run.info.run_id, params={"p": 1})
    dataset = store.create_dataset("ds", experiment_ids=["0"])
    return World(store, trace, other, current, run.info.run_id, dataset.dataset_id)


def _feedback(world: World, **kwargs: Any) -> Feedback:
    kwargs.setdefault("trace_id", world.trace.info.trace_id)
    return Feedback(name="quality", value=3, source=JUDGE, **kwargs)


Case = Callable[[World], object]
TRACE = "tr-" + "0" * 32  # an id no store holds


def _log_bad(world: World, **changes: Any) -> None:
    """Log a good new trace and then one with ``changes`` in one batch (all or nothing)."""
    good, bad = make_trace(1), make_trace(1)
    spans = changes.pop("spans", None)
    changes.setdefault("trace_id", TRACE)
    bad = Trace(dataclasses.replace(bad.info, **changes),
                bad.data if spans is None else type(bad.data)(spans))
    world.store.log_traces([good, bad])


def _long_span_id(world: World) -> None:
    span = make_trace(1).data.spans[0]
    _log_bad(world, spans=[dataclasses.replace(span, span_id="s" * 33)])


CASES: dict[str, Case] = {
    # experiments
    "experiment name of 257 characters": lambda w: w.store.create_experiment("x" * 257),
    "empty experiment name": lambda w: w.store.create_experiment(""),
    "blank experiment name": lambda w: w.store.create_experiment("   "),
    "experiment name not a string": lambda w: w.store.create_experiment(None),  # type: ignore[arg-type]
    "experiment name with NUL": lambda w: w.store.create_experiment("a\x00b"),
    "experiment name taken": lambda w: w.store.create_experiment("Default"),
    "experiment id not an integer": lambda w: w.store.get_experiment("abc"),
    "unknown experiment": lambda w: w.store.get_experiment("999"),
    "experiment id beyond 64 bits": lambda w: w.store.get_experiment("9" * 20),
    "search in an experiment id beyond 64 bits": lambda w: w.store.search_traces(["9" * 20]),
    "experiment name to find not a string": lambda w: w.store.get_experiment_by_name(5),  # type: ignore[arg-type]
    # traces to log
    "log something not a trace": lambda w: w.store.log_traces([make_trace(1), object()]),  # type: ignore[list-item]
    "trace id of 65 characters": lambda w: _log_bad(w, trace_id="t" * 65),
    "span id of 33 characters": _long_span_id,
    "trace in an unknown experiment": lambda w: _log_bad(w, experiment_id="999"),
    "trace in a non-integer experiment": lambda w: _log_bad(w, experiment_id="abc"),
    # search
    "search in a non-integer experiment": lambda w: w.store.search_traces(["x"]),
    "max_results 0": lambda w: w.store.search_traces(max_results=0),
    "max_results a bool": lambda w: w.store.search_trace_ids(max_results=True),
    "max_results a string": lambda w: w.store.search_traces(max_results="10"),  # type: ignore[arg-type]
    "filter not a string": lambda w: w.store.search_traces(filter_string=5),  # type: ignore[arg-type]
    "bad filter": lambda w: w.store.search_traces(filter_string="tags.x === 'a'"),
    "bad order_by": lambda w: w.store.search_traces(order_by=["nonsense DESC"]),
    "unknown trace": lambda w: w.store.get_trace(TRACE),
    # tags
    "empty tag key": lambda w: w.store.set_trace_tag(w.trace.info.trace_id, "", "v"),
    "tag key of 251 characters": lambda w: w.store.set_trace_tag(
        w.trace.info.trace_id, "k" * (rules.TAG_KEY_LENGTH + 1), "v"),
    "tag value of 8001 characters": lambda w: w.store.set_trace_tag(
        w.trace.info.trace_id, "k", "v" * (rules.TAG_VALUE_LENGTH + 1)),
    "tag value not a string": lambda w: w.store.set_trace_tag(w.trace.info.trace_id, "k", 5),  # type: ignore[arg-type]
    "tag key with NUL": lambda w: w.store.set_trace_tag(w.trace.info.trace_id, "a\x00", "v"),
    "tag on an unknown trace": lambda w: w.store.set_trace_tag(TRACE, "k", "v"),
    "delete a tag never set": lambda w: w.store.delete_trace_tag(w.trace.info.trace_id, "nope"),
    "delete a tag of an unknown trace": lambda w: w.store.delete_trace_tag(TRACE, "k"),
    # deletion
    "delete without ids or time": lambda w: w.store.delete_traces("0"),
    "delete with ids and time": lambda w: w.store.delete_traces(
        "0", trace_ids=[w.trace.info.trace_id], max_timestamp_millis=1),
    "delete in an unknown experiment": lambda w: w.store.delete_traces(
        "999", trace_ids=[w.trace.info.trace_id]),
    "delete max_traces 0": lambda w: w.store.delete_traces(
        "0", max_timestamp_millis=2**40, max_traces=0),
    "delete ids not strings": lambda w: w.store.delete_trace_ids([1, 2]),  # type: ignore[list-item]
    # assessments
    "override of an invalid assessment": lambda w: w.store.create_assessment(
        _feedback(w, overrides="a-1")),
    "override of an unknown assessment": lambda w: w.store.create_assessment(
        _feedback(w, overrides="a-404")),
    "override of another trace's assessment": lambda w: w.store.create_assessment(
        _feedback(w, trace_id=w.other.info.trace_id, overrides=w.current)),
    "assessment id already used": lambda w: w.store.create_assessment(
        _feedback(w, trace_id=w.other.info.trace_id, assessment_id="a-1")),
    "assessment on an unknown trace": lambda w: w.store.create_assessment(
        _feedback(w, trace_id=TRACE)),
    "assessment name of 251 characters": lambda w: w.store.create_assessment(
        dataclasses.replace(_feedback(w), name="n" * 251)),
    "feedback without value or error": lambda w: w.store.create_assessment(
        dataclasses.replace(_feedback(w), value=None)),
    "update of an overridden assessment": lambda w: w.store.update_assessment(
        w.trace.info.trace_id, "a-1", value=5),
    "update that changes nothing": lambda w: w.store.update_assessment(
        w.trace.info.trace_id, w.current),
    "update with a bad value": lambda w: w.store.update_assessment(
        w.trace.info.trace_id, w.current, value=float("nan")),
    "get an unknown assessment": lambda w: w.store.get_assessment(
        w.trace.info.trace_id, "a-404"),
    "delete an assessment of an unknown trace": lambda w: w.store.delete_assessment(
        TRACE, "a-1"),
    "assessment id empty": lambda w: w.store.delete_assessment(w.trace.info.trace_id, ""),
    # runs and datasets
    "run in a non-integer experiment": lambda w: w.store.create_run("abc"),
    "run in an unknown experiment": lambda w: w.store.create_run("999"),
    "unknown run": lambda w: w.store.get_run("nope"),
    "empty run id": lambda w: w.store.get_metric_history("", "m"),
    "param changed": lambda w: w.store.log_batch(w.run_id, params={"p": 2}),
    "bad run status": lambda w: w.store.update_run_info(w.run_id, status="DONE-ISH"),
    "runs of a non-integer experiment": lambda w: w.store.search_runs(["x"]),
    "dataset name taken": lambda w: w.store.create_dataset("ds"),
    "dataset in an unknown experiment": lambda w: w.store.create_dataset(
        "new", experiment_ids=["999"]),
    "unknown dataset": lambda w: w.store.get_dataset("d-nope"),
    "dataset version not there": lambda w: w.store.get_dataset_records(w.dataset_id,
                                                                       version=9),
    "datasets of a non-integer experiment": lambda w: w.store.search_datasets(["x"]),
    # aggregates
    "bucket_ms 0": lambda w: w.store.trace_stats(Selection(), bucket_ms=0),
    "group_by of a bad kind": lambda w: w.store.model_usage(
        Selection(), group_by=GroupKey("span", "x")),  # type: ignore[arg-type]
    "quantile above 1": lambda w: w.store.span_stats(Selection(), quantiles=[1.5]),
    "edges and selection both bad": lambda w: w.store.latency_histogram(
        Selection(filter_string=5), [2, 1]),  # type: ignore[arg-type]
    "sample of size 0": lambda w: w.store.trace_sample(Selection(), Sample(0)),
    "unknown numeric attribute": lambda w: w.store.numeric_pairs(
        Selection(), NumericField("attribute", "nope"), NumericField("tag", "x")),
    "aggregate over a non-integer experiment": lambda w: w.store.error_spans(
        Selection(experiment_ids=("x",))),
    "aggregate with a bad filter": lambda w: w.store.trace_stats(
        Selection(filter_string="span.name ~ 'x'")),
}


@pytest.fixture
def worlds(sqlite_uri: str, pg_uri: str) -> Iterator[dict[str, World]]:
    opened: dict[str, Store] = {"memory": InMemoryStore(), "sqlite": SqlStore(sqlite_uri),
                                "postgresql": SqlStore(pg_uri)}
    try:
        yield {kind: _world(store) for kind, store in opened.items()}
    finally:
        for store in opened.values():
            store.close()


def _snapshot(world: World) -> list[Any]:
    """What a refused call must leave unchanged, compared as trace JSON."""
    store = world.store
    return ([e.name for e in store.list_experiments()]
            + [len(store.search_trace_ids())]
            + [store.get_trace(t.info.trace_id).to_dict()
               for t in (world.trace, world.other)])


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_store_refuses_alike(worlds: dict[str, World], case: str) -> None:
    errors: dict[str, tuple[type[BaseException], str]] = {}
    for kind, world in worlds.items():
        before = _snapshot(world)
        with pytest.raises(SpanscopeError) as caught:
            CASES[case](world)
        # The message names the generated ids of this world's traces: make them comparable.
        message = str(caught.value)
        for name, trace in (("TRACE", world.trace), ("OTHER", world.other)):
            message = message.replace(trace.info.trace_id, name)
        for name, value in (("CURRENT", world.current), ("RUN", world.run_id),
                            ("DATASET", world.dataset_id)):
            message = message.replace(value, name)
        errors[kind] = (type(caught.value), message)
        assert _snapshot(world) == before, f"{kind} changed data while refusing: {case}"
    assert errors["memory"] == errors["sqlite"] == errors["postgresql"], errors
    assert issubclass(errors["memory"][0], (InvalidInputError, NotFoundError, FilterError))


@pytest.mark.parametrize(("field", "value"), [("tags", {"k" * 251: "v"}),
                                            ("trace_metadata", {"": "v", "n": "a\x00b"})])
def test_every_store_keeps_a_trace_with_a_bad_field_cleaned_alike(
        worlds: dict[str, World], field: str, value: dict[str, str]) -> None:
    """A field over its limit is cut or cleaned, never the cause of a lost trace."""
    kept = {}
    for kind, world in worlds.items():
        trace = make_trace(1)
        getattr(trace.info, field).update(value)
        world.store.log_traces([trace])
        stored = world.store.get_trace(trace.info.trace_id).info
        kept[kind] = (sorted(stored.tags.items()) if field == "tags"
                      else sorted(stored.trace_metadata.items()))
        kept[kind] = [(k, v) for k, v in kept[kind] if not k.startswith("mlflow.")
                      and k != "spanscope.cleanedFields"]
    assert kept["memory"] == kept["sqlite"] == kept["postgresql"], kept
    assert all("\x00" not in k + v and len(k) <= 250 for k, v in kept["memory"])


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    yield from open_any_store(request)


def test_each_store_states_every_protocol(any_store: Store) -> None:
    for protocol in (ExperimentStore, AssessmentStore, TraceStore, AnalyticsStore, RunStore,
                     DatasetStore, Store):
        assert isinstance(any_store, protocol), protocol.__name__


def test_undo_of_an_override_is_the_same_everywhere(any_store: Store) -> None:
    world = _world(any_store)
    trace_id = world.trace.info.trace_id
    any_store.delete_assessment(trace_id, world.current)
    restored = any_store.get_assessment(trace_id, "a-1")
    assert restored.valid and restored.value == 1


def test_each_protocol_is_small() -> None:
    own = {protocol: [name for name, value in vars(protocol).items()
                      if callable(value) and not name.startswith("_")]
           for protocol in (ExperimentStore, AssessmentStore, TraceStore, AnalyticsStore,
                            RunStore, DatasetStore)}
    assert all(0 < len(methods) <= 12 for methods in own.values()), own
    everything = {name for methods in own.values() for name in methods}
    assert len(everything) == sum(len(methods) for methods in own.values())  # no overlap


def test_rule_limits_match_the_sql_columns() -> None:
    assert rules.EXPERIMENT_NAME_LENGTH == schema.EXPERIMENT_NAME_LENGTH
    assert rules.TAG_KEY_LENGTH == schema.KEY_LENGTH
    assert rules.ASSESSMENT_ID_LENGTH == schema.ASSESSMENT_ID_LENGTH
    assert rules.SPAN_ID_LENGTH == schema.SPAN_ID_LENGTH
