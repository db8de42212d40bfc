"""Experiments group traces (and runs) of one app or project."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_EXPERIMENT_ID", "DEFAULT_EXPERIMENT_NAME", "Experiment"]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    creation_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)
