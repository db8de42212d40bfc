"""``import_mlflow`` on stores the real MLflow 3.17.2 wrote with every trace feature.

The generator (``tests/data/make_mlflow_store.py``) also saves what MLflow itself reads
back (``get_trace(id).to_dict()`` per trace, each dataset's records); every import here
is compared with that, field by field, through Spanscope's own reading of MLflow's JSON.
Sources: a SQLite store, a PostgreSQL store and a running ``mlflow server``; targets:
SQLite and PostgreSQL Spanscope stores.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from tests.lifecycle.mlflow_peer import make_store, mlflow_server

from spanscope.entities import Trace
from spanscope.entities.dataset import canonical_json
from spanscope.exceptions import InvalidUriError, NotFoundError
from spanscope.lifecycle.mlflow_import import STORAGE_TAGS, import_mlflow
from spanscope.store.sql import SqlStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_sqlite(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """An MLflow SQLite store with every trace feature, and what MLflow reads from it."""
    workdir = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{workdir}/mlflow.db"
    return uri, make_store(uri, workdir)


# Tests whose subject is the source, not the target, write into a SQLite store only.
SQLITE_TARGET = pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)


def _import(source: str, store: SqlStore, tmp_path: Path, **kwargs: Any) -> Any:
    return import_mlflow(source, store, state_path=tmp_path / "state.json", **kwargs)


def _mlflow_view(data: dict[str, Any]) -> Trace:
    """MLflow's trace JSON as Spanscope reads it, less what the import leaves out: the
    storage tags and issue references."""
    data = copy.deepcopy(data)
    info = data["info"]
    info["tags"] = {k: v for k, v in info["tags"].items() if k not in STORAGE_TAGS}
    info["assessments"] = [a for a in info.get("assessments") or []
                           if "feedback" in a or "expectation" in a]
    return Trace.from_dict(data)


def _comparable(trace: Trace) -> dict[str, Any]:
    out = trace.to_dict()
    out["info"]["assessments"].sort(key=lambda a: a["assessment_id"])
    out["info"].pop("trace_location")
    return out


def assert_matches_mlflow(store: SqlStore, expected: dict[str, Any]) -> None:
    names = {"0": "Default", **{v: k for k, v in expected["experiments"].items()}}
    for trace_id, data in expected["traces"].items():
        got = store.get_trace(trace_id)
        want = _mlflow_view(data)
        mlflow_experiment = data["info"]["trace_location"]["mlflow_experiment"]
        assert store.get_experiment(got.info.experiment_id).name == names[
            mlflow_experiment["experiment_id"]]
        assert len(got.data.spans) == len(data["data"]["spans"]) > 0, trace_id
        assert _comparable(got) == _comparable(want), trace_id
    for name, dataset in expected["datasets"].items():
        found = store.get_dataset_by_name(name)
        assert found is not None, name
        assert found.tags == dataset["tags"]
        assert sorted(store.get_experiment(e).name for e in found.experiment_ids) == sorted(
            names[e] for e in dataset["experiment_ids"])
        got_records = {canonical_json(r.inputs): (r.expectations or None, r.outputs or None,
                                                  r.tags, r.source)
                       for r in store.get_dataset_records(found.dataset_id)}
        want_records = {canonical_json(r["inputs"]): (r["expectations"] or None,
                                                      r["outputs"] or None, r["tags"],
                                                      r["source"])
                        for r in dataset["records"]}
        assert got_records == want_records, name


def test_store_imports_everything(mlflow_sqlite: tuple[str, dict[str, Any]],
                                         store: SqlStore, tmp_path: Path) -> None:
    uri, expected = mlflow_sqlite
    report = _import(uri, store, tmp_path)
    assert_matches_mlflow(store, expected)
    assert report.traces == len(expected["traces"]) + 1  # + the legacy trace's source
    assert set(report.experiments) == {"Default", "support-bot", "rag-eval"}
    assert report.datasets == 2 and report.records_inserted == 5
    issues = report.unmapped["issue assessments"]
    assert issues.count == 1 and "slow streaming" in issues.examples[0]
    assert report.unmapped["experiment tags"].count == 1
    assert report.not_imported == {"issues (3.17 issue tracking)": 1,
                                   "traces of deleted experiments": 1}
    assert "traces without span data (imported without spans)" not in report.unmapped
    legacy = store.get_trace(expected["legacy_trace_id"])  # spans read from traces.json
    assert [s.name for s in legacy.data.spans] == ["legacy_root"]
    first = store.get_trace(expected["trace_ids"][0])  # the features, spelled out
    assert first.info.session_id == "s-1" and first.info.user_id == "u-1"
    assert first.info.token_usage == {"input_tokens": 40, "output_tokens": 9,
                                      "total_tokens": 49}
    assert {s.span_type for s in first.data.spans} >= {"AGENT", "RETRIEVER", "EMBEDDING",
                                                        "RERANKER", "TOOL", "CHAT_MODEL",
                                                        "GUARDRAIL"}
    overridden = [a for a in first.info.assessments if not a.valid]
    assert len(overridden) == 1 and overridden[0].name == "correctness"
    assert first.search_assessments("correctness")[0].value is True
    assert {a.name for a in first.info.assessments if a.error is not None} == {
        "safety", "groundedness"}
    failed = store.get_trace(expected["trace_ids"][3])
    assert str(failed.info.state) == "ERROR"
    assert [e.name for e in failed.data.root_span.events] == ["exception"]


def test_run_again_changes_nothing(mlflow_sqlite: tuple[str, dict[str, Any]], store: SqlStore,
                                   tmp_path: Path) -> None:
    uri, expected = mlflow_sqlite
    _import(uri, store, tmp_path)
    dataset = store.get_dataset_by_name("support_qa")
    versions = len(store.list_dataset_versions(dataset.dataset_id))
    again = _import(uri, store, tmp_path)
    assert again.traces == 0 and again.traces_resumed_after  # all after the cursor: none
    assert again.records_inserted == again.records_updated == 0
    assert again.records_unchanged == 5
    assert len(store.list_dataset_versions(dataset.dataset_id)) == versions
    # Without the cursor every trace is written again: upserts, nothing doubled.
    fresh = _import(uri, store, tmp_path, restart=True)
    assert fresh.traces == len(expected["traces"]) + 1
    assert_matches_mlflow(store, expected)


@SQLITE_TARGET
def test_interrupted_import_continues(mlflow_sqlite: tuple[str, dict[str, Any]],
                                      store: SqlStore, tmp_path: Path) -> None:
    uri, expected = mlflow_sqlite
    calls = []

    def stop_after_first_batch(what: str, done: int, total: int) -> None:
        calls.append(done)
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _import(uri, store, tmp_path, batch_size=2, on_progress=stop_after_first_batch)
    state = json.loads((tmp_path / "state.json").read_text())
    assert len(state["experiments"]) == 1  # the cursor of the experiment under way
    written = len(store.search_trace_ids())
    assert 0 < written < len(expected["traces"])
    report = _import(uri, store, tmp_path, batch_size=2)
    assert report.traces == len(expected["traces"]) + 1 - written
    assert report.traces_resumed_after
    assert_matches_mlflow(store, expected)


@SQLITE_TARGET
def test_dry_run_writes_nothing(mlflow_sqlite: tuple[str, dict[str, Any]], store: SqlStore,
                                tmp_path: Path) -> None:
    uri, expected = mlflow_sqlite
    report = _import(uri, store, tmp_path, dry_run=True)
    assert report.dry_run and report.traces == len(expected["traces"]) + 1
    assert report.experiments["support-bot"].startswith("(new")
    assert store.search_trace_ids() == []
    assert store.get_experiment_by_name("support-bot") is None
    assert store.search_datasets() == []
    assert not (tmp_path / "state.json").exists()


@SQLITE_TARGET
def test_one_experiment(mlflow_sqlite: tuple[str, dict[str, Any]], store: SqlStore,
                        tmp_path: Path) -> None:
    uri, _ = mlflow_sqlite
    report = _import(uri, store, tmp_path, experiments=["rag-eval"])
    assert list(report.experiments) == ["rag-eval"]
    assert report.traces == 3  # rag, the legacy trace and its source
    assert {d.name for d in store.search_datasets()} == {"support_qa"}  # linked to rag-eval
    with pytest.raises(NotFoundError, match="no active MLflow experiment named 'nope'"):
        _import(uri, store, tmp_path, experiments=["nope"])


@SQLITE_TARGET
def test_bad_sources(tmp_path: Path, store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match="no MLflow database at"):
        _import(f"sqlite:///{tmp_path}/missing.db", store, tmp_path)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(InvalidUriError, match="not an MLflow tracking database"):
        _import(store.uri, store, tmp_path)  # a Spanscope store is not an MLflow one
    with pytest.raises(InvalidUriError, match="cannot read MLflow from"):
        _import("mysql://x@y/z", store, tmp_path)


def test_postgresql_mlflow_store(pg_server_uri: str, sqlite_uri: str, tmp_path: Path) -> None:
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    name = f"mlflow_src_{uuid.uuid4().hex[:10]}"
    admin_uri = make_url(pg_server_uri).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin_uri, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        source = make_url(admin_uri).set(database=name).render_as_string(False)
        expected = make_store(source, tmp_path)
        store = SqlStore(sqlite_uri)
        try:
            report = _import(source, store, tmp_path)
            assert report.traces == len(expected["traces"]) + 1
            assert_matches_mlflow(store, expected)
        finally:
            store.close()
    finally:
        with psycopg.connect(admin_uri, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@SQLITE_TARGET
def test_running_mlflow_server(mlflow_sqlite: tuple[str, dict[str, Any]],
                               store: SqlStore, tmp_path: Path) -> None:
    uri, expected = mlflow_sqlite
    with mlflow_server(uri, tmp_path) as url:
        report = _import(url, store, tmp_path, batch_size=3)
        assert report.traces == len(expected["traces"]) + 1
        assert report.unmapped["issue assessments"].count == 1
        assert report.not_imported == {"traces of deleted experiments": 1}
        assert_matches_mlflow(store, expected)
        again = _import(url, store, tmp_path)
        assert again.traces == 0 and again.records_unchanged == 5


def test_cli(mlflow_sqlite: tuple[str, dict[str, Any]], sqlite_uri: str,
             tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spanscope.cli.main import cli

    uri, expected = mlflow_sqlite
    base = ["--tracking-uri", sqlite_uri, "import-mlflow", "--from", uri,
            "--state", str(tmp_path / "cli-state.json"), "--no-progress"]
    runner = CliRunner()
    dry = runner.invoke(cli, [*base[:-1], "--dry-run", "--experiment", "support-bot"])
    assert dry.exit_code == 0, dry.output
    assert "Would import from" in dry.stdout and "(new: support-bot)" in dry.stdout
    assert "Importing traces" in dry.stderr  # the progress bar
    done = runner.invoke(cli, [*base, "-o", "json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["traces"] == len(expected["traces"]) + 1
    assert report["unmapped"]["issue assessments"]["count"] == 1
    again = runner.invoke(cli, base)
    assert again.exit_code == 0, again.output
    assert "Could not be mapped" in again.output and "dataset records already there" in (
        again.output)
    missing = runner.invoke(cli, ["--tracking-uri", sqlite_uri, "import-mlflow", "--from",
                                  f"sqlite:///{tmp_path}/nope.db"])
    assert missing.exit_code == 1
    assert "Error: no MLflow database at" in missing.output
    unknown = runner.invoke(cli, [*base, "--experiment", "nope"])
    assert unknown.exit_code == 1 and "no active MLflow experiment named 'nope'" in (
        unknown.output)


@SQLITE_TARGET
def test_spans_that_cannot_be_read_are_reported(mlflow_sqlite: tuple[str, dict[str, Any]],
                                                store: SqlStore,
                                                tmp_path: Path) -> None:
    """The legacy trace's ``traces.json`` gone (an artifact store moved or cleaned up): the
    trace comes without spans, and the report names it."""
    import shutil
    import sqlite3

    uri, expected = mlflow_sqlite
    copy_path = tmp_path / "mlflow-copy.db"
    shutil.copy(uri.removeprefix("sqlite:///"), copy_path)
    legacy = expected["legacy_trace_id"]
    with sqlite3.connect(copy_path) as conn:
        conn.execute("UPDATE trace_tags SET value = ? WHERE request_id = ? AND key = ?",
                     ((tmp_path / "gone").as_uri(), legacy, "mlflow.artifactLocation"))
        conn.execute("UPDATE trace_tags SET value = 's3://bucket/traces' WHERE "
                     "request_id = ? AND key = ?",
                     (expected["trace_ids"][-1], "mlflow.artifactLocation"))
        conn.execute("DELETE FROM spans WHERE trace_id = ?", (expected["trace_ids"][-1],))
        conn.execute("DELETE FROM trace_tags WHERE request_id = ? AND key = ?",
                     (expected["trace_ids"][-1], "mlflow.trace.spansLocation"))
    report = _import(f"sqlite:///{copy_path}", store, tmp_path)
    missing = report.unmapped["traces without span data (imported without spans)"]
    assert missing.count == 2
    assert any(legacy in e and "does not exist" in e for e in missing.examples)
    assert any("remote artifact store (s3://)" in e for e in missing.examples)
    assert store.get_trace(legacy).data.spans == []
    assert report.traces == len(expected["traces"]) + 1  # still imported, info and all


def test_unreadable_state_starts_over(tmp_path: Path,
                                      caplog: pytest.LogCaptureFixture) -> None:
    from spanscope.lifecycle.mlflow_import import ImportState
    from spanscope.lifecycle.mlflow_source import Cursor

    path = tmp_path / "state.json"
    path.write_text("{not json")
    with caplog.at_level("WARNING"):
        state = ImportState(path, "sqlite:///mlflow.db", "sqlite:///target.db")
    assert "unreadable" in caplog.text and state.cursor("1") is None
    state.advance("1", Cursor(5, "tr-1"))
    assert ImportState(path, "sqlite:///mlflow.db", "x").cursor("1") == Cursor(5, "tr-1")
    saved = json.loads(path.read_text())
    assert saved["experiments"] == {"1": {"request_time": 5, "trace_id": "tr-1"}}
