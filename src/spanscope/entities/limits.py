"""Size and character limits on trace fields, and the pure functions that enforce them.

One module, used on every write path (the SDK's ``update_current_trace``, the exporter,
the SQL store's ``log_traces``, and the store's ``set_trace_tag`` rules), so a field is
held to the same limit whichever way it arrives. The live paths must never lose a trace
for one bad field, so they *clean* rather than reject: a value over its limit is cut and
ends with a visible marker saying how much was cut, a NUL character (which PostgreSQL
text cannot hold) becomes U+FFFD, and the trace gets the tag ``spanscope.cleanedFields``
naming what was changed. Explicit single-field calls (``set_trace_tag``) reject instead.

Pure: no I/O, no logging; callers count and log what ``clean_trace`` reports.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanscope.entities.span import Span
    from spanscope.entities.trace import Trace

__all__ = [
    "CLEANED_FIELDS_TAG",
    "CLIENT_REQUEST_ID_LENGTH",
    "METADATA_KEY_LENGTH",
    "METADATA_VALUE_LENGTH",
    "NUL_REPLACEMENT",
    "SPAN_NAME_LENGTH",
    "TAG_KEY_LENGTH",
    "TAG_VALUE_LENGTH",
    "clean_key",
    "clean_text",
    "clean_trace",
    "cut_marker",
    "fix_surrogates",
    "unserialisable_marker",
    "valid_unicode",
]

TAG_KEY_LENGTH = 250  # as MLflow limits tag keys (and the trace_tags.key column)
TAG_VALUE_LENGTH = 8000  # MLflow's tag value column size, so tags export to MLflow intact
METADATA_KEY_LENGTH = 250  # the trace_metadata.key column
METADATA_VALUE_LENGTH = 8000  # MLflow's request metadata value column size
CLIENT_REQUEST_ID_LENGTH = 10_000  # longer than the 256-character column: kept whole there
SPAN_NAME_LENGTH = 10_000  # the name column holds 512; the span JSON keeps up to this
NUL_REPLACEMENT = "\ufffd"
CLEANED_FIELDS_TAG = "spanscope.cleanedFields"
_CLEANED_TAG_LENGTH = TAG_VALUE_LENGTH


def cut_marker(cut: int) -> str:
    """The text that ends a value cut to its limit, e.g. ``...[cut 1200 chars]``."""
    return f"...[cut {cut} chars]"


def unserialisable_marker(value: Any, error: BaseException | str) -> str:
    """What stands in for a value that could not be turned into JSON: its type and why."""
    try:
        type_name = type(value).__qualname__
    except Exception:  # a hostile metaclass
        type_name = "object"
    if isinstance(error, BaseException):
        try:
            reason = f"{type(error).__name__}: {error}"
        except Exception:
            reason = type(error).__name__
    else:
        reason = error
    return f"<unserialisable {type_name}: {reason[:200]}>"


def valid_unicode(value: str) -> bool:
    """False when ``value`` holds a lone surrogate, which no UTF-8 database can store."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fix_surrogates(value: str) -> str:
    """Pairs of surrogates become their character, lone ones U+FFFD."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean_text(value: str, limit: int) -> tuple[str, str | None]:
    """``value`` within ``limit`` characters, without NUL and valid Unicode, and what was
    done to it (None when nothing)."""
    if len(value) <= limit and "\x00" not in value and valid_unicode(value):
        return value, None
    why = []
    if not valid_unicode(value):
        value = fix_surrogates(value)
        why.append("invalid Unicode replaced")
    if "\x00" in value:
        value = value.replace("\x00", NUL_REPLACEMENT)
        why.append("NUL replaced")
    if len(value) > limit:
        marker = cut_marker(0)
        keep = max(limit - len(marker) - 6, 0)  # room for the digits of the count
        marker = cut_marker(len(value) - keep)
        value = value[:keep] + marker
        why.append("cut")
    return value, " and ".join(why)


def clean_key(key: str, limit: int, taken: set[str] | dict[str, Any]) -> tuple[str, str | None]:
    """Like ``clean_text`` for a key; a cut key that collides with another gets a number."""
    cleaned, why = clean_text(key, limit)
    if why is None:
        return key, None
    base, n = cleaned, 1
    while cleaned in taken:
        suffix = f"#{n}"
        cleaned = base[:limit - len(suffix)] + suffix
        n += 1
    return cleaned, why


def _dict_is_clean(values: dict[str, str], key_limit: int, value_limit: int) -> bool:
    """The hot-path test: every key and value a str within its limit, and no NUL anywhere."""
    for key, value in values.items():
        if (type(key) is not str or type(value) is not str or len(key) > key_limit
                or len(value) > value_limit):
            return False
    text = "".join(values) + "".join(values.values())
    return "\x00" not in text and valid_unicode(text)


def _clean_dict(values: dict[Any, Any], key_limit: int, value_limit: int, what: str,
                fixes: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        key_text = key if isinstance(key, str) else str(key)
        value_text = value if isinstance(value, str) else ("" if value is None else str(value))
        new_key, why_key = clean_key(key_text, key_limit, out)
        new_value, why_value = clean_text(value_text, value_limit)
        if why_key:
            fixes.append(f"{what} key {key_text[:40]!r}: {why_key}")
        if why_value:
            fixes.append(f"{what} {new_key[:40]!r}: {why_value}")
        out[new_key] = new_value
    return out


def clean_trace(trace: Trace) -> tuple[Trace, list[str]]:
    """``trace`` with every field within its limit, and one line per field changed.

    Returns the same object when nothing needed changing (the common case costs a few
    length tests and a NUL scan). A changed trace is a copy with the tag
    ``spanscope.cleanedFields`` listing the changes.
    """
    info = trace.info
    fixes: list[str] = []
    tags, metadata = info.tags, info.trace_metadata
    if not _dict_is_clean(tags, TAG_KEY_LENGTH, TAG_VALUE_LENGTH):
        tags = _clean_dict(tags, TAG_KEY_LENGTH, TAG_VALUE_LENGTH, "tag", fixes)
    if not _dict_is_clean(metadata, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH):
        metadata = _clean_dict(metadata, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH,
                               "metadata", fixes)
    changes: dict[str, Any] = {}
    for name, limit in (("client_request_id", CLIENT_REQUEST_ID_LENGTH),
                        ("request_preview", None), ("response_preview", None)):
        value = getattr(info, name)
        if isinstance(value, str):
            cleaned, why = clean_text(value, limit or len(value))
            if why:
                changes[name] = cleaned
                fixes.append(f"{name}: {why}")
    spans = trace.data.spans
    if any(type(span.name) is not str or "\x00" in span.name
           or len(span.name) > SPAN_NAME_LENGTH or not valid_unicode(span.name)
           for span in spans):
        spans = [_clean_span(span, fixes) for span in spans]
    if not fixes:
        return trace, fixes
    note, _ = clean_text("; ".join(fixes), _CLEANED_TAG_LENGTH)
    tags = {**tags, CLEANED_FIELDS_TAG: note}
    new_info = dataclasses.replace(info, tags=tags, trace_metadata=metadata, **changes)
    new_data = dataclasses.replace(trace.data, spans=spans)
    return type(trace)(new_info, new_data), fixes


def _clean_span(span: Span, fixes: list[str]) -> Span:
    from spanscope.entities.span import Span as SpanEntity

    name, why = clean_text(span.name if isinstance(span.name, str) else str(span.name),
                           SPAN_NAME_LENGTH)
    if why is None:
        return span
    fixes.append(f"span {span.span_id} name: {why}")
    return SpanEntity(span.trace_id, span.span_id, span.parent_id, name, span.start_time_ns,
                span.end_time_ns, span.status, span.raw_attributes, span.events, span.extra)
