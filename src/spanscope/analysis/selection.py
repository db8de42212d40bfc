"""Turn the arguments of the many-trace analyses into a store ``Selection``.

Shared by ``summarize``, ``profile_traces``, ``error_patterns``, ``compare``,
``correlate`` and the report, so they all read ``start``/``end``, ``experiment_ids`` and
``group_by`` the same way:

- ``start``/``end``: a ``datetime`` (naive means local time, as ``datetime.timestamp``
  reads it), epoch milliseconds, an ISO 8601 string (``2026-01-31``,
  ``2026-01-31T12:00:00Z``), or a time ago such as ``30m``, ``24h``, ``7d``, ``2w``
  (``spanscope.query.parse_duration``, the grammar of ``traces delete --older-than`` too).
- ``experiment_ids``: None is the active experiment, like ``search_traces``.
- ``group_by``: ``tags.KEY`` or ``metadata.KEY`` (also ``tag.``, ``request_metadata.``
  and backticked keys, as in the filter language); ``user`` and ``session`` (MLflow's
  ``mlflow.trace.user`` / ``mlflow.trace.session`` metadata); ``span_type`` (model usage
  and cost only: the type of the span that reported the tokens).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, TypeVar

from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.query import parse_duration
from spanscope.store.aggregates import GroupKey, Selection

if TYPE_CHECKING:
    from spanscope.store.base import Store, StoreHandle

    S = TypeVar("S", bound=StoreHandle)

__all__ = ["TimeLike", "describe", "make_selection", "no_traces", "parse_group_by", "parse_time",
           "store_for"]

TimeLike = datetime | date | int | float | str


# Times a datetime can hold (years 1 to 9999), so any accepted time can also be shown.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999


def parse_time(value: TimeLike | None, *, name: str = "time",
               now_ms: int | None = None) -> int | None:
    """Epoch milliseconds for any accepted time form; ``InvalidInputError`` otherwise."""
    ms = _parse_time(value, name=name, now_ms=now_ms)
    if ms is not None and not _MIN_MS <= ms <= _MAX_MS:
        raise InvalidInputError(f"{name} {value!r} is out of range: times go from year 1 "
                                "to 9999")
    return ms


def _parse_time(value: TimeLike | None, *, name: str = "time",
               now_ms: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a time, got {value!r}")
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day,
                            tzinfo=timezone.utc).timestamp() * 1000)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
        return int(value)
    if isinstance(value, str):
        try:
            ago = parse_duration(value, what=name)  # the one duration grammar (``24h``)
        except InvalidInputError:
            pass  # not a time ago: a date, a date and time or epoch ms
        else:
            now = int(time.time() * 1000) if now_ms is None else now_ms
            return now - ago
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"{name} {value!r} is not a time: use an ISO date such as 2026-01-31 or "
                "2026-01-31T12:00:00Z, epoch milliseconds, or a time ago such as 24h, 7d, "
                "30m") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)  # text without a zone reads as UTC
        return int(parsed.timestamp() * 1000)
    raise InvalidInputError(f"{name} must be a datetime, epoch ms, an ISO string or a time "
                            f"ago like '24h', got {type(value).__name__}")


GROUP_ALIASES = {"user": GroupKey("metadata", "mlflow.trace.user"),
                 "session": GroupKey("metadata", "mlflow.trace.session"),
                 "span_type": GroupKey("span_type")}


def parse_group_by(text: str | None) -> GroupKey | None:
    """``tags.KEY`` / ``metadata.KEY`` / ``GROUP_ALIASES`` as a ``GroupKey``;
    ``InvalidInputError`` otherwise."""
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"group_by must be 'tags.KEY' or 'metadata.KEY', got {text!r}")
    if text.strip().lower() in GROUP_ALIASES:
        return GROUP_ALIASES[text.strip().lower()]
    from spanscope.query import Metadata, Tag, parse_field

    problem = None
    try:
        field = parse_field(text, what="group_by")
        if isinstance(field, Tag):
            return GroupKey("tag", field.key)
        if isinstance(field, Metadata):
            return GroupKey("metadata", field.key)
    except FilterError as exc:
        problem = str(exc).splitlines()[0]
    detail = f" ({problem})" if problem else ""
    raise InvalidInputError(f"cannot group by {text!r}: group by tags.KEY, metadata.KEY, "
                            f"user, session or span_type, e.g. tags.app_version{detail}")


def _experiments(experiment_ids: Sequence[str] | str | None) -> tuple[str, ...]:
    if experiment_ids is None:
        from spanscope import tracking

        return (tracking.get_experiment_id(),)
    if isinstance(experiment_ids, str):
        return (experiment_ids,)
    return tuple(str(e) for e in experiment_ids)


def make_selection(filter_string: str | None = None,
                   experiment_ids: Sequence[str] | str | None = None,
                   start: TimeLike | None = None, end: TimeLike | None = None) -> Selection:
    """The ``Selection`` for the usual analysis arguments."""
    if filter_string is not None and not isinstance(filter_string, str):
        raise InvalidInputError(f"filter_string must be a string, got "
                                f"{type(filter_string).__name__}")
    now = int(time.time() * 1000)
    start_ms = parse_time(start, name="start", now_ms=now)
    end_ms = parse_time(end, name="end", now_ms=now)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InvalidInputError("end must be after start")
    return Selection(experiment_ids=_experiments(experiment_ids),
                     filter_string=filter_string or None, start_ms=start_ms, end_ms=end_ms)


def store_for(store: S | None = None) -> S | Store:
    """The store to read: the one given, else the tracking URI's (which has every protocol).

    Traces this process finished but has not exported yet are flushed first (bounded
    wait), so an analysis right after traced code sees them.
    """
    if store is not None:
        return store
    from spanscope import tracking
    from spanscope.pending import flush_pending_traces

    flush_pending_traces()
    return tracking.get_store()


def describe(selection: Selection) -> str:
    """A short human description of a selection, for messages and report headers."""
    parts = []
    if selection.filter_string:
        parts.append(f"filter {selection.filter_string!r}")
    if selection.experiment_ids is not None:
        ids = ", ".join(selection.experiment_ids)
        parts.append(f"experiment{'s' if len(selection.experiment_ids) > 1 else ''} {ids}")
    if selection.start_ms is not None:
        parts.append(f"from {_iso(selection.start_ms)}")
    if selection.end_ms is not None:
        parts.append(f"until {_iso(selection.end_ms)}")
    return ", ".join(parts) or "all traces"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def no_traces(selection: Selection) -> InvalidInputError:
    """The error for an empty selection."""
    return InvalidInputError(f"no traces match ({describe(selection)})")
