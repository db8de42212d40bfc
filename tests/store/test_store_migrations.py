"""Migrations: from empty on both dialects, exactly the declared schema, run once only."""

from __future__ import annotations

import multiprocessing
import queue
import re
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from spanscope.exceptions import StoreError
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import HEAD, REVISIONS, VERSION_TABLE, alembic_config
from spanscope.store.sql.schema import metadata

TABLES = {"experiments", "traces", "trace_tags", "trace_metadata", "spans", "assessments",
          "runs", "run_params", "run_tags", "run_metrics", "run_latest_metrics",
          "datasets", "dataset_experiments", "dataset_versions", "dataset_records",
          "trace_model_usage", "api_keys", "span_text", "online_scorers",
          "online_scorer_checkpoints", "monitors", "monitor_evaluations",
          "monitor_deliveries", "retention_rules", "deletion_log", VERSION_TABLE}
# The text index's own structures, not declared in schema.py (text_index.py makes them):
# SQLite's FTS5 table and its shadow tables, PostgreSQL's GIN index.
UNDECLARED = ("span_text_fts", "ix_span_text_body")


def _declared(name: str | None, type_: str, parent_names: object) -> bool:
    return not (name or "").startswith(UNDECLARED)


def _engine(uri: str) -> sa.Engine:
    return sa.create_engine(parse_uri(uri))


def test_revision_list_matches_the_migration_scripts() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    walked = [s.revision for s in scripts.walk_revisions("base", "heads")]
    assert tuple(reversed(walked)) == REVISIONS
    assert scripts.get_current_head() == HEAD


# Alembic cannot reflect SQLite's expression indexes (the tag and metadata value indexes);
# test_store_value_index compares their DDL instead.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migration_from_empty_creates_the_declared_schema(store_uri: str) -> None:
    engine = _engine(store_uri)
    assert sa.inspect(engine).get_table_names() == []
    SqlStore(store_uri).close()
    try:
        assert {t for t in sa.inspect(engine).get_table_names()
                if _declared(t, "table", None)} == TABLES
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all() == [
                (HEAD,)]
            assert conn.execute(sa.text("SELECT experiment_id, name FROM experiments")).all() == [
                (0, "Default")]
            context = MigrationContext.configure(conn, opts={
                "version_table": VERSION_TABLE, "compare_type": True,
                "include_name": _declared})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_reopening_an_up_to_date_database_does_not_migrate(store_uri: str) -> None:
    SqlStore(store_uri).close()
    statements: list[str] = []
    store = SqlStore(store_uri, on_statement=lambda sql, params: statements.append(sql))
    store.close()
    assert not [s for s in statements if re.match(r"\s*(CREATE|ALTER|INSERT|UPDATE|DROP)", s)]
    assert not [s for s in statements if "pg_advisory" in s or "IMMEDIATE" in s]
    assert [s for s in statements if f"FROM {VERSION_TABLE}" in s]
    assert len(statements) <= 4


def test_opening_an_up_to_date_database_does_not_import_alembic(sqlite_uri: str) -> None:
    SqlStore(sqlite_uri).close()
    code = ("import sys; from spanscope.store.sql import SqlStore; "
            f"SqlStore({sqlite_uri!r}).close(); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_downgrade_then_reopen_migrates_again(store_uri: str) -> None:
    SqlStore(store_uri).close()
    engine = _engine(store_uri)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(sa.inspect(engine).get_table_names()) == {VERSION_TABLE}
        with SqlStore(store_uri) as store:
            assert store.get_experiment("0").name == "Default"
    finally:
        engine.dispose()


def test_a_newer_schema_is_refused(store_uri: str) -> None:
    SqlStore(store_uri).close()
    engine = _engine(store_uri)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"revision '9999'.*upgrade Spanscope"):
        SqlStore(store_uri)


def _open_and_count_ddl(uri: str, start: multiprocessing.synchronize.Barrier,
                        results: multiprocessing.Queue) -> None:
    creates: list[str] = []
    start.wait(60)  # all processes are imported and ready: open at the same moment
    try:
        store = SqlStore(uri, on_statement=lambda sql, params: creates.extend(
            [sql] if sql.lstrip().startswith("CREATE TABLE")
            and "_alembic_tmp_" not in sql else []))  # SQLite's batch copies are no tables
        store.close()
        results.put(("ok", len(creates)))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def test_processes_opening_a_new_database_together_migrate_once(store_uri: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_open_and_count_ddl, args=(store_uri, start, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    except queue.Empty:
        pytest.fail("a process opening the store did not finish in 120 s")
    finally:
        for worker in workers:
            worker.join(30)
    assert [kind for kind, _ in outcomes] == ["ok"] * 4, outcomes
    assert sorted(count for _, count in outcomes) == [0, 0, 0, len(TABLES)]  # + version table
    with SqlStore(store_uri) as store:
        assert [e.name for e in store.list_experiments()] == ["Default"]
