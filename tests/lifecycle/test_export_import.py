"""Export to each format and import back, on SQLite and PostgreSQL: traces read back equal,
a second import changes nothing, experiments are found by name, bad files say what is wrong."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from factories import make_trace, sample_assessments
from spanscope.entities import Expectation, Feedback, Trace
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.lifecycle.export import count_traces, export_traces
from spanscope.lifecycle.importer import TraceFile, import_files, import_traces
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri

FILES = ["traces.jsonl", "traces.json", "traces.parquet", "traces.jsonl.gz", "traces.json.gz"]
TABLES = ("traces", "trace_tags", "trace_metadata", "spans", "assessments",
          "trace_model_usage", "experiments")


def comparable(trace: Trace) -> dict[str, Any]:
    """``to_dict`` without the experiment id: a target store numbers experiments itself."""
    data = trace.to_dict()
    data["info"].pop("trace_location")
    return data


def sample_traces(experiment_id: str) -> list[Trace]:
    overridden = Feedback(name="correct", value=False, assessment_id="a-old", valid=False)
    current = Feedback(name="correct", value=True, assessment_id="a-new", overrides="a-old")
    return [
        make_trace(4, experiment_id=experiment_id, tags={"env": "prod", "team": "é 東京"},
                   metadata={"app.version": "1.2"}, assessments=sample_assessments(),
                   session_id="s-1", user_id="u-1", client_request_id="req-1"),
        make_trace(6, experiment_id=experiment_id, state="ERROR",
                   assessments=[overridden, current,
                                Expectation(name="expected", value={"a": [1, 2]})]),
        make_trace(1, experiment_id=experiment_id, payload_chars=50_000),
        make_trace(2),  # the Default experiment
    ]


@pytest.fixture
def source(store: SqlStore) -> tuple[SqlStore, list[Trace]]:
    traces = sample_traces(store.create_experiment("support-bot"))
    store.log_traces(traces)
    return store, traces


def row_counts(uri: str) -> dict[str, int]:
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in TABLES}
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", FILES)
def test_round_trip_into_an_empty_store(source: tuple[SqlStore, list[Trace]], tmp_path: Path,
                                        name: str) -> None:
    store, traces = source
    path = tmp_path / name
    report = export_traces(store, path)
    assert report.traces == 4
    assert report.experiments == {"0": "Default", traces[0].info.experiment_id: "support-bot"}
    target_uri = f"sqlite:///{tmp_path}/target.db"
    with SqlStore(target_uri) as target:
        target.create_experiment("other")  # so ids differ between the stores
        imported = import_files(target, [path])
        assert (imported.traces, imported.new, imported.existing) == (4, 4, 0)
        assert imported.experiments_created == ["support-bot"]
        bot = target.get_experiment_by_name("support-bot")
        assert bot is not None and bot.experiment_id != traces[0].info.experiment_id
        for trace in traces:
            got = target.get_trace(trace.info.trace_id)
            assert comparable(got) == comparable(store.get_trace(trace.info.trace_id))
            expected = "0" if trace is traces[-1] else bot.experiment_id
            assert got.info.experiment_id == expected


@pytest.mark.parametrize("name", ["traces.jsonl", "traces.parquet", "traces.json"])
def test_second_import_changes_nothing(source: tuple[SqlStore, list[Trace]], tmp_path: Path,
                                       name: str, store_uri: str) -> None:
    store, traces = source
    path = tmp_path / name
    export_traces(store, path)
    store.delete_trace_ids([traces[0].info.trace_id])  # one to restore, three already there
    before = row_counts(store_uri)
    first = import_files(store, [path])
    assert (first.new, first.existing) == (1, 3)
    after_first = row_counts(store_uri)
    dumped = {t.info.trace_id: store.get_trace(t.info.trace_id).to_json() for t in traces}
    second = import_files(store, [path])
    assert (second.new, second.existing) == (0, 4)
    assert row_counts(store_uri) == after_first
    assert after_first["assessments"] == before["assessments"] + len(traces[0].info.assessments)
    assert {t.info.trace_id: store.get_trace(t.info.trace_id).to_json()
            for t in traces} == dumped
    assert [e.name for e in store.list_experiments()] == ["Default", "support-bot"]


def test_filter_and_experiment_select_what_is_exported(
        source: tuple[SqlStore, list[Trace]], tmp_path: Path) -> None:
    store, traces = source
    bot = traces[0].info.experiment_id
    assert count_traces(store, [bot], "attributes.state = 'ERROR'") == 1
    report = export_traces(store, tmp_path / "errors.jsonl", experiment_ids=[bot],
                           filter_string="attributes.state = 'ERROR'")
    assert report.traces == 1
    lines = (tmp_path / "errors.jsonl").read_text().splitlines()
    assert [json.loads(line)["info"]["trace_id"] for line in lines] == [traces[1].info.trace_id]
    with pytest.raises(FilterError):
        export_traces(store, tmp_path / "bad.jsonl", filter_string="attributes.nope = 1")
    assert not (tmp_path / "bad.jsonl").exists()
    assert not (tmp_path / "bad.jsonl.partial").exists()


def test_import_into_a_chosen_experiment(source: tuple[SqlStore, list[Trace]],
                                         tmp_path: Path) -> None:
    store, traces = source
    path = tmp_path / "t.parquet"
    export_traces(store, path)
    with SqlStore(f"sqlite:///{tmp_path}/t.db") as target:
        report = import_files(target, [path], experiment="copies")
        assert report.experiments_created == ["copies"]
        copies = target.get_experiment_by_name("copies")
        assert copies is not None
        assert sorted(target.search_trace_ids([copies.experiment_id])) == sorted(
            t.info.trace_id for t in traces)
        assert import_files(target, [path], experiment=copies.experiment_id).existing == 4
        with pytest.raises(NotFoundError):
            import_traces(target, traces, experiment_id="999")


def test_traces_without_a_name_need_their_experiment(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path}/t.db") as target:
        trace = make_trace(2, experiment_id="7")
        with pytest.raises(NotFoundError, match="experiment '7' of trace"):
            import_traces(target, [trace])
        report = import_traces(target, [trace], experiment_names={"7": "seven"})
        assert report.experiments_created == ["seven"]
        assert trace.info.experiment_id == "7"  # the caller's trace is not changed


def test_import_traces_batches_and_reports_progress(tmp_path: Path) -> None:
    traces = [make_trace(2) for _ in range(7)]
    seen: list[int] = []
    with SqlStore(f"sqlite:///{tmp_path}/t.db") as target:
        report = import_traces(target, iter(traces), batch_size=3, progress=seen.append)
        assert (report.batches, report.traces, report.new) == (3, 7, 7)
        assert seen == [3, 6, 7]
        with pytest.raises(InvalidInputError, match="batch_size"):
            import_traces(target, traces, batch_size=0)


def test_an_interrupted_import_resumes_where_it_stopped(source: tuple[SqlStore, list[Trace]],
                                                        tmp_path: Path) -> None:
    """A bad line stops the import after the whole batches before it; run again on the
    mended file, it writes the rest and leaves what is there as it was."""
    store, _ = source
    whole = tmp_path / "whole.jsonl"
    export_traces(store, whole)
    lines = whole.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n",
                      encoding="utf-8")
    target_uri = f"sqlite:///{tmp_path}/target.db"
    with SqlStore(target_uri) as target:
        with pytest.raises(InvalidInputError, match="line 4"):
            import_files(target, [broken], batch_size=2)
        assert len(target.search_trace_ids()) == 2  # the first batch, whole
        written = row_counts(target_uri)
        resumed = import_files(target, [whole], batch_size=2)
        assert (resumed.new, resumed.existing) == (2, 2)
        assert row_counts(target_uri)["traces"] == written["traces"] + 2
        for trace_id in store.search_trace_ids():
            assert comparable(target.get_trace(trace_id)) == comparable(
                store.get_trace(trace_id))


def test_export_to_a_stream_and_mlflow_json_shape(source: tuple[SqlStore, list[Trace]],
                                                  tmp_path: Path) -> None:
    store, _ = source
    out = io.StringIO()
    report = export_traces(store, out, format="mlflow-json", page_size=1)
    assert report.traces == 4
    document = json.loads(out.getvalue())
    assert set(document) == {"traces", "next_page_token"}
    assert document["next_page_token"] is None
    assert [t["info"]["trace_id"] for t in document["traces"]] == [  # newest first in each
        t.info.trace_id for e in store.list_experiments()
        for t in store.search_traces([e.experiment_id])]
    with pytest.raises(InvalidInputError, match="Parquet"):
        export_traces(store, io.StringIO(), format="parquet")
    empty = io.StringIO()
    export_traces(store, empty, format="mlflow-json", filter_string="tags.env = 'none'")
    assert json.loads(empty.getvalue()) == {"traces": [], "next_page_token": None}


def test_reads_mlflow_written_files(tmp_path: Path) -> None:
    """MLflow's own trace JSON: one trace per file (``mlflow traces get``), a list, and
    the ``mlflow traces search --output json`` document."""
    data = Path(__file__).parents[1] / "data" / "mlflow"
    objects = [json.loads((data / f"{n}.json").read_text()) for n in
               ("simple", "error", "assessments", "retriever")]
    (tmp_path / "list.json").write_text(json.dumps(objects))
    (tmp_path / "search.json").write_text(json.dumps(
        {"next_page_token": "x", "traces": objects}, indent=2))
    with SqlStore(f"sqlite:///{tmp_path}/t.db") as target:
        target.create_experiment("e")
        single = import_files(target, [data / "simple.json"], experiment="e")
        assert single.traces == 1
        both = import_files(target, [tmp_path / "list.json", tmp_path / "search.json"],
                            experiment="e")
        assert (both.traces, both.new, both.existing) == (8, 3, 5)
        for item in objects:
            got = target.get_trace(item["info"]["trace_id"])
            assert len(got.data.spans) == len(item["data"]["spans"])
            assert len(got.info.assessments) == len(item["info"].get("assessments") or [])


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.jsonl", '{"info": {"trace_id": "tr-1"}}\nnot json\n', "line 2 is not JSON"),
    ("a.jsonl", '{"info": {"trace_id": ""}}\n', "line 1: malformed trace JSON at info.trace_id"),
    ("a.json", '{"traces": [{"info": {"trace_id": "tr-1"}}, 3]}', "trace 2: malformed"),
    ("a.json", '{"traces": [{"info": {"trace_id": "tr-1"}} {"info": {}}]}',
     "expected ',' or ']'"),
    ("a.json", '{"nothing": 1}', 'no "traces" list'),
    ("a.json", '{"traces": [', "not JSON"),
    ("a.parquet", "not parquet", "not a readable Parquet file"),
    ("a.jsonl", '{"info": {"trace_id": "tr-1"}, "experiment_name": 5}\n',
     "experiment_name must be a string"),
])
def test_bad_files_say_where(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with SqlStore(f"sqlite:///{tmp_path}/t.db") as target, \
            pytest.raises(InvalidInputError, match=message):
        import_files(target, [path])


def test_unknown_extension_is_sniffed_and_missing_files_refused(
        source: tuple[SqlStore, list[Trace]], tmp_path: Path) -> None:
    store, _ = source
    export_traces(store, tmp_path / "x.parquet")
    export_traces(store, tmp_path / "x.jsonl")
    (tmp_path / "x.parquet").rename(tmp_path / "backup.bin")
    (tmp_path / "x.jsonl").rename(tmp_path / "lines.txt")
    assert TraceFile(tmp_path / "backup.bin").format == "parquet"
    assert TraceFile(tmp_path / "lines.txt").format == "jsonl"
    assert TraceFile(tmp_path / "lines.txt").total == 4
    with pytest.raises(InvalidInputError, match="no such file"):
        import_files(store, [tmp_path / "missing.jsonl"])
    with pytest.raises(InvalidInputError, match="from its extension"):
        export_traces(store, tmp_path / "out.txt")
    with gzip.open(tmp_path / "zipped", "wt") as out:
        out.write("{}")
    with pytest.raises(InvalidInputError, match="gzipped"):
        TraceFile(tmp_path / "zipped")


def test_one_experiment_id_with_two_names_is_refused(tmp_path: Path) -> None:
    a, b = make_trace(1, experiment_id="1"), make_trace(1, experiment_id="1")
    lines = [json.dumps({**a.to_dict(), "experiment_name": "x"}),
             json.dumps({**b.to_dict(), "experiment_name": "y"})]
    (tmp_path / "joined.jsonl").write_text("\n".join(lines))
    with SqlStore(f"sqlite:///{tmp_path}/t.db") as target:
        with pytest.raises(InvalidInputError, match="named both 'x' and 'y'"):
            import_files(target, [tmp_path / "joined.jsonl"])
        assert import_files(target, [tmp_path / "joined.jsonl"], experiment="z").traces == 2


def test_parquet_columns_serve_pandas(source: tuple[SqlStore, list[Trace]],
                                      tmp_path: Path) -> None:
    import pandas as pd

    store, traces = source
    export_traces(store, tmp_path / "t.parquet")
    frame = pd.read_parquet(tmp_path / "t.parquet").set_index("trace_id")
    first = frame.loc[traces[0].info.trace_id]
    assert first["experiment_name"] == "support-bot"
    assert first["state"] == "OK" and first["session_id"] == "s-1"
    assert first["span_count"] == 4 and first["name"] == "agent"
    assert str(frame["request_time"].dtype) == "datetime64[ms, UTC]"
    assert json.loads(first["tags"])["env"] == "prod"
    assert len(json.loads(first["assessments"])) == len(traces[0].info.assessments)
    assert frame.loc[traces[1].info.trace_id, "state"] == "ERROR"
