"""What a server process needs to know, and how it reaches worker processes.

``spanscope server --workers N`` lets uvicorn start N processes that each call
``create_app()`` with no arguments, so the settings travel in one environment variable
(``SPANSCOPE_SERVER_CONFIG``, JSON) that ``ServerConfig.from_env`` reads back.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, fields

from spanscope.exceptions import InvalidInputError

__all__ = ["CONFIG_ENV", "DEFAULT_MAX_REQUEST_MB", "ServerConfig", "is_loopback"]

CONFIG_ENV = "SPANSCOPE_SERVER_CONFIG"
DEFAULT_MAX_REQUEST_MB = 32.0


@dataclass(frozen=True)
class ServerConfig:
    """One server's settings: its store, whether keys are required, the body size limit."""

    store_uri: str
    auth: bool = False
    max_request_mb: float = DEFAULT_MAX_REQUEST_MB
    max_pending_traces: int = 20_000

    def __post_init__(self) -> None:
        if not isinstance(self.max_request_mb, (int, float)) or not self.max_request_mb > 0:
            raise InvalidInputError(
                f"max_request_mb must be a positive number, not {self.max_request_mb!r}")
        if not isinstance(self.max_pending_traces, int) or self.max_pending_traces < 1:
            raise InvalidInputError(
                f"max_pending_traces must be a positive integer, not {self.max_pending_traces!r}")

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 1024 * 1024)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServerConfig:
        """The settings the ``spanscope server`` command left for this worker process."""
        text = os.environ.get(CONFIG_ENV)
        if not text:
            from spanscope.tracking import get_tracking_uri

            return cls(store_uri=get_tracking_uri())
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def is_loopback(host: str) -> bool:
    """True for hosts only this machine can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
