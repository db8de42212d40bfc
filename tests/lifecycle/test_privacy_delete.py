"""Privacy deletion on SQLite and PostgreSQL: every trace of a user or session goes, with
everything that names it, checked over every table the database holds (reflected, so a
table added later is covered without editing this test)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from factories import make_trace, sample_assessments
from spanscope.entities.dataset import RecordUpdate, trace_source
from spanscope.exceptions import InvalidInputError
from spanscope.lifecycle.privacy import delete_user_data
from spanscope.store.retention import open_retention_store, selector_digest
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri

pytestmark = pytest.mark.filterwarnings("ignore:.*expression-based index")

USER = "user-zq9x-7781@example.org"
OTHER = "user-other-1234"


def _seed(store: SqlStore) -> tuple[list[str], list[str], str]:
    """Traces of USER (in two experiments, with tags, metadata, assessments, dataset
    records) and of OTHER; returns (user's trace ids, other's trace ids, dataset id)."""
    second = store.create_experiment("second")
    mine = [make_trace(4, user_id=USER, session_id=f"s-{USER}-{i}", tags={"who": USER},
                       metadata={"customer": USER}, question=f"I am {USER}, help me ({i})",
                       assessments=sample_assessments(), experiment_id=("0", second)[i % 2])
            for i in range(6)]
    theirs = [make_trace(3, user_id=OTHER, session_id="s-other", assessments=sample_assessments(),
                         question=f"question {i} of the other user") for i in range(4)]
    store.log_traces(mine + theirs)
    dataset = store.create_dataset("golden", experiment_ids=["0"])
    store.merge_dataset_records(dataset.dataset_id, [
        RecordUpdate(inputs={"question": t.info.request_preview or t.info.trace_id},
                     expectations={"answer": "Paris"}, source=trace_source(t.info.trace_id),
                     source_trace_id=t.info.trace_id) for t in mine[:2] + theirs[:2]])
    # a second version, changing one of the user's records and one of the other's
    store.merge_dataset_records(dataset.dataset_id, [
        RecordUpdate(inputs={"question": t.info.request_preview or t.info.trace_id},
                     expectations={"answer": "Paris, France"}) for t in (mine[0], theirs[0])])
    return ([t.info.trace_id for t in mine], [t.info.trace_id for t in theirs],
            dataset.dataset_id)


def _rows_naming(uri: str, needles: list[str]) -> dict[str, int]:
    """Rows, per table and column, whose text contains any needle: every table and every
    text column of the database, found by reflection."""
    engine = sa.create_engine(parse_uri(uri))
    found: dict[str, int] = {}
    try:
        reflected = sa.MetaData()
        reflected.reflect(engine)
        assert len(reflected.tables) >= 19  # the schema, not an empty database
        with engine.connect() as conn:
            for table in reflected.tables.values():
                for column in table.columns:
                    if not isinstance(column.type, (sa.String, sa.Text)):
                        continue
                    for needle in needles:
                        count = conn.execute(sa.select(sa.func.count()).select_from(table).where(
                            column.contains(needle, autoescape=True))).scalar_one()
                        if count:
                            key = f"{table.name}.{column.name}"
                            found[key] = found.get(key, 0) + count
    finally:
        engine.dispose()
    return found


def test_privacy_deletion_leaves_no_row_of_the_user_in_any_table(store: SqlStore) -> None:
    mine, theirs, dataset_id = _seed(store)
    needles = [USER, *mine]
    before = _rows_naming(store.uri, needles)
    assert {"traces.user_id", "trace_tags.value", "trace_metadata.value", "spans.content",
            "assessments.trace_id", "dataset_records.source_trace_id",
            "trace_model_usage.trace_id"} <= set(before)  # the check can see each kind

    dry = delete_user_data(store, user_id=USER, dry_run=True)
    assert (dry.traces, dry.spans, dry.dataset_records) == (6, 24, 2)
    assert _rows_naming(store.uri, needles) == before  # a dry run deletes nothing

    report = delete_user_data(store, user_id=USER, actor="dpo@example.org")
    assert report.traces == 6
    assert report.spans == 24
    assert report.assessments == 6 * len(sample_assessments())
    assert report.dataset_records == 2
    assert report.dataset_records_action == "remove"
    assert _rows_naming(store.uri, needles) == {}

    # the other user's traces, assessments and records are intact
    assert sorted(store.search_trace_ids(None)) == sorted(theirs)
    assert all(len(store.get_trace(t).info.assessments) == len(sample_assessments())
               for t in theirs)
    records = store.get_dataset_records(dataset_id)
    assert sorted(r.source_trace_id for r in records) == sorted(theirs[:2])
    dataset = store.get_dataset(dataset_id)
    assert dataset.record_count == 2
    assert [(v.version, v.record_count) for v in store.list_dataset_versions(dataset_id)] == [
        (0, 0), (1, 2), (2, 2)]
    assert len(store.get_dataset_records(dataset_id, version=1)) == 2

    # the log says who, when, what and how much, with the id as its hash only
    side = open_retention_store(store)
    try:
        [entry] = side.list_deletions(kind="privacy")
    finally:
        side.close()
    assert entry.deletion_id == report.deletion_id
    assert entry.actor == "dpo@example.org"
    assert entry.selector["user_id"] == selector_digest(USER)
    assert entry.counts["traces"] == 6 and entry.counts["dataset_records"] == 2


def test_keeping_dataset_records_unlinks_them_from_the_deleted_traces(store: SqlStore) -> None:
    mine, theirs, dataset_id = _seed(store)
    report = delete_user_data(store, user_id=USER, dataset_records="keep")
    assert (report.traces, report.dataset_records, report.dataset_records_action) == (
        6, 2, "keep")
    records = store.get_dataset_records(dataset_id)
    assert len(records) == 4
    assert sorted(r.source_trace_id for r in records if r.source_trace_id) == sorted(theirs[:2])
    assert [r.source for r in records if r.source_trace_id is None] == [None, None]
    # no row names a deleted trace any more (the records keep the inputs the caller chose)
    assert _rows_naming(store.uri, mine) == {}


def test_deleting_by_session_takes_only_that_session(store: SqlStore) -> None:
    mine, _, _ = _seed(store)
    report = delete_user_data(store, session_id=f"s-{USER}-3")
    assert report.traces == 1
    assert mine[3] not in store.search_trace_ids(None)
    assert len(store.search_trace_ids(None)) == 9


def test_scope_to_experiments(store: SqlStore) -> None:
    mine, _, _ = _seed(store)
    report = delete_user_data(store, user_id=USER, experiment_ids=["0"])
    assert report.traces == 3
    assert sorted(store.search_trace_ids(None, filter_string=f"attributes.user_id = '{USER}'")
                  ) == sorted(mine[1::2])


@pytest.mark.parametrize("arguments", [
    {}, {"user_id": "u", "session_id": "s"}, {"user_id": ""}, {"user_id": 7},
    {"user_id": "u", "dataset_records": "archive"}])
def test_bad_arguments_are_refused(store: SqlStore, arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        delete_user_data(store, **arguments)  # type: ignore[arg-type]


def test_an_id_with_quotes_is_matched_exactly(store: SqlStore) -> None:
    odd = "o'brien\\ \" OR 1=1"
    store.log_traces([make_trace(2, user_id=odd), make_trace(2, user_id="o")])
    assert delete_user_data(store, user_id=odd).traces == 1
    assert len(store.search_trace_ids(None)) == 1


def test_memory_store_removes_or_unlinks_the_same_records() -> None:
    from spanscope.store.memory import InMemoryStore

    for action, left in (("remove", 2), ("keep", 4)):
        store = InMemoryStore()
        _, theirs, dataset_id = _seed(store)  # type: ignore[arg-type]
        report = delete_user_data(store, user_id=USER, dataset_records=action)
        assert (report.traces, report.spans, report.dataset_records) == (6, 24, 2)
        assert sorted(store.search_trace_ids(None)) == sorted(theirs)
        records = store.get_dataset_records(dataset_id)
        assert len(records) == left
        assert {r.source_trace_id for r in records} - {None} == set(theirs[:2])
        assert store.get_dataset(dataset_id).record_count == left
        assert [v.record_count for v in store.list_dataset_versions(dataset_id)] == [
            0, left, left]
        assert all(len(store.get_dataset_records(dataset_id, version=v)) == left
                   for v in (1, 2))
