"""Trace-level facts: id, time, duration, state, previews, tags, metadata, assessments."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities._codec import ms_to_rfc3339, rfc3339_to_ms
from spanscope.entities._enum import StrEnum
from spanscope.entities.assessment import Assessment

__all__ = ["TraceInfo", "TraceMetadataKey", "TraceState", "TraceTagKey", "token_usage_of"]


class TraceState(StrEnum):
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"


class TraceMetadataKey:
    """Reserved trace metadata keys (immutable once the trace is written)."""

    INPUTS = "mlflow.traceInputs"
    OUTPUTS = "mlflow.traceOutputs"
    TOKEN_USAGE = "mlflow.trace.tokenUsage"
    SESSION = "mlflow.trace.session"
    USER = "mlflow.trace.user"
    SCHEMA_VERSION = "mlflow.trace_schema.version"
    SOURCE_RUN = "mlflow.sourceRun"


class TraceTagKey:
    """Reserved trace tag keys."""

    TRACE_NAME = "mlflow.traceName"


@dataclass
class TraceInfo:
    """Everything about a trace except its spans.

    Times are epoch milliseconds; ``execution_duration`` is milliseconds (None while the
    trace is in progress). Metadata values are strings and never change after the trace
    is written; tags are strings and may be set and deleted at any time.
    """

    trace_id: str
    experiment_id: str = "0"
    request_time: int = 0
    execution_duration: int | None = None
    state: TraceState = TraceState.OK
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: list[Assessment] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # JSON keys we do not model

    def __post_init__(self) -> None:
        if type(self.state) is not TraceState:
            self.state = TraceState(str(self.state))

    # --- MLflow 2 names and shortcuts ---------------------------------------------------
    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def timestamp_ms(self) -> int:
        return self.request_time

    @property
    def execution_time_ms(self) -> int | None:
        return self.execution_duration

    @property
    def status(self) -> TraceState:
        return self.state

    @property
    def request_metadata(self) -> dict[str, str]:
        return self.trace_metadata

    @property
    def token_usage(self) -> dict[str, int] | None:
        return token_usage_of(self.trace_metadata)

    @property
    def session_id(self) -> str | None:
        return self.trace_metadata.get(TraceMetadataKey.SESSION)

    @property
    def user_id(self) -> str | None:
        return self.trace_metadata.get(TraceMetadataKey.USER)

    # --- trace JSON -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"trace_id": self.trace_id}
        if self.client_request_id is not None:
            data["client_request_id"] = self.client_request_id
        data["trace_location"] = {"type": "MLFLOW_EXPERIMENT",
                                  "mlflow_experiment": {"experiment_id": self.experiment_id}}
        data["request_time"] = ms_to_rfc3339(self.request_time)
        data["state"] = str(self.state)
        data["trace_metadata"] = dict(self.trace_metadata)
        data["assessments"] = [a.to_dict() for a in self.assessments]
        data["tags"] = dict(self.tags)
        if self.request_preview is not None:
            data["request_preview"] = self.request_preview
        if self.response_preview is not None:
            data["response_preview"] = self.response_preview
        data["execution_duration_ms"] = self.execution_duration
        # The same number under the Python attribute's name, for jq users; MLflow's reader
        # lets execution_duration_ms win, so this stays importable there.
        data["execution_duration"] = self.execution_duration
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceInfo:
        """Read the ``info`` object of MLflow 3 trace JSON (or Spanscope's own)."""
        known = {"trace_id", "request_id", "client_request_id", "trace_location",
                 "request_time", "timestamp_ms", "state", "status", "trace_metadata",
                 "request_metadata", "assessments", "tags", "request_preview",
                 "response_preview", "execution_duration_ms", "execution_duration",
                 "execution_time_ms", "experiment_id"}
        extra = {k: v for k, v in data.items() if k not in known}
        location = data.get("trace_location") or {}
        experiment_id = str((location.get("mlflow_experiment") or {}).get("experiment_id")
                            or data.get("experiment_id") or "0")
        if location and location.get("type") != "MLFLOW_EXPERIMENT":
            extra["trace_location"] = location  # not ours to interpret; keep it
        duration = data.get("execution_duration_ms", data.get("execution_time_ms"))
        if duration is None:
            duration = _duration_ms(data.get("execution_duration"))
        tags = data.get("tags") or {}
        if isinstance(tags, list):  # MLflow 2 wrote [{"key":..., "value":...}]
            tags = {t["key"]: t["value"] for t in tags}
        metadata = data.get("trace_metadata", data.get("request_metadata")) or {}
        if isinstance(metadata, list):
            metadata = {m["key"]: m["value"] for m in metadata}
        return cls(
            trace_id=data.get("trace_id") or data.get("request_id") or "",
            experiment_id=experiment_id,
            request_time=rfc3339_to_ms(data.get("request_time", data.get("timestamp_ms"))) or 0,
            execution_duration=None if duration is None else int(duration),
            state=_state(data.get("state") or data.get("status")),
            request_preview=data.get("request_preview"),
            response_preview=data.get("response_preview"),
            client_request_id=data.get("client_request_id"),
            trace_metadata={str(k): str(v) for k, v in metadata.items()},
            tags={str(k): str(v) for k, v in tags.items()},
            assessments=[Assessment.from_dict(a) for a in data.get("assessments") or []],
            extra=extra,
        )


def token_usage_of(metadata: dict[str, str]) -> dict[str, int] | None:
    """The token usage a trace's metadata holds (a JSON object), or None."""
    raw = metadata.get(TraceMetadataKey.TOKEN_USAGE)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _state(value: Any) -> TraceState:
    text = str(value or "STATE_UNSPECIFIED").upper()
    text = {"TRACE_STATUS_UNSPECIFIED": "STATE_UNSPECIFIED"}.get(text, text)
    try:
        return TraceState(text)
    except ValueError:
        return TraceState.STATE_UNSPECIFIED


def _duration_ms(value: Any) -> int | None:
    """A proto Duration (``"0.081s"``) or a number of ms."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value)
    if text.endswith("s"):
        return round(float(text[:-1]) * 1000)
    return int(float(text))
