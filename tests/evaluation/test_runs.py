"""Runs on real SQLite files and PostgreSQL (and the in-memory store where noted).

Lifecycle (context manager, nesting, failure), params as strings that cannot change,
metric history and "latest", artifacts on disk beside the store, log_dict / log_table
contents, search_runs filters and DataFrame, and clear errors for unknown runs.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

import spanscope
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.store.artifacts import ARTIFACT_ROOT_ENV


@pytest.fixture
def uri(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The tracking URI (sqlite / postgresql); cwd is tmp_path (PostgreSQL's artifact root)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ARTIFACT_ROOT_ENV, raising=False)
    spanscope.set_tracking_uri(store_uri)
    yield store_uri
    while spanscope.active_run() is not None:  # a failed test must not leak its run
        spanscope.end_run()


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def any_uri(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ARTIFACT_ROOT_ENV, raising=False)
    chosen = ("memory://" if request.param == "memory" else
              request.getfixturevalue("sqlite_uri" if request.param == "sqlite" else "pg_uri"))
    spanscope.set_tracking_uri(chosen)
    yield chosen
    while spanscope.active_run() is not None:
        spanscope.end_run()


def _dir(artifact_uri: str) -> Path:
    return Path(url2pathname(urlparse(artifact_uri).path))


# --- lifecycle -------------------------------------------------------------------------------
def test_with_block_ends_the_run_finished(any_uri: str) -> None:
    experiment_id = spanscope.set_experiment("evals")
    with spanscope.start_run("baseline", tags={"team": "qa"}) as run:
        assert spanscope.active_run().info.run_id == run.info.run_id
        assert run.info.status == "RUNNING"
    assert spanscope.active_run() is None
    stored = spanscope.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "baseline"
    assert stored.info.experiment_id == experiment_id != "0"
    assert stored.info.start_time <= stored.info.end_time
    assert stored.data.tags["team"] == "qa"
    assert stored.data.tags["mlflow.runName"] == "baseline"
    assert spanscope.last_active_run().info.run_id == run.info.run_id


def test_exception_in_the_block_marks_the_run_failed_and_propagates(any_uri: str) -> None:
    with pytest.raises(ZeroDivisionError), spanscope.start_run() as run:
        1 / 0  # noqa: B018
    assert spanscope.active_run() is None
    assert spanscope.get_run(run.info.run_id).info.status == "FAILED"
    assert run.info.run_name  # a generated name such as swift-otter-317


def test_nested_runs_record_their_parent(uri: str) -> None:
    with spanscope.start_run("outer") as outer:
        with pytest.raises(InvalidInputError, match=r"already active.*nested=True"):
            spanscope.start_run("oops")
        with spanscope.start_run("inner", nested=True) as inner:
            assert spanscope.active_run().info.run_id == inner.info.run_id
        assert spanscope.active_run().info.run_id == outer.info.run_id
    child = spanscope.get_run(inner.info.run_id)
    assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert "mlflow.parentRunId" not in spanscope.get_run(outer.info.run_id).data.tags
    assert child.info.status == "FINISHED"


def test_ending_the_outer_run_ends_an_inner_one_left_open(uri: str) -> None:
    outer = spanscope.start_run("outer")
    inner = spanscope.start_run("inner", nested=True)
    spanscope.end_run()  # ends inner
    assert spanscope.active_run().info.run_id == outer.info.run_id
    again = spanscope.start_run("inner2", nested=True)
    with outer:  # leaving the outer run's block ends everything inside it
        pass
    assert spanscope.active_run() is None
    assert spanscope.get_run(inner.info.run_id).info.status == "FINISHED"
    assert spanscope.get_run(again.info.run_id).info.status == "FINISHED"


def test_plain_start_run_stays_active_until_end_run(uri: str) -> None:
    run = spanscope.start_run()
    assert spanscope.get_run(run.info.run_id).info.status == "RUNNING"
    assert spanscope.get_run(run.info.run_id).info.end_time is None
    spanscope.log_param("p", 1)  # goes to the active run
    with pytest.raises(InvalidInputError, match="status 'DONE'"):
        spanscope.end_run(status="DONE")
    spanscope.end_run(status="KILLED")
    stored = spanscope.get_run(run.info.run_id)
    assert stored.info.status == "KILLED" and stored.info.end_time is not None
    assert stored.data.params == {"p": "1"}
    spanscope.end_run()  # nothing active: a no-op, as in MLflow


def test_logging_without_an_active_run_starts_one(uri: str) -> None:
    spanscope.log_metric("m", 1.0)
    run = spanscope.active_run()
    assert run is not None
    spanscope.end_run()
    assert spanscope.get_run(run.info.run_id).data.metrics == {"m": 1.0}


def test_resuming_a_run_by_id(uri: str) -> None:
    with spanscope.start_run("first") as run:
        spanscope.log_param("a", "1")
    with spanscope.start_run(run_id=run.info.run_id) as resumed:
        assert resumed.data.params == {"a": "1"}
        assert spanscope.get_run(run.info.run_id).info.status == "RUNNING"
        spanscope.log_param("b", "2")
    stored = spanscope.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED" and stored.data.params == {"a": "1", "b": "2"}


def test_runs_are_per_thread(uri: str) -> None:
    seen: list[object] = []
    with spanscope.start_run():
        worker = threading.Thread(target=lambda: seen.append(spanscope.active_run()))
        worker.start()
        worker.join()
    assert seen == [None]


# --- params, metrics, tags -------------------------------------------------------------------
def test_params_are_strings_and_cannot_change(any_uri: str) -> None:
    with spanscope.start_run() as run:
        assert spanscope.log_param("lr", 0.01) == 0.01
        spanscope.log_params({"layers": 3, "flag": True, "model": "gpt-4o", "none": None})
        spanscope.log_param("lr", "0.01")  # the same string again is fine
        with pytest.raises(InvalidInputError, match=r"param 'lr'.*'0.01'.*'0.02'"):
            spanscope.log_param("lr", 0.02)
        with pytest.raises(InvalidInputError, match="invalid param key"):
            spanscope.log_param("../escape", 1)
    assert spanscope.get_run(run.info.run_id).data.params == {
        "lr": "0.01", "layers": "3", "flag": "True", "model": "gpt-4o", "none": "None"}


def test_a_rejected_batch_writes_nothing(uri: str) -> None:
    with spanscope.start_run() as run:
        spanscope.log_param("a", "1")
        with pytest.raises(InvalidInputError):
            spanscope.log_params({"b": "2", "a": "changed"})
    assert spanscope.get_run(run.info.run_id).data.params == {"a": "1"}


def test_metric_history_and_latest_value(any_uri: str) -> None:
    with spanscope.start_run() as run:
        spanscope.log_metric("loss", 1.0, step=0, timestamp=1000)
        spanscope.log_metric("loss", 0.5, step=1, timestamp=2000)
        spanscope.log_metric("loss", 0.25, step=2, timestamp=3000)
        spanscope.log_metrics({"loss": 0.4, "acc": 0.9}, step=1, timestamp=4000)
        spanscope.log_metric("weird", math.nan)
        with pytest.raises(InvalidInputError, match="must be a number"):
            spanscope.log_metric("bad", "high")
    run_id = run.info.run_id
    history = spanscope.get_metric_history(run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (0, 1.0, 1000), (1, 0.5, 2000), (1, 0.4, 4000), (2, 0.25, 3000)]
    metrics = spanscope.get_run(run_id).data.metrics
    assert metrics["loss"] == 0.25  # the highest step wins, not the last logged
    assert metrics["acc"] == 0.9
    assert math.isnan(metrics["weird"])
    assert math.isnan(spanscope.get_metric_history(run_id, "weird")[0].value)
    assert spanscope.get_metric_history(run_id, "never") == []


def test_tags_replace_and_run_name_tag_renames(uri: str) -> None:
    with spanscope.start_run("before") as run:
        spanscope.set_tag("stage", "dev")
        spanscope.set_tags({"stage": "prod", "owner": 7})
        spanscope.set_tag("mlflow.runName", "after")
    stored = spanscope.get_run(run.info.run_id)
    assert stored.data.tags["stage"] == "prod" and stored.data.tags["owner"] == "7"
    assert stored.info.run_name == "after"


def test_threads_logging_to_one_run_lose_nothing(uri: str) -> None:
    with spanscope.start_run() as run:
        run_id = run.info.run_id

        def work(worker: int) -> None:
            for i in range(15):
                spanscope.log_metric("score", worker * 100 + i, step=worker * 100 + i,
                                     run_id=run_id)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(spanscope.get_metric_history(run_id, "score")) == 60
    assert spanscope.get_run(run_id).data.metrics["score"] == 314.0


def test_unknown_runs_are_not_found(uri: str) -> None:
    with pytest.raises(NotFoundError, match="run 'nope' not found"):
        spanscope.get_run("nope")
    with pytest.raises(NotFoundError):
        spanscope.log_param("a", 1, run_id="f" * 32)
    with pytest.raises(NotFoundError):
        spanscope.get_metric_history("f" * 32, "loss")
    with pytest.raises(NotFoundError, match="experiment"):
        spanscope.start_run(experiment_id="424242")


# --- artifacts --------------------------------------------------------------------------------
def test_artifacts_are_written_beside_the_store(uri: str, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("hello", encoding="utf-8")
    folder = tmp_path / "plots"
    folder.mkdir()
    (folder / "a.svg").write_text("<svg/>", encoding="utf-8")
    with spanscope.start_run() as run:
        spanscope.log_artifact(source)
        spanscope.log_artifact(source, artifact_path="docs/v1")
        spanscope.log_artifact(folder, artifact_path="figures")
        with pytest.raises(InvalidInputError, match="does not exist"):
            spanscope.log_artifact(tmp_path / "missing.txt")
    info = spanscope.get_run(run.info.run_id).info
    # SQLite: beside the database file; PostgreSQL: ./spanscope-artifacts (cwd = tmp_path)
    expected = tmp_path / "spanscope-artifacts" / info.experiment_id / info.run_id / "artifacts"
    assert info.artifact_uri == expected.as_uri()
    assert (expected / "notes.txt").read_text(encoding="utf-8") == "hello"
    assert (expected / "docs" / "v1" / "notes.txt").read_text(encoding="utf-8") == "hello"
    assert (expected / "figures" / "plots" / "a.svg").read_text(encoding="utf-8") == "<svg/>"
    from spanscope.api.runs import list_artifacts

    assert [(f.path, f.is_dir) for f in list_artifacts(info.run_id)] == [
        ("docs", True), ("figures", True), ("notes.txt", False)]
    assert list_artifacts(info.run_id, "docs/v1")[0].file_size == 5


def test_sqlite_artifact_root_is_the_database_directory(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ARTIFACT_ROOT_ENV, raising=False)
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    spanscope.set_tracking_uri(f"sqlite:///{tmp_path}/data/runs.db")
    with spanscope.start_run() as run:
        spanscope.log_text("x", "x.txt")
    assert _dir(run.info.artifact_uri) == (tmp_path / "data" / "spanscope-artifacts" / "0"
                                           / run.info.run_id / "artifacts")
    assert (_dir(run.info.artifact_uri) / "x.txt").read_text(encoding="utf-8") == "x"


def test_artifact_root_from_the_environment(uri: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "elsewhere"
    monkeypatch.setenv(ARTIFACT_ROOT_ENV, str(root))
    with spanscope.start_run() as run:
        spanscope.log_dict({"k": 1}, "d.json")
    assert _dir(run.info.artifact_uri) == root / "0" / run.info.run_id / "artifacts"
    assert json.loads((root / "0" / run.info.run_id / "artifacts" / "d.json").read_text()) == {
        "k": 1}


def test_log_dict_writes_json_or_yaml_by_extension(uri: str) -> None:
    config = {"model": "gpt-4o", "temperature": 0.2, "stops": ["\n"], "nested": {"ö": None}}
    with spanscope.start_run() as run:
        spanscope.log_dict(config, "config/settings.json")
        spanscope.log_dict(config, "config/settings.yaml")
        with pytest.raises(InvalidInputError, match="relative path"):
            spanscope.log_dict(config, "../outside.json")
        with pytest.raises(InvalidInputError, match="relative path"):
            spanscope.log_dict(config, "/abs.json")
    base = _dir(run.info.artifact_uri) / "config"
    assert json.loads((base / "settings.json").read_text(encoding="utf-8")) == config
    import yaml

    assert yaml.safe_load((base / "settings.yaml").read_text(encoding="utf-8")) == config


def test_log_dict_yaml_without_pyyaml_is_a_clear_error(uri: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # PyYAML not installed
    with spanscope.start_run() as run:
        with pytest.raises(InvalidInputError, match=r"PyYAML.*\.json"):
            spanscope.log_dict({"a": 1}, "c.yml")
        spanscope.log_dict({"a": 1}, "c.json")  # JSON needs nothing
    assert not (_dir(run.info.artifact_uri) / "c.yml").exists()


def test_log_table_writes_mlflow_table_json_and_appends(uri: str) -> None:
    import pandas as pd

    with spanscope.start_run() as run:
        spanscope.log_table({"question": ["a", "b"], "score": [1, 0.5]}, "eval/table.json")
        spanscope.log_table(pd.DataFrame({"question": ["c"], "score": [math.nan],
                                          "detail": [{"why": "n/a"}]}), "eval/table.json")
        with pytest.raises(InvalidInputError, match="different lengths"):
            spanscope.log_table({"a": [1, 2], "b": [1]}, "bad.json")
        with pytest.raises(InvalidInputError, match=r"\.json"):
            spanscope.log_table({"a": [1]}, "table.csv")
    body = json.loads((_dir(run.info.artifact_uri) / "eval" / "table.json").read_text())
    assert body == {"columns": ["question", "score", "detail"],
                    "data": [["a", 1, None], ["b", 0.5, None], ["c", None, {"why": "n/a"}]]}
    frame = spanscope.load_table("eval/table.json", run_ids=[run.info.run_id],
                                 extra_columns=["run_id"])
    assert list(frame.columns) == ["question", "score", "detail", "run_id"]
    assert frame["question"].tolist() == ["a", "b", "c"]
    assert set(frame["run_id"]) == {run.info.run_id}


# --- search ----------------------------------------------------------------------------------
def _three_runs() -> dict[str, str]:
    ids = {}
    for name, model, acc, team in (("r1", "a", 0.4, "x"), ("r2", "a", 0.8, "y"),
                                   ("r3", "b", 0.9, "x")):
        with spanscope.start_run(name, tags={"team": team}) as run:
            spanscope.log_params({"model": model})
            spanscope.log_metric("acc", acc)
        ids[name] = run.info.run_id
        time.sleep(0.003)  # distinct start times: "newest first" is then well defined
    return ids


def test_search_runs_filters_and_orders(any_uri: str) -> None:
    ids = _three_runs()

    def names(**kwargs: object) -> list[str | None]:
        return [r.info.run_name for r in spanscope.search_runs(output_format="list", **kwargs)]

    assert names() == ["r3", "r2", "r1"]  # newest first
    assert names(filter_string="params.model = 'a' AND metrics.acc > 0.5") == ["r2"]
    assert names(filter_string="tags.team = 'x'", order_by=["metrics.acc ASC"]) == ["r1", "r3"]
    assert names(filter_string="attributes.run_name LIKE 'r%'",
                 order_by="metrics.acc DESC") == ["r3", "r2", "r1"]
    assert names(filter_string="params.model IN ('b', 'c')") == ["r3"]
    assert names(filter_string="params.model NOT IN ('b')") == ["r2", "r1"]
    assert names(filter_string="run_name ILIKE 'R_' AND tags.`team` = \"x\"") == ["r3", "r1"]
    assert names(filter_string="metrics.acc >= 0.8 and metrics.acc <= 0.8") == ["r2"]
    assert names(filter_string="params.missing != 'a'") == []  # absent keys never match
    assert names(filter_string=f"attributes.run_id = '{ids['r2']}'") == ["r2"]
    assert names(filter_string="status = 'FINISHED'", max_results=2) == ["r3", "r2"]
    assert names(experiment_ids=["0"]) == ["r3", "r2", "r1"]
    spanscope.set_experiment("other")
    assert names() == []
    assert names(search_all_experiments=True) == ["r3", "r2", "r1"]


def test_search_runs_bad_filters_are_filter_errors(uri: str) -> None:
    with pytest.raises(FilterError, match="position 14"):
        spanscope.search_runs(filter_string="metrics.acc > 'high'")
    with pytest.raises(FilterError, match="only AND"):
        spanscope.search_runs(filter_string="params.a = '1' OR params.b = '2'")
    with pytest.raises(FilterError, match="unknown attribute"):
        spanscope.search_runs(filter_string="attributes.colour = 'red'")
    with pytest.raises(FilterError, match="cannot compare"):
        spanscope.search_runs(filter_string="params.a > '1'")


def test_search_runs_dataframe_has_mlflow_columns(uri: str) -> None:
    import pandas as pd

    ids = _three_runs()
    frame = spanscope.search_runs(order_by=["attributes.run_name"])
    assert list(frame.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri",
                                       "start_time", "end_time"]
    assert {"metrics.acc", "params.model", "tags.team", "tags.mlflow.runName"} <= set(
        frame.columns)
    assert frame["run_id"].tolist() == [ids["r1"], ids["r2"], ids["r3"]]
    assert frame["metrics.acc"].tolist() == [0.4, 0.8, 0.9]
    assert frame["params.model"].tolist() == ["a", "a", "b"]
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype)
    empty = spanscope.search_runs(filter_string="params.model = 'zzz'")
    assert len(empty) == 0 and list(empty.columns) == list(frame.columns[:6])
