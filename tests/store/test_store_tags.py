"""``set_trace_tag`` / ``delete_trace_tag`` on SQLite, PostgreSQL and the in-memory store."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from mutation_stores import STORE_KINDS, open_any_store

from factories import make_trace
from spanscope.entities import Trace, TraceData
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.base import TraceStore
from spanscope.store.mutations import TAG_KEY_LENGTH, TAG_VALUE_LENGTH
from spanscope.store.sql import SqlStore, schema
from spanscope.store.sql.engine import parse_uri

UNKNOWN = "tr-" + "f" * 32


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest) -> Iterator[TraceStore]:
    yield from open_any_store(request)


@pytest.fixture
def stored(any_store: TraceStore) -> str:
    trace = make_trace(3, tags={"env": "prod", "team": "search"})
    any_store.log_traces([trace, make_trace(2)])
    return trace.info.trace_id


def tags_of(store: TraceStore, trace_id: str) -> list[tuple[str, str]]:
    return list(store.get_trace(trace_id).info.tags.items())


def test_new_tag_goes_after_the_existing_ones(any_store: TraceStore, stored: str) -> None:
    any_store.set_trace_tag(stored, "reviewed", "yes")
    any_store.set_trace_tag(stored, "a_first_alphabetically", "1")
    assert tags_of(any_store, stored) == [
        ("mlflow.traceName", "agent"), ("env", "prod"), ("team", "search"),
        ("reviewed", "yes"), ("a_first_alphabetically", "1")]
    # the trace JSON carries them in that order too
    assert list(any_store.get_trace(stored).to_dict()["info"]["tags"]) == [
        "mlflow.traceName", "env", "team", "reviewed", "a_first_alphabetically"]


def test_setting_a_known_key_replaces_the_value_in_place(any_store: TraceStore,
                                                         stored: str) -> None:
    any_store.set_trace_tag(stored, "env", "staging")
    any_store.set_trace_tag(stored, "env", "staging")  # same value again: no change
    assert tags_of(any_store, stored) == [
        ("mlflow.traceName", "agent"), ("env", "staging"), ("team", "search")]


def test_tags_show_in_search_results_without_spans(any_store: TraceStore, stored: str) -> None:
    any_store.set_trace_tag(stored, "label", "golden")
    found = {t.info.trace_id: t for t in any_store.search_traces(include_spans=False)}
    assert found[stored].info.tags["label"] == "golden"
    assert all("label" not in t.info.tags for i, t in found.items() if i != stored)


def test_delete_removes_only_that_tag(any_store: TraceStore, stored: str) -> None:
    any_store.delete_trace_tag(stored, "env")
    assert tags_of(any_store, stored) == [("mlflow.traceName", "agent"), ("team", "search")]
    any_store.set_trace_tag(stored, "env", "again")  # re-added: now last
    assert tags_of(any_store, stored)[-1] == ("env", "again")


def test_deleting_a_missing_tag_names_tag_and_trace(any_store: TraceStore, stored: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        any_store.delete_trace_tag(stored, "nope")
    assert str(caught.value) == f"tag 'nope' not found on trace {stored!r}"


@pytest.mark.parametrize("call", ["set", "delete"])
def test_unknown_trace_is_not_found(any_store: TraceStore, stored: str, call: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        if call == "set":
            any_store.set_trace_tag(UNKNOWN, "k", "v")
        else:
            any_store.delete_trace_tag(UNKNOWN, "k")
    assert str(caught.value) == f"trace {UNKNOWN!r} not found"
    assert tags_of(any_store, stored)[-1] == ("team", "search")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("", "v", "tag key must be a non-empty string"),
    (None, "v", "tag key must be a non-empty string"),
    ("k" * (TAG_KEY_LENGTH + 1), "v", "the limit is 250"),
    ("bad\x00key", "v", "NUL"),
    ("k", 0.5, "the value must be a string, got float"),
    ("k", None, "the value must be a string, got NoneType"),
    ("k", "v" * (TAG_VALUE_LENGTH + 1), "the limit is 8000"),
    ("k", "nul\x00value", "NUL"),
])
def test_bad_keys_and_values_are_rejected(any_store: TraceStore, stored: str, key: object,
                                          value: object, message: str) -> None:
    before = tags_of(any_store, stored)
    with pytest.raises(InvalidInputError) as caught:
        any_store.set_trace_tag(stored, key, value)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert tags_of(any_store, stored) == before


def test_limits_are_inclusive_and_unicode_is_kept(any_store: TraceStore, stored: str) -> None:
    key, value = "ключ" * 62 + "k" * 2, "東" * TAG_VALUE_LENGTH
    assert len(key) == TAG_KEY_LENGTH
    any_store.set_trace_tag(stored, key, value)
    any_store.set_trace_tag(stored, "empty", "")
    tags = any_store.get_trace(stored).info.tags
    assert tags[key] == value
    assert tags["empty"] == ""


def test_non_string_trace_id_is_invalid(any_store: TraceStore) -> None:
    with pytest.raises(InvalidInputError, match="trace id must be a non-empty string"):
        any_store.set_trace_tag(42, "k", "v")  # type: ignore[arg-type]


def test_a_set_tag_survives_a_later_upsert_of_the_trace(any_store: TraceStore) -> None:
    trace = make_trace(2)
    any_store.log_traces([trace])
    any_store.set_trace_tag(trace.info.trace_id, "label", "keep me")
    any_store.log_traces([trace])  # the same trace arrives again (e.g. over OTLP)
    assert any_store.get_trace(trace.info.trace_id).info.tags["label"] == "keep me"


def test_concurrent_writers_each_add_their_tag(any_store: TraceStore, stored: str) -> None:
    """Positions are max+1 under the trace's lock: no writer loses its tag or its place."""
    errors: list[BaseException] = []

    def tag(i: int) -> None:
        try:
            for j in range(5):
                any_store.set_trace_tag(stored, f"w{i}-{j}", str(j))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tag, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tags = any_store.get_trace(stored).info.tags
    assert {k for k in tags if k.startswith("w")} == {f"w{i}-{j}" for i in range(4)
                                                      for j in range(5)}
    for i in range(4):  # each writer's tags in the order it wrote them
        own = [k for k in tags if k.startswith(f"w{i}-")]
        assert own == [f"w{i}-{j}" for j in range(5)]


# --- SQL only: the summary row follows the trace-name tag -------------------------------
def _name_column(uri: str, trace_id: str) -> str | None:
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(schema.traces.c.name)
                                .where(schema.traces.c.trace_id == trace_id)).scalar()
    finally:
        engine.dispose()


def test_trace_name_tag_names_a_trace_without_root_span(store: SqlStore,
                                                        store_uri: str) -> None:
    full = make_trace(2, name="root_name")
    child = next(s for s in full.data.spans if s.parent_id is not None)
    partial = Trace(full.info, TraceData([child]))  # only a child span arrived so far
    partial.info.tags = {}
    rooted = make_trace(2, name="rooted")
    store.log_traces([partial, rooted])
    assert _name_column(store_uri, full.info.trace_id) is None
    store.set_trace_tag(full.info.trace_id, "mlflow.traceName", "named_by_tag")
    store.set_trace_tag(rooted.info.trace_id, "mlflow.traceName", "ignored")
    assert _name_column(store_uri, full.info.trace_id) == "named_by_tag"
    assert _name_column(store_uri, rooted.info.trace_id) == "rooted"  # the root span wins
    store.delete_trace_tag(full.info.trace_id, "mlflow.traceName")
    assert _name_column(store_uri, full.info.trace_id) is None
