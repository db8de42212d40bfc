"""``SqlKeyStore``: the ``KeyStore`` of a SQLite or PostgreSQL store (table ``api_keys``).

It opens its own small engine on the store's URI (``SqlSideStore``), so the trace store's
protocol and class stay free of key handling. Each method is one short transaction;
SQLAlchemy errors come out as Spanscope errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from spanscope.exceptions import NotFoundError
from spanscope.store.keys import (
    ApiKey,
    CreatedKey,
    Role,
    check_name,
    hash_secret,
    new_secret,
    now_ms,
    parse_key,
    parse_role,
    secret_matches,
)
from spanscope.store.sql.schema import api_keys
from spanscope.store.sql.side import SqlSideStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

__all__ = ["SqlKeyStore"]


def _key_of(row: Row) -> ApiKey:
    return ApiKey(key_id=row.key_id, role=Role(row.role), name=row.name,
                  created_time=row.created_time, revoked_time=row.revoked_time)


class SqlKeyStore(SqlSideStore):
    """API keys in the ``api_keys`` table of the database at ``uri``."""

    _what = "key store"

    def create_key(self, role: Role | str, *, name: str | None = None) -> CreatedKey:
        key_id, secret, token = new_secret()
        key = ApiKey(key_id, parse_role(role), check_name(name), now_ms())

        def work(conn: Connection) -> None:
            conn.execute(api_keys.insert().values(
                key_id=key.key_id, role=key.role.value, name=key.name,
                secret_hash=hash_secret(secret), created_time=key.created_time))

        self._run("create API key", work, write=True)
        return CreatedKey(key, token)

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_time, api_keys.c.key_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_time.is_(None))
        return self._run("list API keys",
                         lambda conn: [_key_of(row) for row in conn.execute(query)])

    def revoke_key(self, key_id: str) -> ApiKey:
        def work(conn: Connection) -> ApiKey:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
            if row is None:
                raise NotFoundError(f"no API key with id {key_id!r}")
            if row.revoked_time is None:
                conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                             .values(revoked_time=now_ms()))
                row = conn.execute(
                    sa.select(api_keys).where(api_keys.c.key_id == key_id)).one()
            return _key_of(row)

        return self._run("revoke API key", work, write=True)

    def authenticate(self, token: str) -> ApiKey | None:
        parsed = parse_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = self._run("check API key", lambda conn: conn.execute(
            sa.select(api_keys).where(api_keys.c.key_id == key_id)).first())
        if row is None or row.revoked_time is not None:
            return None
        if not secret_matches(secret, row.secret_hash):
            return None
        return _key_of(row)
