"""Evaluation datasets on real SQLite files and PostgreSQL (and the in-memory store).

Upsert by inputs (never a duplicate, expectations merged newer-wins), immutable versions
with content digests, lineage to traces, file round trips, and clear errors.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spanscope
from factories import make_trace
from spanscope.entities import AssessmentSource, Expectation, Trace
from spanscope.entities.dataset import EMPTY_DIGEST
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.genai.datasets import (
    create_dataset,
    delete_dataset,
    export_dataset,
    get_dataset,
    import_dataset,
    search_datasets,
)


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def uri(request: pytest.FixtureRequest) -> Iterator[str]:
    chosen = ("memory://" if request.param == "memory" else
              request.getfixturevalue("sqlite_uri" if request.param == "sqlite" else "pg_uri"))
    spanscope.set_tracking_uri(chosen)
    yield chosen


@pytest.fixture
def sql_uri(store_uri: str) -> str:
    spanscope.set_tracking_uri(store_uri)
    return store_uri


def _content(frame: Any) -> list[tuple[str, ...]]:
    """The records' content as comparable text, ids and times left out."""
    return sorted(tuple(json.dumps(row[c], sort_keys=True) for c in
                        ("inputs", "expectations", "outputs", "tags", "source_trace_id"))
                  for row in frame.to_dict(orient="records"))


# --- create / get / delete / search --------------------------------------------------------------
def test_create_get_delete_by_name_or_id(uri: str) -> None:
    ds = create_dataset("support", tags={"team": "qa"})
    assert (ds.name, ds.version, ds.record_count, ds.digest) == ("support", 0, 0, EMPTY_DIGEST)
    assert ds.dataset_id.startswith("d-") and ds.experiment_ids == ["0"]
    assert ds.tags == {"team": "qa"}
    assert get_dataset("support").dataset_id == ds.dataset_id
    assert get_dataset(uc_table_name="support").dataset_id == ds.dataset_id
    assert get_dataset(dataset_id=ds.dataset_id).name == "support"
    assert create_dataset(uc_table_name="main.eval.cases").name == "main.eval.cases"
    with pytest.raises(InvalidInputError, match="already exists"):
        create_dataset("support")
    with pytest.raises(InvalidInputError, match="differ"):
        create_dataset("a", uc_table_name="b")
    with pytest.raises(InvalidInputError, match="needs a name"):
        create_dataset()
    with pytest.raises(InvalidInputError, match="exactly one"):
        get_dataset()
    delete_dataset("support")
    with pytest.raises(NotFoundError, match="dataset 'support' not found"):
        get_dataset("support")
    with pytest.raises(NotFoundError):
        delete_dataset(dataset_id=ds.dataset_id)
    with pytest.raises(NotFoundError):
        ds.merge_records([{"inputs": {"q": 1}}])


def test_search_datasets_by_experiment_filter_and_order(uri: str) -> None:
    other = spanscope.set_experiment("other")
    create_dataset("b-set", experiment_id=other, tags={"team": "qa"})
    time.sleep(0.003)  # distinct creation times: "newest first" is then well defined
    create_dataset("a-set", experiment_id=["0", other])
    time.sleep(0.003)
    create_dataset("c-set", experiment_id="0", tags={"team": "ops"})

    def names(*args: Any, **kwargs: Any) -> list[str]:
        return [d.name for d in search_datasets(*args, **kwargs)]

    assert names() == ["c-set", "a-set", "b-set"]  # newest first
    assert names(order_by="name") == ["a-set", "b-set", "c-set"]
    assert names(experiment_ids=[other], order_by=["name ASC"]) == ["a-set", "b-set"]
    assert names(experiment_ids="0", order_by="name DESC") == ["c-set", "a-set"]
    assert names(filter_string="tags.team = 'qa'") == ["b-set"]
    assert names(filter_string="name LIKE '%-set' AND record_count = 0",
                 max_results=1, order_by="name") == ["a-set"]
    with pytest.raises(FilterError):
        search_datasets(filter_string="colour = 'red'")
    with pytest.raises(NotFoundError, match="experiment"):
        create_dataset("x", experiment_id="987654")


# --- upsert --------------------------------------------------------------------------------------
def test_same_inputs_update_one_record_with_expectations_merged_newer_wins(uri: str) -> None:
    ds = create_dataset("upsert")
    ds.merge_records([{"inputs": {"q": "reset password", "lang": "en"},
                       "expectations": {"expected_response": "old", "keep": 1},
                       "tags": {"src": "manual"}}])
    first = ds.records[0]
    assert ds.last_merge.inserted == 1 and ds.last_merge.updated == 0
    ds.merge_records([{"inputs": {"lang": "en", "q": "reset password"},  # key order differs
                       "expectations": {"expected_response": "new", "facts": ["email"]},
                       "outputs": {"answer": "use the link"}, "tags": {"k": "v"}}])
    assert ds.last_merge.inserted == 0 and ds.last_merge.updated == 1
    (record,) = ds.records
    assert record.record_id == first.record_id
    assert record.created_time == first.created_time
    assert record.last_update_time >= first.last_update_time
    assert record.expectations == {"expected_response": "new", "keep": 1, "facts": ["email"]}
    assert record.outputs == {"answer": "use the link"}
    assert record.tags == {"src": "manual", "k": "v"}
    ds.merge_records([{"inputs": {"q": "reset password", "lang": "en"}}])  # no outputs given
    assert ds.records[0].outputs == {"answer": "use the link"}
    assert ds.last_merge.unchanged == 1
    assert len(ds.to_df()) == 1


def test_one_batch_with_repeated_inputs_folds_into_one_record(uri: str) -> None:
    ds = create_dataset("fold")
    ds.merge_records([{"inputs": {"q": 1}, "expectations": {"a": 1}},
                      {"inputs": {"q": 2}},
                      {"inputs": {"q": 1}, "expectations": {"a": 2, "b": 3}}])
    frame = ds.to_df()
    assert frame["inputs"].tolist() == [{"q": 1}, {"q": 2}]
    assert frame["expectations"].tolist()[0] == {"a": 2, "b": 3}
    assert ds.last_merge.inserted == 2


def test_dataframe_records_with_empty_cells(uri: str) -> None:
    import pandas as pd

    ds = create_dataset("frame")
    ds.merge_records(pd.DataFrame({
        "inputs": [{"q": "a"}, {"q": "b"}],
        "expectations": [{"expected_response": "A"}, None],
        "outputs": [float("nan"), "B"],
    }))
    frame = ds.to_df()
    assert list(frame.columns[:3]) == ["inputs", "expectations", "outputs"]
    assert frame["expectations"].tolist() == [{"expected_response": "A"}, None]
    assert frame["outputs"].tolist() == [None, "B"]


# --- versions and digests ------------------------------------------------------------------------
def test_every_merge_is_an_immutable_version(uri: str) -> None:
    ds = create_dataset("versions")
    ds.merge_records([{"inputs": {"q": 1}, "expectations": {"a": "v1"}}, {"inputs": {"q": 2}}])
    v1_digest = ds.digest
    ds.merge_records([{"inputs": {"q": 1}, "expectations": {"a": "v2"}}, {"inputs": {"q": 3}}])
    ds.merge_records([{"inputs": {"q": 4}}])
    assert ds.version == 3
    versions = ds.versions()
    assert [(v.version, v.record_count, v.inserted, v.updated) for v in versions] == [
        (0, 0, 0, 0), (1, 2, 2, 0), (2, 3, 1, 1), (3, 4, 1, 0)]
    assert versions[0].digest == EMPTY_DIGEST and versions[1].digest == v1_digest
    assert versions[-1].digest == ds.digest
    assert len({v.digest for v in versions}) == 4
    old = ds.to_df(version=1)
    assert old["inputs"].tolist() == [{"q": 1}, {"q": 2}]
    assert old["expectations"].tolist() == [{"a": "v1"}, None]
    assert ds.to_df(version=2)["expectations"].tolist() == [{"a": "v2"}, None, None]
    assert ds.to_df(version=0).empty
    assert ds.to_df()["inputs"].tolist() == [{"q": 1}, {"q": 2}, {"q": 3}, {"q": 4}]
    with pytest.raises(InvalidInputError, match="no version 9"):
        ds.to_df(version=9)
    again = get_dataset("versions")
    assert (again.version, again.digest, again.record_count) == (3, ds.digest, 4)


def test_same_content_gives_the_same_digest(uri: str) -> None:
    a = create_dataset("a")
    a.merge_records([{"inputs": {"q": 1}, "expectations": {"x": 1}}])
    a.merge_records([{"inputs": {"q": 2}, "outputs": "two"}])
    a.merge_records([{"inputs": {"q": 1}, "expectations": {"y": 2}}])
    b = create_dataset("b")
    b.merge_records([{"inputs": {"q": 2}, "outputs": "two"},
                     {"inputs": {"q": 1}, "expectations": {"y": 2, "x": 1}}])
    assert a.digest == b.digest
    before = a.digest
    a.merge_records([{"inputs": {"q": 1}, "expectations": {"x": 1}}])  # changes nothing
    assert a.version == 4 and a.digest == before
    b.merge_records([{"inputs": {"q": 1}, "expectations": {"x": 99}}])
    assert b.digest != before


def test_concurrent_merges_are_serialised(sql_uri: str) -> None:
    ds = create_dataset("busy")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            mine = get_dataset("busy")
            for i in range(5):
                mine.merge_records([{"inputs": {"q": f"{worker}-{i}"}},
                                    {"inputs": {"q": "shared"},
                                     "expectations": {f"w{worker}": i}}])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ds.refresh()
    assert ds.version == 20
    assert [v.version for v in ds.versions()] == list(range(21))
    frame = ds.to_df()
    assert len(frame) == 21  # 20 distinct + one shared record, never duplicated
    shared = frame[frame["inputs"] == {"q": "shared"}]["expectations"].iloc[0]
    assert shared == {"w0": 4, "w1": 4, "w2": 4, "w3": 4}


# --- lineage to traces ---------------------------------------------------------------------------
def _traces_with_expectations() -> list[Trace]:
    human = AssessmentSource("HUMAN", "alice")
    old = Expectation(name="expected_response", value="Lyon", source=human,
                      create_time_ms=1_000, valid=False)
    new = Expectation(name="expected_response", value="Paris", source=human,
                      create_time_ms=2_000)
    facts = Expectation(name="expected_facts", value=["capital"], source=human,
                        create_time_ms=3_000)
    first = make_trace(question="Capital of France?", assessments=[old, new, facts])
    second = make_trace(question="Capital of Italy?", state="ERROR")
    spanscope.tracking.get_store().log_traces([first, second])
    return [first, second]


def test_records_from_traces_carry_lineage(uri: str) -> None:
    first, second = _traces_with_expectations()
    ds = create_dataset("from-traces")
    ds.merge_records([spanscope.get_trace(first.info.trace_id),
                      spanscope.get_trace(second.info.trace_id)])
    rows = ds.to_df().to_dict(orient="records")
    assert [r["source_trace_id"] for r in rows] == [first.info.trace_id, second.info.trace_id]
    assert rows[0]["inputs"] == {"question": "Capital of France?"}
    assert rows[0]["outputs"] == {"answer": "The capital of France is Paris."}
    assert rows[0]["expectations"] == {"expected_response": "Paris",
                                       "expected_facts": ["capital"]}  # invalid one dropped
    assert rows[0]["source"] == {"source_type": "TRACE",
                                 "source_data": {"trace_id": first.info.trace_id}}
    assert rows[1]["outputs"] is None and rows[1]["expectations"] is None


def test_records_from_a_search_traces_dataframe(uri: str) -> None:
    first, second = _traces_with_expectations()
    from_list = create_dataset("from-list")
    from_list.merge_records([first, second])
    frame = spanscope.search_traces()
    from_frame = create_dataset("from-frame")
    from_frame.merge_records(frame)
    assert from_frame.digest == from_list.digest
    assert sorted(from_frame.to_df()["source_trace_id"]) == sorted(
        [first.info.trace_id, second.info.trace_id])
    # without the trace column (e.g. a frame saved and reloaded): request/response/assessments
    light = create_dataset("from-columns")
    light.merge_records(frame.drop(columns=["trace"]))
    assert light.digest == from_list.digest
    from_frame.merge_records(frame)  # merging the same traces again adds nothing
    assert len(from_frame.to_df()) == 2


# --- files ---------------------------------------------------------------------------------------
TRICKY = [
    {"inputs": {"question": "Comma, \"quote\" and\nnewline", "k": 3},
     "expectations": {"expected_response": "Ünïcödé ✓", "facts": ["a", "b"], "score": 0.1},
     "outputs": {"answer": "x", "nested": [1, {"deep": None}]}, "tags": {"split": "test"}},
    {"inputs": {"question": "plain"}, "outputs": "just text"},
    {"inputs": {"question": "list output", "n": 1e-7}, "outputs": [1, 2.5, True],
     "source_trace_id": "tr-" + "ab" * 16},
    {"inputs": {"empty": {}}, "expectations": {}},
]


@pytest.mark.parametrize("extension", ["csv", "jsonl", "parquet"])
def test_export_import_round_trip(uri: str, tmp_path: Path, extension: str) -> None:
    ds = create_dataset("tricky")
    ds.merge_records(TRICKY)
    ds.merge_records([{"inputs": {"question": "plain"}, "expectations": {"later": True}}])
    path = export_dataset(ds, tmp_path / f"tricky.{extension}")
    copy = import_dataset("tricky-copy", path)
    assert copy.digest == ds.digest
    assert _content(copy.to_df()) == _content(ds.to_df())
    assert copy.version == 1
    # an old version exports as it was
    ds.export(tmp_path / f"v1.{extension}", version=1)
    assert import_dataset("v1-copy", tmp_path / f"v1.{extension}").digest == \
        ds.versions()[1].digest
    # merging the file into the original changes nothing but the version
    before = ds.digest
    ds.import_records(path)
    assert ds.digest == before and ds.last_merge.inserted == 0


def test_file_formats_and_bad_files(uri: str, tmp_path: Path) -> None:
    ds = create_dataset("fmt")
    ds.merge_records([{"inputs": {"q": 1}}])
    ds.export(tmp_path / "data.txt", format="jsonl")
    assert json.loads((tmp_path / "data.txt").read_text().splitlines()[0])["inputs"] == {"q": 1}
    with pytest.raises(InvalidInputError, match="extension"):
        ds.export(tmp_path / "data.xlsx")
    with pytest.raises(InvalidInputError, match="unknown dataset file format"):
        ds.export(tmp_path / "data.csv", format="xml")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": {"q": 1}}\nnot json\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="line 2 is not JSON"):
        import_dataset("bad", bad)
    with pytest.raises(NotFoundError):
        get_dataset("bad")  # a bad file creates nothing
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text('inputs,expectations\n"{""q"": 1}",{oops\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"line 2: column 'expectations' is not JSON"):
        import_dataset("bad", bad_csv)
    no_inputs = tmp_path / "no_inputs.jsonl"
    no_inputs.write_text('{"expectations": {"a": 1}}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"record 0.*no 'inputs'"):
        import_dataset("bad", no_inputs)
    with pytest.raises(InvalidInputError, match="no such file"):
        import_dataset("bad", tmp_path / "missing.csv")


# --- bad input -----------------------------------------------------------------------------------
def test_bad_records_are_clear_errors_and_change_nothing(uri: str) -> None:
    import pandas as pd

    ds = create_dataset("strict")
    ds.merge_records([{"inputs": {"q": 1}}])
    cases: list[tuple[Any, str]] = [
        ([{"inputs": {"q": 2}}, {"expectations": {"a": 1}}], r"record 1 .*no 'inputs'"),
        ([{"inputs": "just a string"}], r"record 0 .*'inputs' must be a dict"),
        ([{"inputs": {"q": object()}}], r"record 0 .*'inputs' has no JSON form"),
        ([{"inputs": {"q": 1}, "expectations": ["a"]}], r"'expectations' must be a dict"),
        ([{"inputs": {"q": float("inf")}}], r"no JSON form"),
        ([{"inputs": {"q": 1}, "colour": "red"}], r"unknown field\(s\) \['colour'\]"),
        ([42], r"record 0 must be a dict"),
        ({"inputs": {"q": 1}}, r"list of record dicts"),
        (pd.DataFrame({"question": ["a"]}), r"needs an 'inputs' column"),
    ]
    for records, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            ds.merge_records(records)
    assert get_dataset("strict").version == 1
    assert ds.to_df()["inputs"].tolist() == [{"q": 1}]


def test_a_trace_without_dict_inputs_is_refused(uri: str) -> None:
    trace = make_trace()
    root = trace.data.root_span
    assert root is not None
    from spanscope.entities import Span

    odd_root = Span.build(trace_id=root.trace_id, span_id=root.span_id, parent_id=None,
                          name=root.name, start_time_ns=root.start_time_ns,
                          end_time_ns=root.end_time_ns, span_type=root.span_type,
                          inputs=["positional", "args"], outputs="x")
    odd = Trace(trace.info, dataclasses.replace(trace.data, spans=[odd_root]))
    with pytest.raises(InvalidInputError, match=r"trace 'tr-.*'inputs' must be a dict"):
        create_dataset("odd").merge_records([odd])
