"""The value index (migration 0005) and the plans that use it.

A top-level tag/metadata equality can run two ways (``spanscope.store.sql.search``):
scan the experiment and probe each trace, or look the value up in
``(key, substr(value, 1, 64), trace_id)``. Both must mean exactly what the reference
evaluator means, on SQLite and PostgreSQL, including values longer than the indexed
prefix, values that share it, NUL (SQLite), and comparisons under NOT and OR. Then: which
plan a search picks, that SQLite really uses the index, long values on PostgreSQL, and
the migration on a store that already holds data.
"""

from __future__ import annotations

import itertools
import random

import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.schema import CreateIndex

from factories import make_trace
from spanscope.entities import Trace
from spanscope.entities.limits import clean_trace
from spanscope.query import filter_traces
from spanscope.store.aggregates import Sample, Selection
from spanscope.store.base import TraceStore
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore, schema
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import alembic_config
from spanscope.store.sql.planner import SCAN, Plan, lookup_cap, value_lookups
from spanscope.store.sql.search import SearchQuery

N = schema.VALUE_PREFIX_LENGTH
LONG = "x" * N  # exactly the indexed prefix
LONG_A, LONG_B = LONG + "a", LONG + "b"  # share the prefix, differ after it
WIDE = "y" * (N - 1) + "é" + "tail"  # a two-byte character is the prefix's last one
VALUES = ["prod", "dev", "", "é", "it's", "a%b", LONG, LONG_A, LONG_B, WIDE, "é" * (N + 6)]
KEYS = ["env", "version"]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _traces(tag_values: list[dict[str, str]], meta_values: list[dict[str, str]],
            experiment_id: str = "0") -> list[Trace]:
    return [make_trace(1, tags=tags, metadata=meta, request_time=1_700_000_000_000 + i,
                       experiment_id=experiment_id)
            for i, (tags, meta) in enumerate(zip(tag_values, meta_values, strict=True))]


def _random_values(rng: random.Random, n: int, present: float) -> list[dict[str, str]]:
    return [{k: rng.choice(VALUES) for k in KEYS if rng.random() < present} for _ in range(n)]


def _load(stores: dict[str, SqlStore], name: str, rng: random.Random,
          n: int) -> tuple[str, list[Trace]]:
    """``n`` random traces in a new experiment ``name`` of each store (same id in each)."""
    (experiment_id,) = {store.create_experiment(name) for store in stores.values()}
    loaded = _traces(_random_values(rng, n, 0.75), _random_values(rng, n, 0.75),
                     experiment_id)
    for store in stores.values():
        store.log_traces(loaded)
    return experiment_id, loaded


def _ids_by_plan(store: SqlStore, experiment_id: str, text: str) -> dict[str, set[str]]:
    """The ids a filter selects with each plan it allows, read directly with the
    search's own conditions: ``"scan"``, ``"lookup KEY"`` for each value lookup, and
    all of them at once (what PostgreSQL is given)."""
    search = SearchQuery(store._engine.dialect.name, [int(experiment_id)], text, None)
    lookups = search.planner.value_lookups
    plans = {"scan": SCAN, "all lookups": Plan(tuple(lookups)),
             **{f"lookup {lk.kind.__name__}.{lk.key}": Plan((lk,)) for lk in lookups}}
    out = {}
    with store._engine.connect() as conn:  # a direct look at each plan, outside the choice
        for name, plan in plans.items():
            query = sa.select(schema.traces.c.trace_id).where(*search.conditions(plan))
            out[name] = {row.trace_id for row in conn.execute(query)}
    return out


def _check(stores: dict[str, SqlStore], experiment_id: str, loaded: list[Trace],
           text: str) -> None:
    expected = {t.info.trace_id for t in filter_traces(text, loaded)}
    for name, store in stores.items():
        for plan, found in _ids_by_plan(store, experiment_id, text).items():
            assert found == expected, (name, plan, text, sorted(found ^ expected))
        assert set(store.search_trace_ids([experiment_id], filter_string=text)) == expected
        page = store.search_traces([experiment_id], filter_string=text, max_results=3,
                                   include_spans=False)
        assert [t.info.trace_id for t in page] == [
            t.info.trace_id for t in sorted(loaded, key=lambda t: -t.info.request_time)
            if t.info.trace_id in expected][:3], (name, text)


HAND_FILTERS = [
    "tags.env = 'prod'",
    "tags.env = 'nowhere'",  # a value no trace has
    f"tags.env = {_quote(LONG)}",  # exactly the prefix: not LONG_A, not LONG_B
    f"tags.env = {_quote(LONG_A)}",
    f"tags.env = {_quote(LONG + 'c')}",  # the prefix matches, the value does not
    f"tags.env = {_quote(WIDE)}",
    f"tags.env = {_quote(WIDE[:N])}",
    f"tags.env IN ({_quote(LONG_B)}, 'dev', {_quote(LONG)})",
    f"tags.env IN ({_quote(LONG_A)}, {_quote(LONG_A)})",
    "tags.env = ''",
    "tag.env = 'é'",
    "tags.env IN ('prod', 'dev') AND tags.env != 'dev'",  # one key: one merged lookup
    f"tags.env = 'prod' AND metadata.version = {_quote(LONG_B)}",  # two lookups
    "tags.env = 'prod' AND metadata.version IN ('dev', 'prod') AND trace.status = 'OK'",
    "request_metadata.version = 'dev' AND tags.env LIKE 'pro%'",
    "tags.env = 'prod' AND tags.version IS NULL",
    "tags.env = 'prod' AND NOT tags.env = 'prod'",
    "tags.env = 'prod' AND NOT tags.version = 'dev'",
    "NOT tags.env = 'prod'",  # under NOT: no lookup
    "tags.env = 'prod' OR tags.version = 'dev'",  # under OR: no lookup
    "(tags.env = 'prod' OR tags.env = 'dev') AND metadata.env = 'dev'",
    "tags.env = 'dev' AND (metadata.version = 'prod' OR trace.status = 'ERROR')",
    "tags.env NOT IN ('prod', 'dev') AND tags.version = 'prod'",
]


def test_every_plan_agrees_with_the_reference_on_edge_values(
        stores: dict[str, SqlStore]) -> None:
    experiment_id, loaded = _load(stores, "values", random.Random(5), 40)
    assert {t.info.tags.get("env") for t in loaded} >= {LONG, LONG_A, LONG_B, WIDE}
    for text in HAND_FILTERS:
        _check(stores, experiment_id, loaded, text)


def test_lookups_are_offered_only_for_top_level_equalities() -> None:
    def offered(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
        search = SearchQuery("sqlite", [1], text, None)
        return [(lk.kind.__name__, lk.key, lk.values) for lk in value_lookups(search.node)]

    assert offered("tags.env = 'a'") == [("Tag", "env", ("a",))]
    assert offered("metadata.v IN ('a', 'b') AND tags.env != 'x'") == [
        ("Metadata", "v", ("a", "b"))]
    assert offered("tags.env = 'a' AND (tags.team = 'b' AND span.name = 'x')") == [
        ("Tag", "env", ("a",)), ("Tag", "team", ("b",))]
    for text in ("NOT tags.env = 'a'", "tags.env = 'a' OR tags.env = 'b'",
                 "tags.env != 'a'", "tags.env LIKE 'a'", "tags.n = 5", "tags.flag = true",
                 "tags.env IS NOT NULL", "NOT (tags.env = 'a' AND tags.team = 'b')"):
        assert offered(text) == [], text


def test_nul_in_values_on_sqlite(sqlite_uri: str) -> None:
    """A NUL in a value is stored as U+FFFD on every store (``entities.limits``; PostgreSQL
    text cannot hold it), so filters for NUL find nothing and the rest compare as usual."""
    with SqlStore(sqlite_uri) as store:
        loaded = _traces([{"env": v} for v in ("ab", "ab\x00cd", "ab\x00", "\x00")],
                         [{}] * 4)
        store.log_traces(loaded)
        loaded = [clean_trace(trace)[0] for trace in loaded]  # what the store holds
        for text in ("tags.env = 'ab'", "tags.env = 'ab\x00cd'", "tags.env = '\x00'",
                     "tags.env IN ('ab\x00', 'zz')", "tags.env = ''",
                     "tags.env = 'ab\ufffdcd'"):
            _check({"sqlite": store}, "0", loaded, text)


# --- random filters against the reference, every plan --------------------------------------
_values = st.sampled_from([*VALUES, "nowhere"]).map(_quote)
_fields = st.sampled_from(["tags.env", "tags.version", "metadata.env", "metadata.version"])
_leaf = st.one_of(
    st.builds(lambda f, v: f"{f} = {v}", _fields, _values),
    st.builds(lambda f, op, vs: f"{f} {op} ({', '.join(vs)})", _fields,
              st.sampled_from(["IN", "NOT IN"]), st.lists(_values, min_size=1, max_size=3)),
    st.builds(lambda f, op, v: f"{f} {op} {v}", _fields,
              st.sampled_from(["!=", "LIKE", "CONTAINS"]), _values),
    st.builds(lambda f, n: f"{f} IS {n}", _fields, st.sampled_from(["NULL", "NOT NULL"])),
    st.sampled_from(["trace.status = 'OK'", "trace.timestamp > 1700000000010"]),
)
_filter = st.recursive(_leaf, lambda inner: st.one_of(
    st.builds(lambda a, b, op: f"({a}) {op} ({b})", inner, inner,
              st.sampled_from(["AND", "AND", "OR"])),
    inner.map(lambda a: f"NOT ({a})")), max_leaves=5)
_batches = itertools.count()


@settings(max_examples=8, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), data=st.data())
def test_random_filters_agree_with_the_reference_in_every_plan(
        stores: dict[str, SqlStore], seed: int, data: st.DataObject) -> None:
    experiment_id, loaded = _load(stores, f"batch-{next(_batches)}", random.Random(seed), 25)
    for _ in range(15):
        text = data.draw(_filter, label="filter")
        expected = {t.info.trace_id for t in filter_traces(text, loaded)}
        for store_name, store in stores.items():
            for plan, found in _ids_by_plan(store, experiment_id, text).items():
                assert found == expected, (store_name, plan, text, sorted(found ^ expected))


# --- which plan ------------------------------------------------------------------------------
def _plan_keys(store: SqlStore, experiment_ids: list[int], text: str, limit: int | None,
               order_by: list[str] | None = None) -> list[str]:
    search = SearchQuery(store._engine.dialect.name, experiment_ids, text, order_by)
    with store._engine.connect() as conn:
        return [lookup.key for lookup in search.plan(conn, limit).lookups]  # type: ignore[union-attr]


def test_sqlite_scans_for_a_common_value_and_looks_up_a_rare_one(sqlite_uri: str) -> None:
    with SqlStore(sqlite_uri) as store:
        experiment_id = store.create_experiment("plans")
        common = lookup_cap(11, 0)  # a page of 10 (+1) in a small store: common enough
        store.log_traces([make_trace(1, tags={"env": "prod", "team": "a" if i < 3 else "b"},
                                     experiment_id=experiment_id) for i in range(common)]
                         + [make_trace(1, tags={"env": "rare"}, experiment_id=experiment_id)])
        exp = [int(experiment_id)]

        def plan(text: str, limit: int | None, order_by: list[str] | None = None,
                 experiments: list[int] = exp) -> list[str]:
            return _plan_keys(store, experiments, text, limit, order_by)

        assert plan("tags.env = 'prod'", 11) == []  # the page fills after a few probes
        assert plan("tags.env = 'rare'", 11) == ["env"]
        assert plan("tags.env = 'nowhere'", 11) == ["env"]
        assert plan("tags.env = 'prod'", 10_001) == ["env"]  # a bigger page: a bigger cap
        assert plan("tags.env = 'prod'", None) == ["env"]  # every match is needed
        assert plan("tags.env = 'prod'", 11, ["tags.team"]) == ["env"]  # all are sorted
        assert plan("tags.env = 'prod'", 11, None, [*exp, 0]) == ["env"]  # all are sorted
        assert plan("tags.env = 'prod'", 11, ["execution_time DESC"]) == []
        assert plan("tags.env = 'prod' AND tags.team = 'a'", 11) == ["team"]  # the rarer
        assert plan("tags.env = 'rare' AND tags.team = 'b'", None) == ["env"]
        assert plan("tags.env = 'prod' AND tags.team = 'a'", None) == ["team"]
        assert plan("tags.env = 'prod' OR tags.team = 'a'", 11) == []
        page = store.search_traces([experiment_id], filter_string="tags.env = 'rare'")
        assert [t.info.tags["env"] for t in page] == ["rare"]
        assert len(store.search_traces([experiment_id], filter_string="tags.env = 'prod'",
                                       max_results=10)) == 10


def test_postgresql_gets_every_lookup_and_chooses_itself(pg_uri: str) -> None:
    """PostgreSQL's planner has the prefix's statistics: no count is run for it."""
    with SqlStore(pg_uri) as store:
        store.log_traces([make_trace(1, tags={"env": "prod", "team": "a"})])
        assert _plan_keys(store, [0], "tags.env = 'prod' AND metadata.team = 'a' AND "
                                      "tags.team IN ('a', 'b')", 11) == ["env", "team", "team"]
        assert _plan_keys(store, [0], "tags.env != 'prod'", None) == []


def test_sqlite_drives_a_lookup_from_the_value_index(sqlite_uri: str) -> None:
    """The lookup plan's statement, as SQLite plans it without statistics: the value
    index (``key`` and the prefix expression, which SQLite would lose if it substituted
    the compared constant into ``substr(value, ...)``), then traces by primary key."""
    with SqlStore(sqlite_uri) as store:
        experiment_id = store.create_experiment("x")
        store.log_traces([make_trace(1, tags={"env": "prod"}, experiment_id=experiment_id)])
        search = SearchQuery("sqlite", [int(experiment_id)],
                             "tags.env = 'rare' AND trace.status = 'OK'", None)
        (lookup,) = search.planner.value_lookups
        statement = (sa.select(schema.traces.c.trace_id).where(*search.conditions(Plan((lookup,))))
                     .order_by(schema.traces.c.request_time.desc()).limit(101))
        compiled = statement.compile(store._engine, compile_kwargs={"literal_binds": True})
        with store._engine.connect() as conn:
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    text = "\n".join(plan)
    assert "USING INDEX ix_trace_tags_value (key=? AND <expr>=?)" in text, text
    assert "ix_traces_experiment" not in text, text


def test_long_values_are_stored_and_found_on_both_databases(store: SqlStore) -> None:
    """A value far beyond a PostgreSQL btree row (~2.7 kB) is stored: the index holds
    only its prefix, and the exact comparison finds it. (Values are at most 8,000
    characters, ``entities.limits``.)"""
    rng = random.Random(1)
    huge = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzÀÉÎ日本") for _ in range(8_000))
    other = huge[:-1] + "!"
    store.log_traces([make_trace(1, tags={"blob": huge}, metadata={"blob": huge}),
                      make_trace(1, tags={"blob": other})])
    for text in (f"tags.blob = '{huge}'", f"metadata.blob = '{huge}'",
                 f"tags.blob IN ('{other}', 'x')"):
        found = store.search_traces(["0"], filter_string=text)
        assert len(found) == 1, text
    assert store.search_traces(["0"], filter_string=f"tags.blob = '{huge}'")[0].info.tags[
        "blob"] == huge


def test_aggregates_over_a_tag_cohort_match_the_reference(store: SqlStore) -> None:
    memory: TraceStore = InMemoryStore()
    loaded = [make_trace(2, tags={"version": "1.4" if i % 3 else "1.5"},
                         state="ERROR" if i % 4 == 0 else "OK", request_time=1_700_000_000_000 + i)
              for i in range(30)]
    for target in (store, memory):
        target.log_traces(loaded)
    for text in ("tags.version = '1.5'", "tags.version IN ('1.4', 'x') AND trace.status = 'OK'"):
        selection = Selection(experiment_ids=["0"], filter_string=text)
        ours, reference = (s.trace_sample(selection, Sample(8, 3), spans=True)
                           for s in (store, memory))
        assert ours.total == reference.total == len(filter_traces(text, loaded))
        assert ours.traces == reference.traces
        assert ours.spans == reference.spans
        assert store.trace_stats(selection) == memory.trace_stats(selection)
        assert store.span_stats(selection) == memory.span_stats(selection)


# --- the migration ---------------------------------------------------------------------------
def test_migration_0005_indexes_a_store_that_holds_data(store_uri: str) -> None:
    loaded = [make_trace(1, tags={"env": v}, metadata={"m": v})
              for v in ("prod", "dev", LONG_A, LONG_B)]
    with SqlStore(store_uri) as store:
        store.log_traces(loaded)
    engine = sa.create_engine(parse_uri(store_uri))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0004")
        assert _value_indexes(engine) == set()
        with SqlStore(store_uri) as store:  # opening migrates: builds the index over the rows
            assert _value_indexes(engine) == {"ix_trace_tags_value", "ix_trace_metadata_value"}
            for text in (f"tags.env = '{LONG_B}'", "metadata.m IN ('dev', 'prod')",
                         "tags.env = 'nowhere'"):
                expected = {t.info.trace_id for t in filter_traces(text, loaded)}
                assert set(store.search_trace_ids(["0"], filter_string=text)) == expected
                assert {t.info.trace_id for t in store.search_traces(
                    ["0"], filter_string=text, max_results=2)} <= expected
    finally:
        engine.dispose()


def test_sqlite_value_indexes_are_the_declared_ones(sqlite_uri: str) -> None:
    """Alembic cannot reflect expression indexes on SQLite, so the schema comparison of
    ``test_store_migrations`` skips them there: compare their DDL instead."""
    SqlStore(sqlite_uri).close()
    engine = sa.create_engine(parse_uri(sqlite_uri))
    try:
        with engine.connect() as conn:
            for table in (schema.trace_tags, schema.trace_metadata):
                (index,) = [i for i in table.indexes if i.name == f"ix_{table.name}_value"]
                declared = str(CreateIndex(index).compile(dialect=engine.dialect))
                stored = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :n"),
                                      {"n": index.name}).scalar_one()
                assert stored == declared.strip()
    finally:
        engine.dispose()


def _value_indexes(engine: sa.Engine) -> set[str]:
    query = ("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE :pattern"
             if engine.dialect.name == "sqlite" else
             "SELECT indexname FROM pg_indexes WHERE indexdef LIKE :pattern")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query), {"pattern": "%key%, substr(value, 1, 64), trace_id)"})
        return {row[0] for row in rows}
