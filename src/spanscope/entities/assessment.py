"""Assessments: feedback (a judgement of a trace or span) and expectations (ground truth).

The JSON shape follows MLflow's: ``assessment_name``, ``source``, ``feedback: {value, error}``
or ``expectation: {value}`` (dict and list expectations as ``serialized_value``).
"""

from __future__ import annotations

import getpass
import json
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities._codec import ms_to_rfc3339, rfc3339_to_ms
from spanscope.entities._enum import StrEnum

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Expectation",
    "Feedback",
    "FeedbackValueType",
]

FeedbackValueType = str | int | float | bool | list | dict | None


class AssessmentSourceType(StrEnum):
    SOURCE_TYPE_UNSPECIFIED = "SOURCE_TYPE_UNSPECIFIED"
    HUMAN = "HUMAN"
    LLM_JUDGE = "LLM_JUDGE"
    CODE = "CODE"

    @classmethod
    def parse(cls, value: str | AssessmentSourceType) -> AssessmentSourceType:
        text = str(value).upper()
        if text == "AI_JUDGE":  # MLflow's deprecated name
            text = "LLM_JUDGE"
        try:
            return cls(text)
        except ValueError:
            names = ", ".join(m.value for m in cls if m is not cls.SOURCE_TYPE_UNSPECIFIED)
            raise ValueError(
                f"unknown assessment source type {value!r}; use one of {names}") from None


@dataclass(frozen=True)
class AssessmentSource:
    """Who made an assessment: a person, an LLM judge or code, and which one."""

    source_type: AssessmentSourceType | str = AssessmentSourceType.HUMAN
    source_id: str = "default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_type", AssessmentSourceType.parse(self.source_type))

    @classmethod
    def current_user(cls) -> AssessmentSource:
        try:
            user = getpass.getuser()
        except Exception:  # no login name in some containers
            user = "default"
        return cls(AssessmentSourceType.HUMAN, user)

    def to_dict(self) -> dict[str, str]:
        return {"source_type": str(self.source_type), "source_id": self.source_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AssessmentSource:
        data = data or {}
        return cls(data.get("source_type") or "SOURCE_TYPE_UNSPECIFIED",
                   data.get("source_id") or "default")


@dataclass(frozen=True)
class AssessmentError:
    """Why a scorer could not produce a value. It says nothing about the trace itself."""

    error_code: str
    error_message: str | None = None
    stack_trace: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> AssessmentError:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(type(exc).__name__, str(exc), stack)

    def to_dict(self) -> dict[str, str]:
        data = {"error_code": self.error_code}
        if self.error_message is not None:
            data["error_message"] = self.error_message
        if self.stack_trace is not None:
            data["stack_trace"] = self.stack_trace
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssessmentError:
        return cls(data.get("error_code") or "UNKNOWN", data.get("error_message"),
                   data.get("stack_trace"))


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(kw_only=True)
class Assessment:
    """Common fields of feedback and expectations."""

    name: str
    source: AssessmentSource = field(default_factory=AssessmentSource)
    trace_id: str | None = None
    span_id: str | None = None
    run_id: str | None = None
    rationale: str | None = None
    metadata: dict[str, str] | None = None
    create_time_ms: int = field(default_factory=_now_ms)
    last_update_time_ms: int | None = None
    assessment_id: str = field(default_factory=lambda: "a-" + uuid.uuid4().hex)
    overrides: str | None = None
    valid: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.last_update_time_ms is None:
            self.last_update_time_ms = self.create_time_ms

    @property
    def kind(self) -> str:
        """``"feedback"`` or ``"expectation"``."""
        raise NotImplementedError

    @property
    def value(self) -> Any:
        raise NotImplementedError

    @property
    def error(self) -> AssessmentError | None:
        return None

    def _value_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"assessment_id": self.assessment_id,
                                "assessment_name": self.name}
        if self.trace_id is not None:
            data["trace_id"] = self.trace_id
        if self.span_id is not None:
            data["span_id"] = self.span_id
        data["source"] = self.source.to_dict()
        data["create_time"] = ms_to_rfc3339(self.create_time_ms)
        data["last_update_time"] = ms_to_rfc3339(self.last_update_time_ms)
        data[self.kind] = self._value_dict()
        if self.rationale is not None:
            data["rationale"] = self.rationale
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        if self.run_id is not None:
            data["run_id"] = self.run_id
        if self.overrides is not None:
            data["overrides"] = self.overrides
        data["valid"] = self.valid
        data.update(self.extra)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Assessment:
        """Read an assessment dict as written by Spanscope or MLflow 3."""
        known = {"assessment_id", "assessment_name", "trace_id", "span_id", "source",
                 "create_time", "last_update_time", "feedback", "expectation", "rationale",
                 "metadata", "run_id", "overrides", "valid"}
        common: dict[str, Any] = {
            "name": data.get("assessment_name") or data.get("name") or "",
            "source": AssessmentSource.from_dict(data.get("source")),
            "trace_id": data.get("trace_id"),
            "span_id": data.get("span_id"),
            "run_id": data.get("run_id"),
            "rationale": data.get("rationale"),
            "metadata": data.get("metadata"),
            "create_time_ms": rfc3339_to_ms(data.get("create_time")) or 0,
            "last_update_time_ms": rfc3339_to_ms(data.get("last_update_time")),
            "assessment_id": data.get("assessment_id") or "a-" + uuid.uuid4().hex,
            "overrides": data.get("overrides"),
            "valid": data.get("valid", True) is not False,
            "extra": {k: v for k, v in data.items() if k not in known},
        }
        if "expectation" in data:
            body = data["expectation"] or {}
            if "serialized_value" in body:
                value = json.loads(body["serialized_value"].get("value") or "null")
            else:
                value = body.get("value")
            return Expectation(value=value, **common)
        body = data.get("feedback") or {}
        error = body.get("error")
        return Feedback(value=body.get("value"),
                        error=AssessmentError.from_dict(error) if error else None, **common)


@dataclass(kw_only=True)
class Feedback(Assessment):
    """A judgement of a trace or span: a value (bool, number, text, list, dict) or an error."""

    name: str = "feedback"
    value: FeedbackValueType = None  # type: ignore[assignment]
    error: AssessmentError | None = None  # type: ignore[assignment]
    source: AssessmentSource = field(
        default_factory=lambda: AssessmentSource(AssessmentSourceType.CODE))

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.error, BaseException):
            self.error = AssessmentError.from_exception(self.error)

    @property
    def kind(self) -> str:
        return "feedback"

    def _value_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value}
        if self.error is not None:
            data["error"] = self.error.to_dict()
        return data


@dataclass(kw_only=True)
class Expectation(Assessment):
    """What the right answer is (ground truth) for a trace or span."""

    value: Any = None  # type: ignore[assignment]

    @property
    def kind(self) -> str:
        return "expectation"

    def _value_dict(self) -> dict[str, Any]:
        if isinstance(self.value, (dict, list)):
            return {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                         "value": json.dumps(self.value)}}
        return {"value": self.value}
