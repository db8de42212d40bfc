"""Where a filter's text comparisons matched in a trace: ``Highlight`` snippets.

Pure logic over ``Trace`` entities, so every store (and the REST server for its clients)
gives the same highlights. A comparison gives highlights when it can be true by what a
text holds: ``CONTAINS``, ``LIKE``, ``ILIKE`` or ``RLIKE`` on ``text`` (every span's
texts, ``query.text``) or on ``request``, ``response``, ``inputs.PATH``, ``outputs.PATH``
(the root span's payload), not under ``NOT``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from spanscope.entities import Highlight, PagedList, Span, Trace, TraceData
from spanscope.query.ast import And, Comparison, Node, Op, Or, RootPayload, TextContent
from spanscope.query.evaluate import compares
from spanscope.query.parser import parse_filter
from spanscope.query.text import SpanText, span_texts
from spanscope.query.values import like_parts, regex, text_of

__all__ = ["CONTEXT", "MAX_HIGHLIGHTS", "has_text_comparisons", "highlights",
           "with_highlights"]

CONTEXT = 60  # characters of text shown on each side of a match
MAX_HIGHLIGHTS = 5  # per trace
_OPS = (Op.CONTAINS, Op.LIKE, Op.ILIKE, Op.RLIKE)


def _positive(node: Node) -> Iterator[Comparison]:
    """Text comparisons reachable without crossing a ``NOT``."""
    if isinstance(node, Comparison):
        if isinstance(node.field, (TextContent, RootPayload)) and node.op in _OPS:
            yield node
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from _positive(child)


def has_text_comparisons(node: Node | None) -> bool:
    """Whether ``node`` can give highlights at all (so a caller asks for them, and reads
    the spans they need, only then)."""
    return node is not None and next(_positive(node), None) is not None


def _like_search(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """The LIKE pattern without its outer ``%``, as a regex to search for in a text."""
    out = like_parts(pattern, any_run=".*?")
    while out and out[0] == ".*?":
        out.pop(0)
    while out and out[-1] == ".*?":
        out.pop()
    return re.compile("".join(out) or "^", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _find(node: Comparison, text: str) -> tuple[int, int] | None:
    value = str(node.value)
    if not compares(node, text):
        return None
    if node.op is Op.CONTAINS:
        start = text.find(value)
        return start, start + len(value)
    found = (regex(value) if node.op is Op.RLIKE
             else _like_search(value, node.op is Op.ILIKE)).search(text)
    return (found.start(), found.end()) if found is not None else (0, 0)


def _texts(node: Comparison, trace: Trace) -> Iterator[tuple[Span, SpanText]]:
    field = node.field
    if isinstance(field, TextContent):
        for span in trace.data.spans:
            for text in span_texts(span):
                yield span, text
        return
    assert isinstance(field, RootPayload)
    root = trace.data.root_span
    if root is None:
        return
    value = root.inputs if field.side == "inputs" else root.outputs
    for step in field.path:
        ok = (isinstance(step, int) and isinstance(value, list) and step < len(value)) or (
            isinstance(step, str) and isinstance(value, dict) and step in value)
        if not ok:
            return
        value = value[step]  # type: ignore[index]
    text = text_of(value)
    if text is not None:
        yield root, SpanText(field.side, 0, text)


def _snippet(text: str, start: int, end: int, context: int) -> tuple[str, int, int]:
    left, right = max(0, start - context), min(len(text), end + context)
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(text) else ""
    snippet = prefix + text[left:right] + suffix
    return snippet, start - left + len(prefix), end - left + len(prefix)


def highlights(node: Node | None, trace: Trace, *, context: int = CONTEXT,
               limit: int = MAX_HIGHLIGHTS) -> list[Highlight]:
    """Where ``node``'s text comparisons match in ``trace``: at most ``limit`` snippets,
    in the filter's order, then span order. Empty when the filter has none."""
    found: list[Highlight] = []
    if node is None:
        return found
    for comparison in _positive(node):
        for span, text in _texts(comparison, trace):
            where = _find(comparison, text.text)
            if where is None:
                continue
            snippet, start, end = _snippet(text.text, *where, context)
            found.append(Highlight(span.span_id, span.name, text.kind,
                                   comparison.written or "text", snippet, start, end))
            if len(found) >= limit:
                return found
    return found


def with_highlights(page: PagedList[Trace], filter_string: str | None, *,
                    include_spans: bool) -> PagedList[Trace]:
    """``page`` (read with spans) with ``highlights`` set for the traces the filter's text
    comparisons matched in; without its spans unless ``include_spans``."""
    node = parse_filter(filter_string)
    marks = {t.info.trace_id: found for t in page if (found := highlights(node, t))}
    traces = page if include_spans else [Trace(t.info, TraceData([])) for t in page]
    return PagedList(traces, page.token, highlights=marks)
