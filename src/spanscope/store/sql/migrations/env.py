"""Alembic environment for Spanscope's schema.

Migrations run inside ``SqlStore`` (see ``spanscope.store.sql.migrate``): it builds the
Alembic ``Config`` in code, opens a locked transaction and hands its connection over in
``config.attributes["connection"]``. Alembic then runs inside that transaction, so two
processes opening a new database at once never both migrate.
"""

from __future__ import annotations

from alembic import context

from spanscope.store.sql.migrate import VERSION_TABLE
from spanscope.store.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Spanscope migrations run when a SqlStore opens the database "
        "(spanscope.store.sql.migrate.upgrade); there is no alembic.ini to run them from")

context.configure(connection=connection, target_metadata=metadata,
                  version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
