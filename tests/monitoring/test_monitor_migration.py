"""Migration 0009 (monitors) from a database at 0006 with traces in it, on both dialects."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from factories import make_trace
from spanscope.monitoring.definition import define_monitor
from spanscope.store.monitors import open_monitor_store
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import HEAD, VERSION_TABLE, alembic_config


def test_a_0006_database_gains_the_monitor_tables_and_keeps_its_traces(store_uri: str) -> None:
    engine = sa.create_engine(parse_uri(store_uri))
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0006")
        assert "monitors" not in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:  # a trace written by the 0006 schema
            conn.execute(sa.text("INSERT INTO traces (trace_id, experiment_id, request_time, "
                                 "state) VALUES ('tr-old', 0, 1, 'OK')"))
        monitors = open_monitor_store(store_uri)  # opening migrates
        try:
            created = monitors.create_monitor(define_monitor(
                "m", "error_rate", alert_above=0.1))
            assert monitors.get_monitor("m") == created
        finally:
            monitors.close()
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
                                ).scalar() == HEAD
        with SqlStore(store_uri) as store:
            assert store.search_trace_ids() == ["tr-old"]
            store.log_traces([make_trace()])
    finally:
        engine.dispose()
