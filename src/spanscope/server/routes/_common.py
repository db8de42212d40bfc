"""What every route module shares: the store of the request, role tags, JSON responses.

Responses are written with ``spanscope.store.wire`` (``wire.encode`` for values,
``wire.dumps`` for the text, which keeps NaN and infinity out of JSON), the same codec
``RestStore`` decodes with.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from pydantic import BaseModel, BeforeValidator, ConfigDict
from starlette.responses import Response

from spanscope.server.auth import requires
from spanscope.store import wire
from spanscope.store.base import TraceStore
from spanscope.store.keys import Role

__all__ = ["ADMIN", "EDITOR", "VIEWER", "Body", "Id", "WireResponse", "reply", "store_of"]


def _role(role: Role) -> dict[str, Any]:
    """Route keyword arguments: the key check, and the role shown in the OpenAPI spec."""
    return {"dependencies": [requires(role)],
            "openapi_extra": {"x-spanscope-role": role.value}}


VIEWER = _role(Role.VIEWER)  # reads
EDITOR = _role(Role.EDITOR)  # writes
ADMIN = _role(Role.ADMIN)  # deletes, keys


def _id_text(value: Any) -> Any:
    """Ids are strings, but a client may send experiment 0 as a number."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_id_text)]


class Body(BaseModel):
    """A request body: unknown fields are an error (a typo should not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class WireResponse(Response):
    """JSON written by ``wire.dumps``: strict JSON, non-finite floats never leak."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return wire.dumps(content).encode("utf-8")


def reply(content: Any = None, status_code: int = 200) -> WireResponse:
    """A JSON response of ``content`` encoded by the wire codec (``{}`` for None)."""
    return WireResponse(wire.encode({} if content is None else content),
                        status_code=status_code)


def store_of(request: Request) -> TraceStore:
    return request.app.state.store  # type: ignore[no-any-return]
