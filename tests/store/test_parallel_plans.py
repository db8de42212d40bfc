"""PostgreSQL may run a big scan in parallel workers; the filter's value functions must still
answer there (migration 0014): each catches errors in a block parallel mode cannot enter,
which failed searches and error patterns over a million traces before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from tests.factories import make_trace

from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.migrate import alembic_config

# A parallel plan for every query, however small, as at a million rows.
_FORCE_PARALLEL = ("SET force_parallel_mode = on", "SET parallel_setup_cost = 0",
                   "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0")
# Each function of migration 0002 over the stored spans, as the filter translation calls it.
_QUERIES = (
    "spanscope_loads(content) IS NOT NULL",
    "spanscope_json_text(spanscope_json_path(spanscope_loads(content), ARRAY['name'])) <> ''",
    "spanscope_json_number(spanscope_json_path(spanscope_loads(content), "
    "ARRAY['start_time_unix_nano'])) > 0",
    "spanscope_number(name) IS NULL",
    "spanscope_span_attribute(content, 'mlflow.spanType') IS NOT NULL",
)


def _counts(uri: str) -> list[int]:
    engine = sa.create_engine(parse_uri(uri))
    try:
        with engine.connect() as conn:
            for statement in _FORCE_PARALLEL:
                conn.exec_driver_sql(statement)
            return [conn.exec_driver_sql(f"SELECT count(*) FROM spans WHERE {where}").scalar()
                    for where in _QUERIES]
    finally:
        engine.dispose()


def test_value_functions_answer_in_parallel_plans(pg_uri: str) -> None:
    with SqlStore(pg_uri) as store:
        experiment_id = store.create_experiment("parallel")
        store.log_traces([make_trace(experiment_id=experiment_id) for _ in range(5)])
    counts = _counts(pg_uri)
    assert counts[0] > 0 and counts[0] == counts[4]


def test_before_migration_0014_a_parallel_plan_failed(pg_uri: str) -> None:
    """The test above can fail: at revision 0012 the functions were PARALLEL SAFE."""
    with SqlStore(pg_uri) as store:
        experiment_id = store.create_experiment("parallel")
        store.log_traces([make_trace(experiment_id=experiment_id)])
    engine = sa.create_engine(parse_uri(pg_uri))
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0012")
    engine.dispose()
    with pytest.raises(sa.exc.DBAPIError, match="parallel"):
        _counts(pg_uri)
    with SqlStore(pg_uri):  # opening migrates to 0014 again
        pass
    assert _counts(pg_uri)[0] > 0
