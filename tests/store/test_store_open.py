"""Opening stores: URI forms, clear errors for bad ones, lifecycle, the in-memory store."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from factories import make_trace
from spanscope.exceptions import InvalidUriError, StoreError
from spanscope.store import open_store
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import mask_uri, parse_uri


def test_relative_sqlite_path_is_fixed_at_open(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SqlStore("sqlite:///rel.db")
    try:
        monkeypatch.chdir(tmp_path.parent)  # later connections must not follow the cwd
        store.log_traces([make_trace(2)])
        assert len(store.search_traces()) == 1
    finally:
        store.close()
    assert (tmp_path / "rel.db").exists()
    assert not (tmp_path.parent / "rel.db").exists()


def test_absolute_sqlite_path_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    with SqlStore(f"sqlite:///{path}") as store:
        store.log_traces([make_trace(2)])
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_memory_store_is_one_database_shared_by_threads() -> None:
    with SqlStore("sqlite:///:memory:") as store:
        errors: list[BaseException] = []

        def log(n: int) -> None:
            try:
                for _ in range(n):
                    store.log_traces([make_trace(2)])
                    store.search_traces(max_results=5)
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=log, args=(20,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(store.search_traces(max_results=1000)) == 80
        assert store.create_experiment("x") == "1"


def test_open_store_dispatches_to_sql_store(sqlite_uri: str) -> None:
    store = open_store(sqlite_uri)
    try:
        assert isinstance(store, SqlStore) and store.uri == sqlite_uri
    finally:
        store.close()


def test_missing_directory_is_a_store_error_naming_the_uri(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    with pytest.raises(StoreError, match=r"cannot open sqlite:///.*/no/such/dir/x\.db: "
                                         r"unable to open database file") as info:
        SqlStore(uri)
    assert "\n" not in str(info.value)


def test_unreachable_postgresql_is_a_store_error_with_masked_password() -> None:
    uri = "postgresql://spanscope:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as info:
        SqlStore(uri)
    message = str(info.value)
    assert message.startswith("cannot open postgresql://spanscope:***@127.0.0.1:1/nowhere: ")
    assert "s3cret" not in message
    assert "\n" not in message


def test_unknown_postgresql_database_is_a_store_error(pg_server_uri: str) -> None:
    uri = pg_server_uri.rsplit("/", 1)[0] + "/spanscope_no_such_database"
    with pytest.raises(StoreError, match=r"spanscope_no_such_database.*does not exist"):
        SqlStore(uri)


@pytest.mark.parametrize(("uri", "message"), [
    ("mysql://u@h/db", "unsupported store URI"),
    ("postgresql+psycopg2://u@h/db", "unsupported PostgreSQL driver"),
    ("sqlite+aiosqlite:///x.db", "unsupported SQLite driver"),
    ("postgresql://u@h", "names no database"),
    ("not a uri", "cannot parse store URI"),
])
def test_bad_uris_are_invalid_uri_errors(uri: str, message: str) -> None:
    with pytest.raises(InvalidUriError, match=message):
        SqlStore(uri)


def test_postgresql_uris_select_psycopg3() -> None:
    for uri in ("postgresql://u@h:5432/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert parse_uri(uri).drivername == "postgresql+psycopg"


def test_mask_uri() -> None:
    assert mask_uri("postgresql://u:p%40ss@h:1/db") == "postgresql://u:***@h:1/db"
    assert mask_uri("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_uri("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_closed_store_refuses_work(store: SqlStore) -> None:
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.search_traces()
    store.close()  # closing twice is fine


def test_store_error_never_leaks_sqlalchemy(tmp_path: Path) -> None:
    """A database file that is not SQLite: the error is ours, with the cause chained."""
    path = tmp_path / "junk.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match="file is not a database") as info:
        SqlStore(f"sqlite:///{path}")
    assert type(info.value) is StoreError
    assert info.value.__cause__ is not None
