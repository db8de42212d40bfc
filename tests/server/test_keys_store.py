"""API keys in the store: created once, only a hash kept, revoked for good, on both dialects."""

from __future__ import annotations

import sqlalchemy as sa

from spanscope.store.keys import InMemoryKeyStore, Role, hash_secret, open_key_store, parse_key
from spanscope.store.sql.engine import parse_uri
from spanscope.store.sql.keys import SqlKeyStore


def test_a_created_key_authenticates_with_its_role_and_only_its_hash_is_stored(
        store_uri: str) -> None:
    keys = open_key_store(store_uri)
    try:
        assert isinstance(keys, SqlKeyStore)
        created = keys.create_key("editor", name="ci")
        key = keys.authenticate(created.token)
        assert key is not None and key.role is Role.EDITOR and key.name == "ci"
        assert key.key_id == created.key.key_id
        engine = sa.create_engine(parse_uri(store_uri))
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().all()
        finally:
            engine.dispose()
        assert len(rows) == 1
        secret = parse_key(created.token)[1]  # type: ignore[index]
        assert rows[0]["secret_hash"] == hash_secret(secret)
        assert all(secret not in str(value) for value in rows[0].values())
    finally:
        keys.close()


def test_wrong_secret_malformed_and_revoked_keys_do_not_authenticate(store_uri: str) -> None:
    keys = open_key_store(store_uri)
    try:
        created = keys.create_key(Role.VIEWER)
        key_id, secret = parse_key(created.token)  # type: ignore[misc]
        forged = f"ssk_{key_id}_{'A' * len(secret)}"
        for token in (forged, "", "Bearer x", created.token + "x", "ssk_zz_" + secret):
            assert keys.authenticate(token) is None, token
        other = keys.create_key("admin", name="ops")
        assert [k.key_id for k in keys.list_keys()] == [created.key.key_id, other.key.key_id]
        revoked = keys.revoke_key(created.key.key_id)
        assert revoked.revoked and keys.authenticate(created.token) is None
        assert keys.revoke_key(created.key.key_id).revoked_time == revoked.revoked_time
        assert [k.key_id for k in keys.list_keys()] == [other.key.key_id]
        assert len(keys.list_keys(include_revoked=True)) == 2
        assert keys.authenticate(other.token) is not None
    finally:
        keys.close()


def test_keys_are_shared_by_every_opener_of_the_database(store_uri: str) -> None:
    first, second = open_key_store(store_uri), open_key_store(store_uri)
    try:
        created = first.create_key("viewer")
        assert second.authenticate(created.token) is not None
        second.revoke_key(created.key.key_id)
        assert first.authenticate(created.token) is None
    finally:
        first.close()
        second.close()


def test_bad_role_name_and_unknown_id_are_clear_errors(store_uri: str) -> None:
    import pytest

    from spanscope.exceptions import InvalidInputError, NotFoundError

    for keys in (open_key_store(store_uri), InMemoryKeyStore()):
        try:
            with pytest.raises(InvalidInputError, match="viewer, editor or admin"):
                keys.create_key("owner")
            with pytest.raises(InvalidInputError, match="256"):
                keys.create_key("viewer", name="n" * 300)
            with pytest.raises(NotFoundError, match="no API key"):
                keys.revoke_key("0123456789ab")
        finally:
            keys.close()


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.EDITOR) and Role.EDITOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.EDITOR) and not Role.EDITOR.allows(Role.ADMIN)
