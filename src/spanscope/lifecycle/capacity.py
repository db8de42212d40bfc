"""Storage guardrails: a configured capacity, a warning at 80 %, ingest refused at 95 %.

``CapacityGuard`` holds the last measurement of the store (``RetentionStore.storage_size``:
SQLite's live pages, free pages excluded so space that deletions freed counts as free;
PostgreSQL's ``pg_database_size`` less the free space its free space maps record) and is
refreshed off the request path (the server
refreshes it every ``max_age_s`` in a thread), so checking it on a write costs a
comparison, never a ``stat`` or a query. At ``WARN_AT`` of the capacity it logs a
warning once (and ``/metrics`` and ``spanscope storage`` show the level); at
``REFUSE_AT`` ``check`` raises ``StorageFull``, which the server answers with HTTP 507 on
the REST ingest routes and OTLP ``/v1/traces``, until a measurement finds the store
below the line again (retention deleted enough).

PostgreSQL keeps the space of deleted rows for reuse by new rows rather than giving it
back, so ``pg_database_size`` drops only after ``VACUUM FULL``. Once VACUUM has found that
space free it is in the relations' free space maps, which the ``pg_freespacemap``
extension reads (one byte per 8 KiB page, seconds at 10 GB, so it is read again only after
a VACUUM finished or every 5 minutes); that is subtracted. A retention pass ends with a
plain VACUUM of the trace tables (``RetentionStore.reclaim_space``), so ingest refused at
95 % resumes after the pass rather than after autovacuum's own threshold. Without the
extension (the first measurement creates it when the role may) the used size is
``pg_database_size`` and a warning says so.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spanscope.exceptions import InvalidInputError
from spanscope.store.retention import StorageSize

__all__ = ["REFUSE_AT", "WARN_AT", "CapacityGuard", "CapacityStatus", "StorageFull",
           "format_bytes", "parse_size", "status_of"]

logger = logging.getLogger(__name__)

WARN_AT = 0.80
REFUSE_AT = 0.95
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
          "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str | int) -> int:
    """``10GB``, ``500MiB``, ``1.5T``, ``2000000`` as bytes; ``InvalidInputError`` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = _SIZE.fullmatch(str(text))
        if match is None or match.group(2).lower() not in _UNITS:
            raise InvalidInputError(f"capacity {text!r} is not a size: use a number and a unit, "
                                    "e.g. 500MB, 10GB, 2TiB")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = int(value * _UNITS[unit])
    if size <= 0:
        raise InvalidInputError(f"capacity {text!r} must be more than 0 bytes")
    return size


def format_bytes(size: float) -> str:
    """``1.23 GB``: decimal units, as capacities are written."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1000
    return f"{size} TB"  # pragma: no cover - the loop returns


class StorageFull(Exception):
    """The store is at or over ``REFUSE_AT`` of its capacity: ingest is refused (HTTP 507)."""

    def __init__(self, status: CapacityStatus) -> None:
        self.status = status
        super().__init__(
            f"the store is {status.percent:.1f}% full ({format_bytes(status.used_bytes)} of a "
            f"{format_bytes(status.capacity_bytes)} capacity): new traces are refused until "
            f"it is below {REFUSE_AT:.0%}; delete traces (spanscope retention apply, spanscope "
            "traces delete) or raise --capacity")


@dataclass(frozen=True)
class CapacityStatus:
    """One measurement against the capacity."""

    used_bytes: int
    disk_bytes: int
    capacity_bytes: int
    measured_at: float  # time.time()

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.capacity_bytes

    @property
    def percent(self) -> float:
        return 100.0 * self.fraction

    @property
    def level(self) -> str:
        """``ok``, ``warning`` (at 80 %) or ``full`` (at 95 %: ingest refused)."""
        if self.fraction >= REFUSE_AT:
            return "full"
        return "warning" if self.fraction >= WARN_AT else "ok"

    def message(self) -> str:
        text = (f"store {self.percent:.1f}% full: {format_bytes(self.used_bytes)} used of "
                f"{format_bytes(self.capacity_bytes)}")
        if self.level == "full":
            return text + f"; ingest is refused (507) until it is below {REFUSE_AT:.0%}"
        if self.level == "warning":
            return text + f"; ingest will be refused at {REFUSE_AT:.0%}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"used_bytes": self.used_bytes, "disk_bytes": self.disk_bytes,
                "capacity_bytes": self.capacity_bytes, "percent": round(self.percent, 2),
                "level": self.level, "measured_at": self.measured_at,
                "warn_at": WARN_AT, "refuse_at": REFUSE_AT}


def status_of(size: StorageSize, capacity_bytes: int) -> CapacityStatus:
    return CapacityStatus(size.used_bytes, size.disk_bytes, capacity_bytes, time.time())


class CapacityGuard:
    """The last measurement of a store against its capacity, checked on every write."""

    def __init__(self, measure: Callable[[], StorageSize], capacity_bytes: int, *,
                 max_age_s: float = 10.0) -> None:
        if capacity_bytes <= 0:
            raise InvalidInputError("the capacity must be more than 0 bytes")
        self.capacity_bytes = capacity_bytes
        self.max_age_s = max_age_s
        self._measure = measure
        self._status: CapacityStatus | None = None
        self._lock = threading.Lock()

    @property
    def status(self) -> CapacityStatus | None:
        """The last measurement (None before the first)."""
        return self._status

    def refresh(self) -> CapacityStatus:
        """Measure now (blocking: call it from a thread); logs a change of level."""
        status = status_of(self._measure(), self.capacity_bytes)
        with self._lock:
            before = None if self._status is None else self._status.level
            self._status = status
        if status.level != before:
            if status.level == "ok":
                (logger.info if before else logger.debug)("storage: %s", status.message())
            else:
                logger.warning("storage: %s", status.message())
        return status

    def check(self) -> None:
        """``StorageFull`` when the last measurement was at or over ``REFUSE_AT``."""
        status = self._status
        if status is not None and status.level == "full":
            raise StorageFull(status)
