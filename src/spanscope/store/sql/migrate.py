"""Bring a database to the current schema when a store opens it, cheaply and only once.

Opening an up-to-date database costs one look at the version table and never imports
Alembic. When the database is behind, the upgrade runs inside a write transaction that
holds a lock (``BEGIN IMMEDIATE`` on SQLite, ``pg_advisory_xact_lock`` on PostgreSQL) and
re-reads the version first, so of several processes opening a new database at once
exactly one migrates and the others wait and then find it done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from spanscope.exceptions import StoreError
from spanscope.store.sql.engine import WRITE

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

__all__ = ["HEAD", "MIGRATIONS_DIR", "REVISIONS", "VERSION_TABLE", "alembic_config",
           "current_revision", "ensure_schema"]

VERSION_TABLE = "spanscope_alembic_version"
# Every revision in migrations/versions, oldest first; a test checks this against Alembic.
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009",
             "0010", "0013", "0012", "0014")
HEAD = REVISIONS[-1]
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x5350414E53434F50 & 0x7FFF_FFFF_FFFF_FFFF  # "SPANSCOP"


def current_revision(conn: Connection) -> str | None:
    """The schema revision stored in the database; None for a database never migrated."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def ensure_schema(engine: Engine) -> bool:
    """Migrate the database to ``HEAD`` if it is behind; True when this call migrated."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision == HEAD:
        return False
    _check_known(revision)
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": _PG_LOCK_KEY})
            revision = current_revision(conn)  # another process may have migrated meanwhile
            if revision == HEAD:
                return False
            _check_known(revision)
            _upgrade(conn)
    return True


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in REVISIONS:
        raise StoreError(f"the database schema is at revision {revision!r}, which this "
                         f"version of Spanscope does not know (its newest is {HEAD!r}); "
                         "upgrade Spanscope to use this database")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` built in code (no alembic.ini), bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _upgrade(conn: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(conn), HEAD)
