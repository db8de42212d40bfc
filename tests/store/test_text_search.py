"""Text search (``text CONTAINS``, ``request ILIKE`` ...) and the text index (migration 0007).

A text comparison can run two ways (``spanscope.store.sql.planner.TextLookup``): probe
each trace's rows of the text index, or find candidates through the trigram index and
check them. Both must mean exactly what the reference evaluator means, on SQLite and
PostgreSQL, with texts cut by the index (read whole from the span again), characters the
databases fold differently from Python, quotes and escapes inside JSON payloads, and the
index kept in step by upserts and deletions. Then: which plan a search picks, and the
migration of a store that already holds traces.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanscope.entities import Span, SpanEvent, Trace, TraceData, TraceInfo
from spanscope.query import filter_traces
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore, schema, text_index
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import alembic_config
from spanscope.store.sql.planner import SCAN, TEXT_WEIGHT, Plan, TextLookup, lookup_cap
from spanscope.store.sql.search import SearchQuery
from spanscope.store.sql.text_index import ENV_VAR

CUT = 12  # characters of each text in the index here: many texts are cut
WORDS = ["refund", "Refund", "order A10042", "A10042", "Paris", "it's", 'say "hi"',
         "back\\slash", "line\nbreak", "\u212aelvin", "\u0130stanbul", "straße", "οδός",
         "50% off", "a_b", "é", "timeout", "x" * 20 + "needle", ""]
PATTERNS = ["refund", "Refund", "A10042", "order A1", "Paris", "it's", '"hi"', "hi\"",
            "back\\slash", "\nbr", "kelvin", "KELVIN", "istanbul", "STRASSE", "straße", "οδος",
            "50%", "needle", "tim", "ti", "é", "a_b", "{\"q\": \"ref"]
FIELDS = ["text", "span.content", "request", "response", "inputs.q", "outputs.answer",
          "inputs.0", "outputs.0"]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _payload(rng: random.Random) -> object:
    word = rng.choice(WORDS)
    return rng.choice([None, word, {"q": word}, {"q": word, "n": 3}, [word, 1],
                       {"answer": f"About {word} and {rng.choice(WORDS)}."}])


def _trace(rng: random.Random, i: int, experiment_id: str, prefix: str) -> Trace:
    trace_id = f"tr-{prefix}{i:024x}"
    spans = []
    for k in range(rng.randint(0, 3)):
        events = [SpanEvent(rng.choice(["exception", "retry"]), 1,
                            {"exception.message": rng.choice([*WORDS, 42])})
                  for _ in range(rng.randint(0, 1))]
        spans.append(Span.build(
            trace_id=trace_id, span_id=f"{k + 1:016x}", parent_id=None if k == 0 else "1".zfill(16),
            name="s", start_time_ns=1, end_time_ns=2, inputs=_payload(rng),
            outputs=_payload(rng), events=events))
    info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                     request_time=1_700_000_000_000 + i, state="OK")
    return Trace(info, TraceData(spans))


@pytest.fixture
def stores(sqlite_uri: str, pg_uri: str,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, SqlStore]]:
    monkeypatch.setenv(ENV_VAR, str(CUT))
    opened = {"sqlite": SqlStore(sqlite_uri), "postgresql": SqlStore(pg_uri)}
    try:
        yield opened
    finally:
        for store in opened.values():
            store.close()


_batches = itertools.count()


def _load(stores: dict[str, SqlStore], seed: int, n: int = 30) -> tuple[str, list[Trace]]:
    number = next(_batches)
    (experiment_id,) = {s.create_experiment(f"text-{number}") for s in stores.values()}
    rng = random.Random(seed)
    loaded = [_trace(rng, i, experiment_id, f"{number:08x}") for i in range(n)]
    for store in stores.values():
        store.log_traces(loaded)
    return experiment_id, loaded


def _ids_by_plan(store: SqlStore, experiment_id: str, text: str) -> dict[str, set[str]]:
    """The ids a filter selects by scanning and with every text lookup it offers."""
    search = SearchQuery(store._engine.dialect.name, [int(experiment_id)], text, None)
    lookups = search.planner.text_lookups
    plans = {"scan": SCAN, **{f"lookup {lk.literal!r}": Plan((lk,)) for lk in lookups}}
    out = {}
    with store._engine.connect() as conn:
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
    memory = InMemoryStore()
    memory.log_traces([_in_default(t) for t in loaded])
    assert set(memory.search_trace_ids(["0"], filter_string=text)) == expected, text


def _in_default(trace: Trace) -> Trace:
    import dataclasses

    return Trace(dataclasses.replace(trace.info, experiment_id="0"), trace.data)


HAND_FILTERS = [
    "text CONTAINS 'A10042'",
    "text CONTAINS 'order A10042'",
    "text ILIKE '%a10042%'",
    "span.content ILIKE '%kelvin%'",  # KELVIN SIGN lower-cases to k in Python
    "text ILIKE '%istanbul%'",  # İ lower-cases to i + a combining dot
    "text ILIKE '%STRASSE%'",
    "text LIKE '%needle'",  # beyond the cut: read whole from the span
    "text CONTAINS 'needle'",
    "inputs.q CONTAINS 'needle'",
    "request CONTAINS '\"q\": \"ref'",  # JSON text of the whole payload
    "inputs.q CONTAINS 'it''s'",
    "inputs.q CONTAINS 'say \"hi\"'",  # a quote: JSON-escaped in the payload text
    "inputs.q LIKE '%back\\\\slash%'",
    "outputs.answer ILIKE '%PARIS%'",
    "response ILIKE '%refund%' AND text CONTAINS 'Paris'",
    "text CONTAINS 'timeout' AND trace.timestamp >= 1700000000010",
    "text CONTAINS '42'",  # a number as exception message
    "text CONTAINS 'ti'",  # too short for trigrams: scanned
    "text RLIKE 'ref+und'",
    "NOT text CONTAINS 'refund'",
    "text CONTAINS 'refund' OR text CONTAINS 'Paris'",
    "text IS NULL",
    "text IS NOT NULL AND NOT request CONTAINS 'ref'",
]


def test_every_plan_agrees_with_the_reference_on_hand_filters(
        stores: dict[str, SqlStore]) -> None:
    experiment_id, loaded = _load(stores, 3, 60)
    for text in HAND_FILTERS:
        _check(stores, experiment_id, loaded, text)


SIGMA_WORDS = ["ΟΔΟΣ", "οδος", "οδοσ", "ΣΑΣ ΛΕΣ.", "Σ", "ΟΔΟΣΣ"]
SIGMA_FILTERS = [f"{field} {op} {_quote(pattern)}"
                 for field in ("text", "inputs.q") for op in ("ILIKE", "NOT ILIKE")
                 for pattern in ("%οδοσ%", "%οδος%", "%ΟΔΟΣ", "οδοσ", "%σας%", "%ς", "%Σ",
                                 "σ", "%οσσ%")  # noqa: RUF001
                 if not (field == "text" and op == "NOT ILIKE")]


def test_ilike_reads_the_three_sigmas_as_one_letter_everywhere(
        stores: dict[str, SqlStore]) -> None:
    """Python lower-cases a word-final capital sigma to final sigma, PostgreSQL and SQLite
    to sigma: ILIKE folds both (``fold_case``), so the real server answers as the reference
    does."""
    number = next(_batches)
    (experiment_id,) = {s.create_experiment(f"sigma-{number}") for s in stores.values()}
    loaded = []
    for i, word in enumerate(SIGMA_WORDS):
        trace_id = f"tr-{number:08x}{i:024x}"
        span = Span.build(trace_id=trace_id, span_id="1".zfill(16), parent_id=None, name="s",
                          start_time_ns=1, end_time_ns=2, inputs={"q": word}, outputs=word)
        loaded.append(Trace(TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                                      request_time=1_700_000_000_000 + i, state="OK"),
                            TraceData([span])))
    for store in stores.values():
        store.log_traces(loaded)
    for text in SIGMA_FILTERS:
        _check(stores, experiment_id, loaded, text)
    matched = {t.info.trace_id for t in filter_traces("text ILIKE '%οδοσ%'", loaded)}
    assert len(matched) == 4  # ΟΔΟΣ, οδος, οδοσ and ΟΔΟΣΣ, whichever sigma each ends in


_leaf = st.builds(lambda field, op, value: f"{field} {op} {_quote(value)}",
                  st.sampled_from(FIELDS), st.sampled_from(["CONTAINS", "LIKE", "ILIKE"]),
                  st.one_of(st.sampled_from(PATTERNS),
                            st.sampled_from(PATTERNS).map(lambda p: f"%{p}%"),
                            st.sampled_from(PATTERNS).map(lambda p: f"{p}%")))
_filter = st.recursive(_leaf, lambda inner: st.one_of(
    st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) AND ({ab[1]})"),
    st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) OR ({ab[1]})"),
    inner.map(lambda a: f"NOT ({a})")), max_leaves=3)


@settings(max_examples=4, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), data=st.data())
def test_random_text_filters_agree_with_the_reference_in_every_plan(
        stores: dict[str, SqlStore], seed: int, data: st.DataObject) -> None:
    experiment_id, loaded = _load(stores, seed, 25)
    for _ in range(8):
        _check(stores, experiment_id, loaded, data.draw(_filter, label="filter"))


def test_lookups_are_offered_where_a_literal_can_be_looked_up() -> None:
    def literals(text: str) -> list[tuple[str, bool]]:
        search = SearchQuery("sqlite", [0], text, None)
        return [(lk.literal, lk.ignore_case) for lk in search.planner.text_lookups]

    assert literals("text CONTAINS 'order A10042'") == [("order A10042", False)]
    assert literals("text ILIKE '%Order%A1004_%'") == [("order", True)]
    assert literals("text LIKE 'ab%wxyz%'") == [("wxyz", False)]
    assert literals("text ILIKE '%Straße%'") == []  # not ASCII: folded differently
    assert literals("text CONTAINS 'ab'") == []  # under three characters
    assert literals("inputs.q CONTAINS 'say \"hi\"'") == []  # JSON-escaped in the payload
    assert literals("request CONTAINS 'say \"hi\"'") == [('say "hi"', False)]
    assert literals("text CONTAINS 'abc' OR tags.x = 'y'") == []  # under OR
    assert literals("NOT text CONTAINS 'abc'") == []
    assert literals("text CONTAINS 'abc' AND response ILIKE '%xyz%' AND trace.status = 'OK'"
                    ) == [("abc", False), ("xyz", True)]


def test_the_index_follows_upserts_and_deletions(store: SqlStore) -> None:
    rng = random.Random(1)
    first = _trace(rng, 0, "0", "a" * 8)
    root = Span.build(trace_id=first.info.trace_id, span_id="1".zfill(16), parent_id=None,
                      name="root", start_time_ns=1, end_time_ns=2, inputs={"q": "old words"})
    child = Span.build(trace_id=first.info.trace_id, span_id="2".zfill(16),
                       parent_id="1".zfill(16), name="c", start_time_ns=1, end_time_ns=2,
                       outputs="child says hello")
    store.log_traces([Trace(first.info, TraceData([root, child]))])
    found = lambda text: store.search_trace_ids(["0"], filter_string=text)  # noqa: E731
    assert found("text CONTAINS 'old words'") == [first.info.trace_id]
    replaced = Span.build(trace_id=first.info.trace_id, span_id="1".zfill(16), parent_id=None,
                          name="root", start_time_ns=1, end_time_ns=2,
                          inputs={"q": "new words"})
    store.log_traces([Trace(first.info, TraceData([replaced]))])  # an upsert of the root
    assert found("text CONTAINS 'old words'") == []
    assert found("text CONTAINS 'new words'") == [first.info.trace_id]
    assert found("text CONTAINS 'says hello'") == [first.info.trace_id]  # the child stays
    store.delete_traces("0", trace_ids=[first.info.trace_id])
    assert found("text CONTAINS 'words'") == []
    with store._engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.span_text)
                            ).scalar_one() == 0


def test_a_common_word_scans_and_a_rare_one_is_looked_up(store_uri: str) -> None:
    """Chosen by the planner on both databases (PostgreSQL's own plan for a common word
    read every match, seconds at 100k): SQLite counts the index's matches, PostgreSQL
    estimates them from the sampled bodies of its statistics."""
    with SqlStore(store_uri) as store:
        experiment_id = store.create_experiment("plans")
        common = lookup_cap(11, 0) * TEXT_WEIGHT  # one text each: common enough to scan
        store.log_traces([_text_trace(f"a refund question {i}", experiment_id, i)
                          for i in range(common)]
                         + [_text_trace("order A10042 is late", experiment_id, common)])
        dialect = store._engine.dialect.name
        if dialect == "postgresql":  # its estimate reads the statistics autovacuum keeps
            with store._engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE span_text")
        search = lambda text: SearchQuery(dialect, [int(experiment_id)], text, None)  # noqa: E731
        with store._engine.connect() as conn:
            assert search("text CONTAINS 'refund'").plan(conn, 11) == SCAN
            (lookup,) = search("text CONTAINS 'A10042'").plan(conn, 11).lookups
            assert isinstance(lookup, TextLookup) and lookup.literal == "A10042"
            assert search("text CONTAINS 'refund'").plan(conn, None).lookups  # every match
        page = store.search_traces([experiment_id], filter_string="text CONTAINS 'A10042'")
        assert [t.data.spans[0].inputs for t in page] == ["order A10042 is late"]


def _text_trace(question: str, experiment_id: str, i: int) -> Trace:
    trace_id = f"tr-{i:032x}"
    root = Span.build(trace_id=trace_id, span_id="1".zfill(16), parent_id=None, name="r",
                      start_time_ns=1, end_time_ns=2, inputs=question, outputs="ok")
    return Trace(TraceInfo(trace_id=trace_id, experiment_id=experiment_id,
                           request_time=1_700_000_000_000 + i, state="OK"), TraceData([root]))


def test_migration_0007_indexes_a_store_that_holds_traces(store_uri: str) -> None:
    rng = random.Random(7)
    loaded = [_trace(rng, i, "0", "b" * 8) for i in range(40)]
    with SqlStore(store_uri) as store:
        store.log_traces(loaded)
    engine = sa.create_engine(parse_uri(store_uri))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0006")
        assert not sa.inspect(engine).has_table("span_text")
        with SqlStore(store_uri) as store:  # opening migrates: indexes the stored traces
            for text in ("text CONTAINS 'A10042'", "text ILIKE '%refund%'",
                         "text CONTAINS 'Paris'", "text CONTAINS 'needle'"):
                expected = {t.info.trace_id for t in filter_traces(text, loaded)}
                assert expected, text
                assert set(store.search_trace_ids(["0"], filter_string=text)) == expected
    finally:
        engine.dispose()


def test_migration_0012_rebuilds_the_sqlite_index_without_text_lengths(sqlite_uri: str) -> None:
    rng = random.Random(12)
    loaded = [_trace(rng, i, "0", "c" * 8) for i in range(40)]
    with SqlStore(sqlite_uri) as store:
        store.log_traces(loaded)
    engine = sa.create_engine(parse_uri(sqlite_uri))

    def made() -> str:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?",
                                        (text_index.SQLITE_FTS,)).scalar()

    texts = ("text CONTAINS 'A10042'", "text ILIKE '%refund%'", "text CONTAINS 'Paris'")
    try:
        assert "columnsize=0" in made()
        with engine.begin() as conn:  # the table as migration 0007 made it before
            command.downgrade(alembic_config(conn), "0013")
        assert "columnsize=0" not in made()
        with engine.begin() as conn:
            total = conn.exec_driver_sql("SELECT count(*) FROM span_text").scalar()
            steps: list[tuple[int, int]] = []
            assert text_index.rebuild_sqlite_fts(conn, batch=7,
                                                 progress=lambda *a: steps.append(a))
            assert steps[-1] == (total, total) and len(steps) == -(-total // 7)
            assert not text_index.rebuild_sqlite_fts(conn)  # already so: nothing to do
            command.downgrade(alembic_config(conn), "0013")
        with SqlStore(sqlite_uri) as store:  # opening migrates: 0012 rebuilds the index
            assert "columnsize=0" in made()
            for text in texts:
                expected = {t.info.trace_id for t in filter_traces(text, loaded)}
                assert expected, text
                assert set(store.search_trace_ids(["0"], filter_string=text)) == expected
            gone = sorted(store.search_trace_ids(["0"], filter_string=texts[1]))[:3]
            store.delete_traces("0", trace_ids=gone)  # the delete trigger is back too
            kept = [t for t in loaded if t.info.trace_id not in gone]
            expected = {t.info.trace_id for t in filter_traces(texts[1], kept)}
            assert set(store.search_trace_ids(["0"], filter_string=texts[1])) == expected
        with engine.connect() as conn:
            check = f"INSERT INTO {text_index.SQLITE_FTS}({text_index.SQLITE_FTS}, rank) " \
                    "VALUES ('integrity-check', 1)"
            conn.exec_driver_sql(check)  # raises when the index and span_text disagree
    finally:
        engine.dispose()


# --- highlights ------------------------------------------------------------------------------
def test_highlights_are_the_same_in_every_store(stores: dict[str, SqlStore]) -> None:
    experiment_id, loaded = _load(stores, 11, 30)
    memory = InMemoryStore()
    memory.log_traces([_in_default(t) for t in loaded])
    text = "text CONTAINS 'A10042' OR request ILIKE '%paris%'"
    expected = memory.search_traces(["0"], filter_string=text, highlight=True)
    assert expected.highlights and set(expected.highlights) <= {
        t.info.trace_id for t in expected}
    for store in stores.values():
        for include_spans in (True, False):
            page = store.search_traces([experiment_id], filter_string=text, highlight=True,
                                       include_spans=include_spans)
            assert [t.info.trace_id for t in page] == [t.info.trace_id for t in expected]
            assert page.highlights == expected.highlights
            assert all(bool(t.data.spans) == include_spans for t in page
                       if t.info.trace_id in page.highlights)
    assert stores["sqlite"].search_traces([experiment_id], filter_string=text).highlights == {}
