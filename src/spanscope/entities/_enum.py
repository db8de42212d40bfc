"""A ``str`` enum that prints as its value on every supported Python version."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """Like ``enum.StrEnum`` (3.11+): members are strings and ``str(member)`` is the value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return str(self.value).__format__(spec)
