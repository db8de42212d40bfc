"""Keyset page tokens for ``search_traces``.

A token is the sort key of the last trace on a page, ``(request_time, trace_id)``, as
URL-safe base64 JSON. Unlike an offset it stays correct while new traces arrive, and the
next page is an index range scan however deep the caller pages.
"""

from __future__ import annotations

import base64
import binascii
import json

import sqlalchemy as sa

from spanscope.exceptions import InvalidInputError
from spanscope.store.sql import schema

__all__ = ["after", "decode_token", "encode_token"]


def encode_token(request_time: int, trace_id: str) -> str:
    raw = json.dumps([request_time, trace_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    """The sort key a token carries; ``InvalidInputError`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        request_time, trace_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInputError(f"invalid page_token {str(token)[:60]!r}: pass the .token of a "
                                "previous search_traces result unchanged") from None
    if (not isinstance(request_time, int) or isinstance(request_time, bool)
            or not isinstance(trace_id, str)):
        raise InvalidInputError(f"invalid page_token {str(token)[:60]!r}: pass the .token of a "
                                "previous search_traces result unchanged")
    return request_time, trace_id


def after(request_time: int, trace_id: str) -> sa.ColumnElement[bool]:
    """Rows that sort after ``(request_time, trace_id)`` in newest-first order."""
    traces = schema.traces
    return sa.or_(traces.c.request_time < request_time,
                  sa.and_(traces.c.request_time == request_time, traces.c.trace_id < trace_id))
