"""Runs: one execution of some work (an evaluation, a prompt experiment) and what it logged.

Named and shaped as MLflow's run entities (``Run`` = ``RunInfo`` + ``RunData``), so code
written against ``mlflow.get_run(...)`` reads the same attributes. Parameters are strings
(MLflow stores ``str(value)``), metrics keep a history per key and ``RunData.metrics``
holds the latest value of each, "latest" meaning the highest ``(step, timestamp, value)``
as MLflow orders them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities._enum import StrEnum

__all__ = ["Metric", "Run", "RunData", "RunInfo", "RunStatus", "RunTagKey", "latest_metric"]


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def is_terminated(cls, status: str) -> bool:
        return status in (cls.FINISHED, cls.FAILED, cls.KILLED)


class RunTagKey:
    """Tags MLflow sets on runs; Spanscope sets the same ones."""

    RUN_NAME = "mlflow.runName"
    PARENT_RUN_ID = "mlflow.parentRunId"
    USER = "mlflow.user"
    NOTE = "mlflow.note.content"


@dataclass(frozen=True)
class Metric:
    """One logged value of a metric: ``timestamp`` in epoch ms, ``step`` an integer."""

    key: str
    value: float
    timestamp: int
    step: int = 0

    def order_key(self) -> tuple[int, int, float]:
        """MLflow's "latest" order: step, then timestamp, then value (NaN lowest)."""
        value = -math.inf if math.isnan(self.value) else self.value
        return (self.step, self.timestamp, value)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "timestamp": self.timestamp,
                "step": self.step}


def latest_metric(current: Metric | None, candidate: Metric) -> Metric:
    """Which of two values of one metric is the latest (ties keep ``candidate``)."""
    if current is None or candidate.order_key() >= current.order_key():
        return candidate
    return current


@dataclass(frozen=True)
class RunInfo:
    """A run's identity and lifecycle; times are epoch milliseconds."""

    run_id: str
    experiment_id: str
    run_name: str | None = None
    status: str = RunStatus.RUNNING
    start_time: int | None = None
    end_time: int | None = None
    artifact_uri: str | None = None
    user_id: str | None = None
    lifecycle_stage: str = "active"

    @property
    def run_uuid(self) -> str:
        """MLflow's older name for ``run_id``."""
        return self.run_id

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_uuid": self.run_id, "run_name": self.run_name,
                "experiment_id": self.experiment_id, "status": str(self.status),
                "start_time": self.start_time, "end_time": self.end_time,
                "artifact_uri": self.artifact_uri, "user_id": self.user_id,
                "lifecycle_stage": self.lifecycle_stage}


@dataclass(frozen=True)
class RunData:
    """What a run logged: ``params`` and ``tags`` (str -> str), latest ``metrics`` values."""

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "metrics": dict(self.metrics),
                "tags": dict(self.tags)}


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    def __repr__(self) -> str:
        return (f"Run(run_id={self.info.run_id!r}, run_name={self.info.run_name!r}, "
                f"status={str(self.info.status)!r})")
