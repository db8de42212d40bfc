"""Pure helpers for the trace JSON format: JSON attribute values, ids and timestamps.

MLflow's trace JSON stores every span attribute as a JSON-encoded string, writes span ids
base64-encoded (OTLP style) and times as RFC 3339 strings. These helpers convert both ways.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_DAY_MS = 86_400_000
_YEAR_10000_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z
_RFC3339 = re.compile(r"^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$")


#: ``json.dumps(value, ensure_ascii=False)`` without building an encoder on every call (a
#: third of the time of a short value); for plain JSON values, as ``json.loads`` returns.
encode_json = json.JSONEncoder(ensure_ascii=False).encode


# Texts known to equal ``encode_json(json.loads(text))``: the SDK registers the JSON it
# wrote for inputs and outputs made only of plain JSON values (``remember_canonical``), so
# the text index takes such a text as its own ``text_of`` without decoding and encoding it
# again. Keyed by content, so any equal string is such a text too. Bounded: forgotten
# after ``_CANONICAL_CHARS`` characters were registered (a trace never written would
# otherwise keep its texts for ever); a forgotten text only takes the slow path.
_CANONICAL_CHARS = 8_000_000
_canonical: dict[str, None] = {}
_canonical_chars = 0


def remember_canonical(text: str) -> None:
    """Register ``text`` as one that ``encode_json(json.loads(text))`` gives back as is
    (the caller knows: it encoded a plain JSON value with string keys)."""
    global _canonical_chars
    _canonical_chars += len(text)
    if _canonical_chars > _CANONICAL_CHARS:
        _canonical.clear()
        _canonical_chars = len(text)
    _canonical[text] = None


def is_canonical(text: str) -> bool:
    """Whether ``text`` was registered by ``remember_canonical`` (and not yet forgotten)."""
    return text in _canonical


def dumps(value: Any) -> str:
    """JSON-encode ``value``; anything JSON cannot encode is replaced by its ``repr``.

    A part whose ``repr`` raises becomes ``unserialisable_marker`` text. Errors raised
    while walking a container (a broken ``__iter__``, a key that is no string) still
    propagate: callers that must never fail (the SDK) catch them.
    """
    try:
        return encode_json(value)
    except (TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False, default=_repr_default)


def _repr_default(obj: Any) -> Any:
    try:
        if hasattr(obj, "model_dump"):  # pydantic models (e.g. OpenAI responses) carry data
            try:
                return obj.model_dump()
            except Exception:
                pass
        if isinstance(obj, (set, frozenset, tuple)):
            return list(obj)
        return repr(obj)
    except Exception as exc:  # a hostile __repr__, __iter__ or __getattr__
        from spanscope.entities.limits import unserialisable_marker

        return unserialisable_marker(obj, exc)


def loads_attribute(raw: Any) -> Any:
    """Decode one JSON-encoded attribute value; a value that is not JSON comes back as is."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def decode_id(value: str | None, n_bytes: int) -> str | None:
    """Turn a span or trace id written as hex or base64 into lower-case hex."""
    if value is None or value == "":
        return None
    if len(value) == 2 * n_bytes and _HEX.match(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value  # unknown encoding: keep it rather than lose it
    return raw.hex() if len(raw) == n_bytes else value


def ms_to_rfc3339(ms: int | None) -> str | None:
    """Epoch milliseconds to ``2026-11-21T23:42:14.388Z``.

    Every trace an export writes goes through here: from 1970 to 9999 the time of day is
    worked out in integers and only the date is formatted by ``datetime`` (cached per day).
    """
    if ms is None:
        return None
    if type(ms) is int and 0 <= ms < _YEAR_10000_MS:
        days, milli = divmod(ms, _DAY_MS)
        seconds, milli = divmod(milli, 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return f"{_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}Z"
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=1024)
def _date(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")


def rfc3339_to_ms(value: str | int | float | None) -> int | None:
    """RFC 3339 string (any fraction digits, ``Z`` or offset) or epoch ms to epoch ms."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if (len(value) == 24 and value[10] == "T" and value[19] == "." and value[23] == "Z"
            and value[20:23].isdigit()):  # the shape ms_to_rfc3339 writes: a fast path
        try:
            seconds = (datetime.fromisoformat(value[:19]) - _EPOCH) // _SECOND
            return seconds * 1000 + int(value[20:23])
        except ValueError:
            pass  # not a date after all: the general path below says what is wrong
    text = value.strip()
    if text.isdigit():
        return int(text)
    match = _RFC3339.match(text)
    if not match:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    base, fraction, zone = match.groups()
    dt = datetime.fromisoformat(base + ("+00:00" if zone in (None, "Z") else zone))
    whole_ms = int(dt.timestamp()) * 1000
    return whole_ms + int((fraction or "0")[:3].ljust(3, "0"))
