"""The value functions of migration 0002 are PARALLEL UNSAFE, as their error blocks need.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04

Migration 0002 declared its PL/pgSQL functions ``PARALLEL SAFE``, but each of them catches
errors in an ``EXCEPTION`` block, and entering such a block starts a subtransaction, which a
query in parallel mode cannot do, in a worker or in the leader. A query over enough rows for
PostgreSQL to plan a parallel scan (a filter or aggregate reading span JSON at a million
traces) then failed with "cannot start subtransactions during a parallel operation".
PostgreSQL's documentation asks exactly this of such functions: ``PARALLEL UNSAFE``, so a
query calling them is planned without workers. Nothing changes on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

# Every function of 0002 with an EXCEPTION block (all of them).
FUNCTIONS = ("spanscope_number(text)", "spanscope_loads(text)",
             "spanscope_json_path(json, text[])", "spanscope_json_text(json)",
             "spanscope_json_number(json)", "spanscope_span_attribute(text, text)")


def _mark(level: str) -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {signature} PARALLEL {level}")


def upgrade() -> None:
    _mark("UNSAFE")


def downgrade() -> None:
    _mark("SAFE")
