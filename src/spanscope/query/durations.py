"""Durations written as text: ``90m``, ``1.5h``, ``30d``, ``2w``.

One grammar for every option that takes a time span (``spanscope traces delete
--older-than``, ``spanscope report --since``/``--until`` and the analyses' ``start``/``end``
as a time ago): a non-negative number, optional spaces, then one unit ``s``, ``m``, ``h``,
``d`` or ``w`` in either letter case.
"""

from __future__ import annotations

import math
import re

from spanscope.exceptions import InvalidInputError

__all__ = ["DURATION_UNITS_MS", "parse_duration"]

DURATION_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                     "w": 604_800_000}
_MAX_MS = 10_000 * 365 * 86_400_000  # beyond any epoch-ms timestamp a store holds
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*", re.IGNORECASE)


def parse_duration(text: str, *, what: str = "duration") -> int:
    """Milliseconds in ``text``; ``InvalidInputError`` naming ``what`` if it is no duration."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInputError(
            f"{what} {text!r} is not a duration: use a number and a unit, e.g. 90m, 1.5h, "
            "30d (units: s, m, h, d, w)")
    millis = float(match.group(1)) * DURATION_UNITS_MS[match.group(2).lower()]
    if not math.isfinite(millis) or millis > _MAX_MS:
        raise InvalidInputError(f"{what} {text!r} is longer than 10,000 years")
    return round(millis)
