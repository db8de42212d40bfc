"""Retention rules and the retention pass on SQLite, PostgreSQL and memory://: the issue's
example comes out right, the dry run attributes deletions to rules, lineage links go
with the deleted traces, and a database at revision 0006 migrates to hold rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from factories import make_trace
from spanscope.entities import Trace
from spanscope.entities.dataset import RecordUpdate, trace_source
from spanscope.entities.sampling import in_sample, sample_fraction_of
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.lifecycle.retention import apply_retention, candidate_filter
from spanscope.store.memory import InMemoryStore
from spanscope.store.retention import RetentionStore, open_retention_store
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import alembic_config

DAY = 86_400_000
NOW = 1_800_000_000_000


@pytest.fixture
def rules(store: SqlStore) -> Iterator[RetentionStore]:
    opened = open_retention_store(store)
    yield opened
    opened.close()


def _population(experiment_id: str = "0", n: int = 300) -> list[Trace]:
    """Traces of every age from 0 to 119 days, a quarter ERROR, some tagged keep."""
    traces = []
    for i in range(n):
        age = (i * 7 % 120) * DAY + 1000
        traces.append(make_trace(2, request_time=NOW - age,
                                 state="ERROR" if i % 4 == 0 else "OK",
                                 tags={"keep": "true"} if i % 29 == 0 else None,
                                 experiment_id=experiment_id))
    return traces


def _issue_rules(rules: RetentionStore, experiment_id: str = "0") -> list[str]:
    return [rules.add_rule(experiment_id, filter_string="attributes.status = 'ERROR'",
                           keep_ms=90 * DAY, name="errors").rule_id,
            rules.add_rule(experiment_id, filter_string="attributes.status != 'ERROR'",
                           keep_ms=7 * DAY, sample_fraction=0.1, name="sample").rule_id,
            rules.add_rule(experiment_id, filter_string="tags.keep = 'true'",
                           name="pinned").rule_id]


def _expected_kept(traces: list[Trace]) -> set[str]:
    """The issue's example, written out trace by trace."""
    kept = set()
    for trace in traces:
        info = trace.info
        age = NOW - info.request_time
        error = info.state == "ERROR"
        if (error and age < 90 * DAY) or info.tags.get("keep") == "true" or (
                not error and age < 7 * DAY and sample_fraction_of(info.trace_id) < 0.1):
            kept.add(info.trace_id)
    return kept


def test_the_issue_example_keeps_exactly_what_it_says(store: SqlStore,
                                                     rules: RetentionStore) -> None:
    traces = _population()
    store.log_traces(traces)
    errors, sample, pinned = _issue_rules(rules)
    expected = _expected_kept(traces)
    assert 0 < len(expected) < len(traces)

    dry = apply_retention(store, now_ms=NOW, dry_run=True)
    assert dry.deleted == len(traces) - len(expected)
    assert len(store.search_trace_ids(None)) == len(traces)  # nothing deleted
    [outcome] = dry.experiments
    by_rule = outcome.deleted_by_rule
    # expired ERROR traces (90 to 119 days, untagged) are the "errors" rule's deletions
    assert by_rule[errors] == sum(
        1 for t in traces if t.info.state == "ERROR" and NOW - t.info.request_time >= 90 * DAY
        and t.info.tags.get("keep") != "true")
    assert by_rule[sample] == sum(
        1 for t in traces if t.info.state != "ERROR" and t.info.tags.get("keep") != "true"
        and in_sample(t.info.trace_id, 0.1) and NOW - t.info.request_time >= 7 * DAY)
    assert by_rule[pinned] == 0
    assert by_rule[errors] + by_rule[sample] + outcome.unmatched == dry.deleted

    report = apply_retention(store, now_ms=NOW, actor="test")
    assert report.deleted == dry.deleted
    assert set(store.search_trace_ids(None)) == expected
    [entry] = rules.list_deletions(kind="retention")
    assert entry.counts["traces"] == report.deleted and entry.actor == "test"
    # a second pass at the same time finds nothing more; later, more expires
    assert apply_retention(store, now_ms=NOW).deleted == 0
    later = apply_retention(store, now_ms=NOW + 100 * DAY)
    assert set(store.search_trace_ids(None)) == {
        t.info.trace_id for t in traces if t.info.tags.get("keep") == "true"}
    assert later.deleted == len(expected) - len(store.search_trace_ids(None))


def test_experiments_without_rules_are_never_touched(store: SqlStore,
                                                     rules: RetentionStore) -> None:
    other = store.create_experiment("untouched")
    store.log_traces(_population("0", 40) + _population(other, 40))
    rules.add_rule("0", keep_ms=30 * DAY)
    report = apply_retention(store, now_ms=NOW)
    assert [e.experiment_id for e in report.experiments] == ["0"]
    assert len(store.search_trace_ids([other])) == 40
    left = store.search_traces(["0"], max_results=1000, include_spans=False)
    assert left and all(NOW - t.info.request_time < 30 * DAY for t in left)
    assert report.experiments[0].unmatched == 0


def test_a_catch_all_rule_forever_keeps_everything(store: SqlStore,
                                                   rules: RetentionStore) -> None:
    store.log_traces(_population(n=30))
    rules.add_rule("0", filter_string="attributes.status = 'ERROR'", keep_ms=DAY)
    rules.add_rule("0")  # no filter, no duration: everything, forever
    assert candidate_filter(rules.list_rules("0"), NOW) == (False, None)
    assert apply_retention(store, now_ms=NOW).deleted == 0


def test_deleted_traces_take_their_dataset_lineage_links(store: SqlStore,
                                                         rules: RetentionStore) -> None:
    old, young = make_trace(2, request_time=NOW - 40 * DAY), make_trace(2, request_time=NOW)
    store.log_traces([old, young])
    dataset = store.create_dataset("from traces")
    store.merge_dataset_records(dataset.dataset_id, [
        RecordUpdate(inputs={"q": t.info.trace_id[-6:]}, source=trace_source(t.info.trace_id),
                     source_trace_id=t.info.trace_id) for t in (old, young)])
    rules.add_rule("0", keep_ms=30 * DAY)
    report = apply_retention(store, now_ms=NOW)
    assert report.deleted == 1 and report.experiments[0].dataset_records_unlinked == 1
    records = store.get_dataset_records(dataset.dataset_id)
    assert len(records) == 2  # the records stay; only the link to the deleted trace goes
    assert sorted((r.source_trace_id or "") for r in records) == ["", young.info.trace_id]


def test_rules_are_checked_and_listed(store: SqlStore, rules: RetentionStore) -> None:
    with pytest.raises(FilterError):
        rules.add_rule("0", filter_string="attributes.nope = 1")
    for bad in ({"keep_ms": 0}, {"keep_ms": -5}, {"sample_fraction": 0},
                {"sample_fraction": 1.5}, {"name": "x" * 300}):
        with pytest.raises(InvalidInputError):
            rules.add_rule("0", **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        rules.add_rule("404", keep_ms=DAY)
    first = rules.add_rule("0", keep_ms=DAY, name=" short ")
    second = rules.add_rule(store.create_experiment("b"), filter_string=" tags.a = 'b' ")
    assert first.name == "short" and second.filter_string == "tags.a = 'b'"
    assert [r.rule_id for r in rules.list_rules()] == [first.rule_id, second.rule_id]
    assert rules.list_rules("0") == [first]
    assert rules.delete_rule(first.rule_id) == first
    with pytest.raises(NotFoundError):
        rules.delete_rule(first.rule_id)
    assert rules.list_rules("0") == []


def test_memory_store_applies_the_same_rules() -> None:
    store = InMemoryStore()
    traces = _population(n=120)
    store.log_traces(traces)
    rules = open_retention_store(store)
    _issue_rules(rules)
    report = apply_retention(store, now_ms=NOW)
    assert set(store.search_trace_ids(None)) == _expected_kept(traces)
    assert report.deleted == 120 - len(_expected_kept(traces))
    assert len(open_retention_store(store).list_rules()) == 3  # kept beside that store


def test_sample_fraction_is_uniform_fixed_and_nested() -> None:
    ids = [f"tr-{i:032x}" for i in range(20_000)]
    values = [sample_fraction_of(i) for i in ids]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values == [sample_fraction_of(i) for i in ids]
    assert 0.09 < sum(v < 0.1 for v in values) / len(ids) < 0.11
    assert {i for i in ids if in_sample(i, 0.05)} <= {i for i in ids if in_sample(i, 0.1)}


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_a_database_at_0006_migrates_and_keeps_its_traces(store_uri: str) -> None:
    with SqlStore(store_uri) as store:
        store.log_traces([make_trace(2, request_time=NOW - 40 * DAY)])
    engine = sa.create_engine(parse_uri(store_uri))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0006")
        assert "retention_rules" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    with SqlStore(store_uri) as store:  # reopening migrates to 0010
        rules = open_retention_store(store)
        rules.add_rule("0", keep_ms=30 * DAY)
        assert apply_retention(store, now_ms=NOW, retention=rules).deleted == 1
        rules.close()
