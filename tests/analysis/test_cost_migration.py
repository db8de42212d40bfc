"""Migration 0013 (cost accounting) on SQLite and PostgreSQL: usage rows written before it
keep their totals, down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from cost_traces import call_trace, usage
from spanscope.store.aggregates import GroupKey, Selection
from spanscope.store.memory import InMemoryStore
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import VERSION_TABLE, alembic_config

CACHED = usage(1000, 500, cache_read_input_tokens=600, reasoning_tokens=200)


def test_usage_rows_survive_a_downgrade_to_0006_and_the_upgrade_back(store_uri: str) -> None:
    trace = call_trace(1_772_323_200_000, [("acme-1", "CHAT_MODEL", CACHED),
                                            ("acme-1", "LLM", usage(10, 1))])
    with SqlStore(store_uri) as store:
        store.log_traces([trace])
        assert len(store.model_usage(Selection(None), group_by=GroupKey("span_type"))) == 2
        memory = InMemoryStore()
        memory.log_traces([trace])
        (row,) = store.model_usage(Selection(None))
        assert (row.traces, row.calls) == (1, 2)  # one trace, though two span types
        assert [row] == memory.model_usage(Selection(None))
    engine = sa.create_engine(parse_uri(store_uri))
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0006")
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() \
                == "0006"
            rows = conn.execute(sa.text(
                "SELECT model, calls, input_tokens, output_tokens FROM trace_model_usage")).all()
        assert [tuple(r) for r in rows] == [("acme-1", 2, 1010, 501)]  # folded, totals kept
    finally:
        engine.dispose()
    with SqlStore(store_uri) as store:  # opening migrates to 0013 again
        (row,) = store.model_usage(Selection(None))
        assert (row.calls, row.input_tokens, row.output_tokens, row.total_tokens) == (
            2, 1010, 501, 1511)
        assert (row.cache_read_input_tokens, row.reasoning_tokens) == (0, 0)  # unknown before
        (typed,) = store.model_usage(Selection(None), group_by=GroupKey("span_type"))
        assert typed.group == ""
        store.log_traces([trace])  # logging the trace again recomputes its rows
        rows = store.model_usage(Selection(None), group_by=GroupKey("span_type"))
        assert [(r.group, r.cache_read_input_tokens) for r in rows] == [
            ("CHAT_MODEL", 600), ("LLM", 0)]
