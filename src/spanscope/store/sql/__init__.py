"""The SQL store: SQLite and PostgreSQL through one SQLAlchemy Core schema.

Importing this package imports SQLAlchemy; ``spanscope.store.open_store`` imports it only
when a SQL URI is opened, so ``import spanscope`` stays cheap.
"""

from spanscope.store.sql.store import SqlStore

__all__ = ["SqlStore"]
