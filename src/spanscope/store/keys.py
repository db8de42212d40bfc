"""API keys for the server: roles, the key format, hashing, and the ``KeyStore`` protocol.

A key is ``ssk_<key_id>_<secret>``: ``key_id`` (12 hex digits) is public and finds the
row, ``secret`` (32 random bytes, URL-safe base64) is shown once when the key is created
and never stored; the store keeps only its SHA-256, which is enough for a secret of that
entropy (no slow password hash is needed), and compares digests in constant time.

Keys live beside the traces (``spanscope.store.sql.keys`` for SQL stores, table
``api_keys``), so every server process over one database sees the same keys and the
``spanscope keys`` commands work on the tracking store. They are kept off the trace
protocols on purpose: only the server and the ``keys`` commands need them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from spanscope.entities._enum import StrEnum
from spanscope.exceptions import InvalidInputError, InvalidUriError, NotFoundError

__all__ = [
    "ApiKey",
    "CreatedKey",
    "InMemoryKeyStore",
    "KeyStore",
    "Role",
    "hash_secret",
    "new_secret",
    "open_key_store",
    "parse_key",
    "parse_role",
]

KEY_PREFIX = "ssk"
NAME_LENGTH = 256
_KEY_RE = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{20,100}})$")


class Role(StrEnum):
    """What a key may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"  # read traces, runs, datasets, analysis
    EDITOR = "editor"  # also write traces, tags, assessments, datasets, runs
    ADMIN = "admin"  # also delete, and manage keys

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


def parse_role(value: object) -> Role:
    """The role named by ``value``; ``InvalidInputError`` naming the choices otherwise."""
    try:
        return Role(str(value).lower())
    except ValueError:
        raise InvalidInputError(f"unknown role {value!r}: use viewer, editor or admin") from None


@dataclass(frozen=True)
class ApiKey:
    """A key as stored and listed: never its secret."""

    key_id: str
    role: Role
    name: str | None
    created_time: int  # epoch milliseconds
    revoked_time: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_time is not None

    def to_dict(self) -> dict[str, object]:
        return {"key_id": self.key_id, "role": self.role.value, "name": self.name,
                "created_time": self.created_time, "revoked_time": self.revoked_time}


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its full text, which exists only here: show it once."""

    key: ApiKey
    token: str


def new_secret() -> tuple[str, str, str]:
    """A fresh ``(key_id, secret, token)``."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{KEY_PREFIX}_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key text; None for anything else."""
    match = _KEY_RE.match(token.strip()) if isinstance(token, str) else None
    return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of the secret's hash with the stored one."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def check_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > NAME_LENGTH:
        raise InvalidInputError(f"a key name is a string of at most {NAME_LENGTH} characters")
    return name.strip() or None


def now_ms() -> int:
    return int(time.time() * 1000)


@runtime_checkable
class KeyStore(Protocol):
    """Where API keys are kept (hashes only)."""

    def create_key(self, role: Role | str, *, name: str | None = None) -> CreatedKey:
        """A new key with ``role``; its token is in the result and nowhere else."""
        ...

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Keys, oldest first."""
        ...

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key (idempotent); ``NotFoundError`` for an unknown id."""
        ...

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key this token is, or None (malformed, unknown, wrong secret, revoked)."""
        ...

    def close(self) -> None:
        ...


class InMemoryKeyStore:
    """Keys of a ``memory://`` store: this process only, gone when it ends."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[ApiKey, str]] = {}
        self._lock = threading.Lock()

    def create_key(self, role: Role | str, *, name: str | None = None) -> CreatedKey:
        key_id, secret, token = new_secret()
        key = ApiKey(key_id, parse_role(role), check_name(name), now_ms())
        with self._lock:
            self._keys[key_id] = (key, hash_secret(secret))
        return CreatedKey(key, token)

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        with self._lock:
            keys: Sequence[ApiKey] = [key for key, _ in self._keys.values()]
        return [key for key in keys if include_revoked or not key.revoked]

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._lock:
            if key_id not in self._keys:
                raise NotFoundError(f"no API key with id {key_id!r}")
            key, digest = self._keys[key_id]
            if not key.revoked:
                key = replace(key, revoked_time=now_ms())
                self._keys[key_id] = (key, digest)
            return key

    def authenticate(self, token: str) -> ApiKey | None:
        parsed = parse_key(token)
        if parsed is None:
            return None
        with self._lock:
            found = self._keys.get(parsed[0])
        if found is None or found[0].revoked or not secret_matches(parsed[1], found[1]):
            return None
        return found[0]

    def close(self) -> None:
        pass


def open_key_store(uri: str) -> KeyStore:
    """The key store of the tracking store at ``uri`` (same database, table ``api_keys``)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "memory":
        return InMemoryKeyStore()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from spanscope.store.sql.keys import SqlKeyStore

        return SqlKeyStore(uri)
    raise InvalidUriError(
        f"API keys live in the server's own store; {uri!r} is not one (use the "
        "sqlite:/// or postgresql:// URI the server was started on)")
