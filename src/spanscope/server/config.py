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

__all__ = ["CONFIG_ENV", "DEFAULT_MAX_REQUEST_MB", "DEFAULT_MAX_VALUE_CHARS", "ServerConfig",
           "is_loopback"]

CONFIG_ENV = "SPANSCOPE_SERVER_CONFIG"
DEFAULT_MAX_REQUEST_MB = 32.0
DEFAULT_MAX_VALUE_CHARS = 1_000_000  # as spanscope.server.redact's default


@dataclass(frozen=True)
class ServerConfig:
    """One server's settings: its store, whether keys are required, limits, what ingest
    redacts, and the optional gRPC receiver's port."""

    store_uri: str
    host: str = "127.0.0.1"
    auth: bool = False
    max_request_mb: float = DEFAULT_MAX_REQUEST_MB
    max_pending_traces: int = 20_000
    redact: tuple[str, ...] = ()  # emails, phones, cards (spanscope.server.redact)
    redact_patterns: str | None = None  # a TOML/JSON file of custom patterns
    max_value_chars: int | None = DEFAULT_MAX_VALUE_CHARS  # longer span values are cut
    otlp_grpc_port: int | None = None  # OTLP over gRPC on this port (needs the grpc extra)
    monitor: bool = True  # run the monitor worker (spanscope.monitoring.worker) in-process
    monitor_interval_s: float = 5.0  # seconds between the worker's passes
    public_url: str | None = None  # this server's address, for links in notifications
    capacity_bytes: int | None = None  # warn at 80 %, refuse ingest (507) at 95 %
    capacity_refresh_s: float = 10.0  # how often the store's size is measured

    def __post_init__(self) -> None:
        if not isinstance(self.max_request_mb, (int, float)) or not self.max_request_mb > 0:
            raise InvalidInputError(
                f"max_request_mb must be a positive number, not {self.max_request_mb!r}")
        if self.auth and self.otlp_grpc_port is not None:
            raise InvalidInputError(
                "the OTLP gRPC receiver does not check API keys: with auth on, send OTLP over "
                "HTTP (/v1/traces, which does), or turn auth off explicitly (--no-auth)")
        if not isinstance(self.max_pending_traces, int) or self.max_pending_traces < 1:
            raise InvalidInputError(
                f"max_pending_traces must be a positive integer, not {self.max_pending_traces!r}")

        if self.capacity_bytes is not None and (
                not isinstance(self.capacity_bytes, int) or self.capacity_bytes <= 0):
            raise InvalidInputError(
                f"capacity_bytes must be a positive integer, not {self.capacity_bytes!r}")
        if not isinstance(self.capacity_refresh_s, (int, float)) or self.capacity_refresh_s <= 0:
            raise InvalidInputError(f"capacity_refresh_s must be a positive number of seconds, "
                                    f"not {self.capacity_refresh_s!r}")

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
        values = {k: v for k, v in data.items() if k in known}
        if "redact" in values:
            values["redact"] = tuple(values["redact"])
        return cls(**values)


def is_loopback(host: str) -> bool:
    """True for hosts only this machine can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
