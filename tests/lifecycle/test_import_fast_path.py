"""The import's fast path writes what ingest writes.

Export files hold spans in ``Span.to_dict`` form, which ``load_canonical`` loads without
rebuilding each span and whose JSON the store writes without encoding ``to_dict()``
again. Checked here: on random traces (and on spans bent out of that form) it gives the
trace ``load_trace_dict`` gives, or declines; an import through it fills every table
ingest fills (spans, text index, token usage, tags, metadata, assessments, summaries)
with the same rows as ``log_traces`` of the entities, on SQLite and PostgreSQL; and
export files do take it (the test fails if the fast path silently stops being used).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import make_trace, sample_assessments
from spanscope.entities import Trace
from spanscope.entities.canonical_trace import CanonicalSpan, load_canonical
from spanscope.entities.trace_json import load_trace_dict
from spanscope.exceptions import InvalidInputError
from spanscope.lifecycle.export import export_traces
from spanscope.lifecycle.importer import TraceFile, import_files
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri

sys.path.insert(0, str(Path(__file__).parents[1] / "query"))

from filter_strategies import traces

MLFLOW_FILES = Path(__file__).parents[1] / "data" / "mlflow"  # written by mlflow 3.17.2
# Each table ingest fills, read in an order that does not depend on insertion order
# (span_text's own id column left out: it numbers rows as they come).
TABLES = {
    "traces": "SELECT * FROM traces ORDER BY trace_id",
    "trace_tags": "SELECT * FROM trace_tags ORDER BY trace_id, key",
    "trace_metadata": "SELECT * FROM trace_metadata ORDER BY trace_id, key",
    "spans": "SELECT * FROM spans ORDER BY trace_id, span_id",
    "assessments": "SELECT * FROM assessments ORDER BY assessment_id",
    "trace_model_usage": "SELECT * FROM trace_model_usage ORDER BY trace_id, model, span_type",
    "span_text": "SELECT trace_id, span_id, kind, seq, unsure, body FROM span_text "
                 "ORDER BY trace_id, span_id, kind, seq",
}


def table_rows(uri: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            return {name: [tuple(row) for row in conn.exec_driver_sql(sql)]
                    for name, sql in TABLES.items()}
    finally:
        engine.dispose()


def fts_count(uri: str, word: str) -> int | None:
    """Rows SQLite's trigram index finds for ``word`` (None on PostgreSQL)."""
    if not uri.startswith("sqlite"):
        return None
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM span_text_fts WHERE body LIKE ?",
                (f"%{word}%",)).scalar_one())
    finally:
        engine.dispose()


def as_json(trace: Trace) -> dict[str, Any]:
    """The trace JSON object an export file holds for ``trace`` (decoded)."""
    return json.loads(trace.to_json())


def spans_json(trace: Trace) -> list[str]:
    return [span.to_json() for span in trace.data.spans]


# --- loading ------------------------------------------------------------------------------
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(trace=traces())
def test_canonical_json_loads_to_the_checked_trace(trace: Trace) -> None:
    data = as_json(trace)
    fast = load_canonical(copy.deepcopy(data))
    assert fast is not None  # what to_dict writes is canonical
    slow = load_trace_dict(copy.deepcopy(data))
    assert fast.to_dict() == slow.to_dict()
    assert spans_json(fast) == spans_json(slow)
    assert all(type(span) is CanonicalSpan for span in fast.data.spans)


REWRITES = [  # what from_dict reads into the same span: taken, ids written as to_dict does
    ("upper-case id", lambda s: s.update(span_id=s["span_id"].upper())),
    ("base64 id", lambda s: s.update(span_id="AAAAAAAAAAE=")),
    ("base64 parent", lambda s: s.update(parent_span_id="AAAAAAAAAAE=")),
    ("other trace id", lambda s: s.update(trace_id="f" * 32)),
    ("no trace id", lambda s: s.update(trace_id=None)),
    ("empty parent", lambda s: s.update(parent_span_id="")),
    ("links, as MLflow writes", lambda s: s.update(links=[{"trace_id": "x"}])),
]
BENDS = [  # a span changed so that from_dict/to_dict would not give it back as it is
    ("float time", lambda s: s.update(start_time_unix_nano=float(s["start_time_unix_nano"]))),
    ("time as text", lambda s: s.update(start_time_unix_nano=str(s["start_time_unix_nano"]))),
    ("decoded attribute", lambda s: s["attributes"].update(retries=3)),
    ("keys reordered", lambda s: s.update(name=s.pop("name"))),
    ("trace id a number", lambda s: s.update(trace_id=5)),
    ("empty span id", lambda s: s.update(span_id="")),
    ("no status", lambda s: s.pop("status")),
    ("short status code", lambda s: s.update(status={"code": "OK", "message": ""})),
    ("status without message", lambda s: s.update(status={"code": "STATUS_CODE_OK"})),
    ("null name", lambda s: s.update(name=None)),
    ("event time as float", lambda s: s.update(events=[{"name": "x", "time_unix_nano": 1.0,
                                                        "attributes": {}}])),
    ("event without attributes", lambda s: s.update(events=[{"name": "x",
                                                             "time_unix_nano": 1}])),
    ("time out of range", lambda s: s.update(end_time_unix_nano=2**63)),
    ("bool time", lambda s: s.update(start_time_unix_nano=True)),
]


@PROPERTY
@given(trace=traces(), bend=st.sampled_from(BENDS + REWRITES), which=st.integers(0, 3))
def test_other_shapes_are_declined_or_loaded_alike(trace: Trace, bend: Any,
                                                    which: int) -> None:
    data = as_json(trace)
    spans = data["data"]["spans"]
    if spans:
        bend[1](spans[which % len(spans)])
    try:
        slow: Trace | None = load_trace_dict(copy.deepcopy(data))
    except ValueError:  # TraceJsonError: the fast path must decline it too
        slow = None
    fast = load_canonical(copy.deepcopy(data))
    if fast is not None:  # taken: only when it is what the checked path gives
        assert slow is not None, bend[0]
        assert fast.to_dict() == slow.to_dict(), bend[0]
        assert spans_json(fast) == spans_json(slow), bend[0]


@pytest.mark.parametrize("bend", BENDS, ids=[name for name, _ in BENDS])
def test_each_bend_is_declined(bend: Any) -> None:
    data = as_json(make_trace(3))
    bend[1](data["data"]["spans"][1])
    assert load_canonical(data) is None


@pytest.mark.parametrize("rewrite", REWRITES, ids=[name for name, _ in REWRITES])
def test_each_rewrite_loads_as_the_checked_path(rewrite: Any) -> None:
    data = as_json(make_trace(3))
    rewrite[1](data["data"]["spans"][1])
    fast, slow = load_canonical(copy.deepcopy(data)), load_trace_dict(copy.deepcopy(data))
    assert fast is not None
    assert fast.to_dict() == slow.to_dict()
    assert spans_json(fast) == spans_json(slow)


@pytest.mark.parametrize("name", sorted(p.name for p in MLFLOW_FILES.glob("*.json")))
def test_trace_json_mlflow_wrote_loads_as_the_checked_path(name: str) -> None:
    data = json.loads((MLFLOW_FILES / name).read_text(encoding="utf-8"))
    fast, slow = load_canonical(copy.deepcopy(data)), load_trace_dict(copy.deepcopy(data))
    assert fast is not None and all(type(s) is CanonicalSpan for s in fast.data.spans)
    assert fast.to_dict() == slow.to_dict()
    assert spans_json(fast) == spans_json(slow)


def test_a_replaced_span_writes_its_new_fields() -> None:
    fast = load_canonical(as_json(make_trace(2)))
    assert fast is not None
    renamed = dataclasses.replace(fast.data.spans[1], name="renamed")  # as redaction does
    assert json.loads(renamed.to_json())["name"] == "renamed"
    assert renamed.to_dict() == {**fast.data.spans[1].to_dict(), "name": "renamed"}


def test_repeated_span_ids_and_bad_info_take_the_checked_path() -> None:
    trace = as_json(make_trace(3))
    trace["data"]["spans"].append(copy.deepcopy(trace["data"]["spans"][1]))
    assert load_canonical(trace) is None  # check_trace keeps the first place, last content
    bad = as_json(make_trace(2))
    bad["info"]["request_time"] = "yesterday"
    assert load_canonical(bad) is None
    with pytest.raises(ValueError, match="request_time"):
        load_trace_dict(bad)
    assert load_canonical({"info": as_json(make_trace(1))["info"], "data": []}) is None
    assert load_canonical([1]) is None


def test_a_changed_attribute_shows_in_the_json() -> None:
    fast = load_canonical(as_json(make_trace(2)))
    assert fast is not None
    span = fast.data.spans[1]
    span.raw_attributes["note"] = '"changed"'
    assert json.loads(span.to_json())["attributes"]["note"] == '"changed"'


# --- writing ------------------------------------------------------------------------------
def rich_traces(experiment_id: str) -> list[Trace]:
    """Every feature ingest writes a row for: token usage (chat spans), exceptions (the
    text index's third kind), assessments, sessions, long previews, non-ASCII text."""
    return [
        make_trace(6, experiment_id=experiment_id, tags={"env": "prod", "team": "é 東京"},
                   metadata={"app.version": "1.2"}, assessments=sample_assessments(),
                   session_id="s-1", user_id="u-1", client_request_id="req-1"),
        make_trace(5, experiment_id=experiment_id, state="ERROR", session_id="s-1"),
        make_trace(2, experiment_id=experiment_id, payload_chars=5_000,
                   question="Wie spät ist es in Zürich?"),
        *(make_trace(4, experiment_id=experiment_id, user_id=f"u{i}") for i in range(20)),
    ]


@pytest.fixture
def uris(store_uri: str, tmp_path: Path, request: pytest.FixtureRequest,
         ) -> Iterator[dict[str, str]]:
    """``store_uri`` and a second database of the same kind: the entity path's target."""
    if store_uri.startswith("sqlite"):
        yield {"fast": store_uri, "entities": f"sqlite:///{tmp_path}/entities.db"}
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = request.getfixturevalue("pg_server_uri")
    name = f"spanscope_test_{uuid.uuid4().hex[:12]}"
    admin_uri = "postgresql://" + server.split("://", 1)[1]
    with psycopg.connect(admin_uri, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"fast": store_uri,
               "entities": make_url(server).set(database=name).render_as_string(
                   hide_password=False)}
    finally:
        with psycopg.connect(admin_uri, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_import_fills_every_table_as_ingest_does(uris: dict[str, str],
                                                 tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path}/source.db") as source:
        logged = rich_traces(source.create_experiment("rich"))
        source.log_traces(logged)
        export_traces(source, tmp_path / "rich.jsonl")
    with SqlStore(uris["fast"]) as fast, SqlStore(uris["entities"]) as entities:
        report = import_files(fast, [tmp_path / "rich.jsonl"], batch_size=7)
        assert (report.traces, report.new) == (len(logged), len(logged))
        # the entity path: ingest's own log_traces of the traces Trace.from_dict builds
        experiment_id = entities.create_experiment("rich")
        entities.log_traces([Trace.from_dict(as_json(t)) for t in logged])
        assert experiment_id == fast.get_experiment_by_name("rich").experiment_id
    got, want = table_rows(uris["fast"]), table_rows(uris["entities"])
    for table in TABLES:
        assert got[table] == want[table], table
    assert got["trace_model_usage"] and got["assessments"]  # the features are there
    assert any(row[2] == "e" for row in got["span_text"])  # an exception message
    found = fts_count(uris["fast"], "Zürich")  # the FTS5 table indexed the new rows
    assert found == fts_count(uris["entities"], "Zürich")
    assert found is None or found > 0


def test_export_files_take_the_fast_path(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path}/source.db") as source:
        source.log_traces(rich_traces(source.create_experiment("rich")))
        for name in ("t.parquet", "t.jsonl", "t.json.gz"):
            export_traces(source, tmp_path / name)
            loaded = list(TraceFile(tmp_path / name))
            assert len(loaded) == 23
            assert all(type(span) is CanonicalSpan
                       for trace in loaded for span in trace.data.spans), name


def test_a_bad_row_after_good_batches_keeps_them(tmp_path: Path) -> None:
    """With the next batch read in a thread, an error still comes after the batches
    before it are written, and names its line."""
    lines = [make_trace(2, experiment_id="0").to_json() for _ in range(9)]
    lines.insert(7, '{"info": {"trace_id": 5}}')
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with SqlStore(f"sqlite:///{tmp_path}/target.db") as target:
        with pytest.raises(InvalidInputError, match="line 8"):
            import_files(target, [path], experiment="0", batch_size=3)
        assert len(target.search_trace_ids(["0"])) == 6  # two batches of three
        path.write_text("\n".join(lines[:7] + lines[8:]) + "\n", encoding="utf-8")
        again = import_files(target, [path], experiment="0", batch_size=3)
        assert (again.new, again.existing) == (3, 6)


def test_log_traces_counted_counts_what_was_stored_before(store: SqlStore) -> None:
    experiment_id = store.create_experiment("counted")
    stored, new = (make_trace(2, experiment_id=experiment_id) for _ in range(2))
    store.log_traces([stored])
    again = Trace.from_dict(as_json(new))  # the same trace twice in one batch
    assert store.log_traces_counted([new, stored, again], cache_mib=8) == 1
    assert store.log_traces_counted([new, stored]) == 2
    assert sorted(store.search_trace_ids([experiment_id])) == sorted(
        [stored.info.trace_id, new.info.trace_id])
    assert store.get_trace(new.info.trace_id).to_dict() == new.to_dict()


def test_an_import_batch_hands_its_sqlite_connection_back_with_the_usual_cache(
        sqlite_uri: str) -> None:
    """The batch's big page cache is the batch's only: the pooled connection goes back
    with SQLite's default, so no other work keeps 64 MiB per connection."""
    with SqlStore(sqlite_uri) as store:
        statements: list[str] = []
        sa.event.listen(store._engine, "before_cursor_execute",
                        lambda *args: statements.append(args[2]))
        assert store.log_traces_counted([make_trace(2)], cache_mib=8) == 0
        assert "PRAGMA cache_size = -8192" in statements
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -2000

