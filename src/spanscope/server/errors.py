"""Every error a client sees is ``{"error_code": CODE, "message": "..."}`` with its status.

=====================  ======  ====================================================
code                   status  raised by
=====================  ======  ====================================================
BAD_FILTER             400     ``FilterError`` (adds filter_string, position, token)
INVALID_PARAMETER_...  400     ``InvalidInputError``, a malformed request
UNAUTHENTICATED        401     ``UnauthenticatedError``: no key, or unknown/revoked
PERMISSION_DENIED      403     ``PermissionDeniedError``: the key's role may not do this
RESOURCE_DOES_NOT_...  404     ``NotFoundError``, an unknown route
METHOD_NOT_ALLOWED     405     a known route with another method
REQUEST_TOO_LARGE      413     a body over ``--max-request-mb`` (``RequestTooLargeError``)
RESOURCE_EXHAUSTED     429     (not sent by this server; clients treat it as 503)
TEMPORARILY_UNAVAIL..  503     ingest ``Saturated``, ``StoreUnavailableError``
INSUFFICIENT_STORAGE   507     ingest ``StorageFull``: the store is over 95 % of --capacity
INTERNAL_ERROR         500     ``StoreError``, or a bug (logged with its traceback)
=====================  ======  ====================================================

No response ever carries a traceback, and bad input never becomes a 500: request
validation errors are answered 400 here, and what the store rejects arrives as a
``SpanscopeError`` subclass, encoded by ``spanscope.store.wire.error_response`` (the
same table ``RestStore`` decodes, so a client raises the error the server caught).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spanscope import exceptions as exc

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import JSONResponse

__all__ = ["error_response", "install_error_handlers", "spanscope_error", "too_large_message"]

logger = logging.getLogger(__name__)

_STATUS_CODES = {400: "INVALID_PARAMETER_VALUE", 401: "UNAUTHENTICATED",
                 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
                 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE",
                 429: "RESOURCE_EXHAUSTED", 503: "TEMPORARILY_UNAVAILABLE",
                 507: "INSUFFICIENT_STORAGE"}


def too_large_message(limit_bytes: int) -> str:
    return (f"the request body is larger than the server's limit of "
            f"{limit_bytes / 1024 / 1024:.3g} MB (--max-request-mb); send smaller batches")


def error_response(status: int, code: str, message: str, *,
                   headers: Mapping[str, str] | None = None,
                   extra: Mapping[str, Any] | None = None) -> JSONResponse:
    from starlette.responses import JSONResponse

    body: dict[str, Any] = {"error_code": code, "message": message}
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _retry_after(seconds: float | None) -> dict[str, str]:
    value = 1 if seconds is None or not math.isfinite(seconds) else max(1, math.ceil(seconds))
    return {"Retry-After": str(value)}


def spanscope_error(error: exc.SpanscopeError) -> JSONResponse:
    """The response for a Spanscope error raised by the store, a capability or auth."""
    from starlette.responses import JSONResponse

    from spanscope.store import wire

    status, body, headers = wire.error_response(error)
    if not body.get("message"):
        body["message"] = type(error).__name__
    if isinstance(error, exc.StoreUnavailableError) and "Retry-After" not in headers:
        headers.update(_retry_after(error.retry_after))
    if status >= 500:
        logger.error("store error: %s", body["message"])
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


def _is_page(request: Request) -> bool:
    """A browser asking for a UI page (not the REST API, OTLP or metrics)."""
    path = request.url.path
    return (request.method == "GET" and "text/html" in request.headers.get("accept", "")
            and not path.startswith(("/api/", "/v1/", "/metrics", "/health")))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the JSON error body."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    from spanscope.lifecycle.capacity import StorageFull
    from spanscope.server.ingest import Saturated

    async def on_spanscope_error(request: Request, error: Exception) -> Any:
        assert isinstance(error, exc.SpanscopeError)
        if isinstance(error, exc.UnauthenticatedError) and _is_page(request):
            from starlette.responses import RedirectResponse

            return RedirectResponse("/login", status_code=303)  # a person: ask for the key
        return spanscope_error(error)

    async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response(400, "INVALID_PARAMETER_VALUE",
                              _validation_message(list(error.errors())))

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        code = _STATUS_CODES.get(error.status_code,
                                 "INTERNAL_ERROR" if error.status_code >= 500
                                 else "INVALID_PARAMETER_VALUE")
        message = str(error.detail) if error.detail else code
        if error.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(error.status_code, code, message,
                              headers=getattr(error, "headers", None))

    async def on_saturated(request: Request, error: Exception) -> JSONResponse:
        return error_response(503, "TEMPORARILY_UNAVAILABLE",
                              str(error) or "the writer is saturated; retry later",
                              headers=_retry_after(getattr(error, "retry_after", None)))

    async def on_storage_full(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StorageFull)
        return error_response(507, "INSUFFICIENT_STORAGE", str(error),
                              extra={"storage": error.status.to_dict()})

    async def on_overflow(request: Request, error: Exception) -> JSONResponse:
        # A number too large for the database (e.g. SQLite's 64-bit integers), raised by
        # the driver before anything is written: the caller's input, not a server fault.
        return error_response(400, "INVALID_PARAMETER_VALUE",
                              f"a number in the request is too large to store ({error})")

    async def on_bug(request: Request, error: Exception) -> JSONResponse:
        logger.error("unhandled error in %s %s", request.method, request.url.path,
                     exc_info=error)
        return error_response(500, "INTERNAL_ERROR",
                              "internal server error; the server log has the details")

    app.add_exception_handler(exc.SpanscopeError, on_spanscope_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Saturated, on_saturated)
    app.add_exception_handler(StorageFull, on_storage_full)
    app.add_exception_handler(OverflowError, on_overflow)
    app.add_exception_handler(Exception, on_bug)


