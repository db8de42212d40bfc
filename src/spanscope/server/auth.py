"""API-key checks: which role each route needs, and the dependency that enforces it.

With auth on (``spanscope server --auth``, and always on a non-loopback host unless
``--no-auth``), every route but ``/health`` needs ``Authorization: Bearer <key>``:

- ``VIEWER`` reads (every GET, and the POST routes that only search or compute);
- ``EDITOR`` also writes traces, tags, assessments, datasets, runs and experiments;
- ``ADMIN`` also deletes (traces, assessments, datasets) and manages keys.

A missing, malformed, unknown or revoked key is 401; a key whose role is too low is 403.
Routes declare their role with ``dependencies=[requires(Role.EDITOR)]``; a route that
declares none is a bug, which ``tests/server`` checks by enumerating the OpenAPI spec.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from spanscope.exceptions import PermissionDeniedError, UnauthenticatedError
from spanscope.store.keys import ApiKey, KeyStore, Role

__all__ = ["Role", "authenticate", "requires"]

_bearer = HTTPBearer(auto_error=False, description="An API key: spanscope keys create")


async def authenticate(request: Request, role: Role,
                       credentials: HTTPAuthorizationCredentials | None) -> ApiKey | None:
    """The caller's key, checked to allow ``role``; None when auth is off."""
    if not request.app.state.config.auth:
        return None
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError(
            "this server requires an API key: send 'Authorization: Bearer <key>' "
            "(spanscope keys create; clients read SPANSCOPE_API_KEY)")
    keys: KeyStore = request.app.state.keys
    key = await run_in_threadpool(keys.authenticate, credentials.credentials)
    if key is None:
        raise UnauthenticatedError("the API key is not valid (unknown, malformed or revoked)")
    if not key.role.allows(role):
        raise PermissionDeniedError(f"a {key.role} key may not do this: it needs the {role} role")
    request.state.api_key = key
    return key


def requires(role: Role) -> Any:
    """A route dependency: the caller must hold a key of ``role`` or above (when auth is on)."""

    async def check(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None,
                                           Depends(_bearer)]) -> ApiKey | None:
        return await authenticate(request, role, credentials)

    check.__name__ = f"requires_{role.value}"
    return Depends(check)
