"""The span tree as text: one line per span with type, duration, start offset, errors.

Pure string building, so the CLI (which adds colour), a log line and a test all get the
same tree. ``tree_lines`` gives the parts of each line for callers that style them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spanscope.analysis.detectors.exception_info import exception_info
from spanscope.analysis.structure import TraceIndex
from spanscope.entities import Span, SpanStatusCode, Trace

__all__ = ["TreeLine", "error_label", "render_tree", "tree_lines"]

_UNICODE = ("├── ", "└── ", "│   ", "    ")
_ASCII = ("|-- ", "`-- ", "|   ", "    ")


@dataclass(frozen=True)
class TreeLine:
    """One rendered span: ``prefix`` (tree drawing) + ``label`` + ``detail`` + ``error``."""

    span_id: str
    depth: int
    prefix: str
    label: str  # name [TYPE]
    detail: str  # duration and start offset
    error: str | None  # "ERROR Type: message" for failed spans
    marks: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        parts = [self.prefix + self.label, self.detail]
        if self.error:
            parts.append(self.error)
        if self.marks:
            parts.append("<- " + ", ".join(self.marks))
        return "  ".join(parts)


def _duration(span: Span) -> str:
    if span.end_time_ns is None:
        return "(running)"
    ms = (span.end_time_ns - span.start_time_ns) / 1e6
    return f"{ms:,.1f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def error_label(span: Span, limit: int = 100) -> str | None:
    """``ERROR Type: message`` (cut to ``limit``) for a failed span, else None."""
    if span.status_code != SpanStatusCode.ERROR:  # a stored span's column: no decode
        return None
    info = exception_info(span)
    text = "ERROR" if info is None else f"ERROR {info.label}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tree_lines(trace: Trace, *, ascii: bool = False,
               marks: Mapping[str, Sequence[str]] | None = None,
               error_width: int = 100) -> list[TreeLine]:
    """The tree in display order (children by start time); ``marks`` annotate span ids."""
    index = TraceIndex(trace)
    branch, last, pipe, blank = _ASCII if ascii else _UNICODE
    origin = index.extent_ns[0] if index.extent_ns else 0
    marks = marks or {}
    lines: list[TreeLine] = []
    # an explicit stack, not recursion: a deep agent trace must not hit the recursion limit
    stack = [(root, "", "", 0) for root in reversed(index.roots)]
    seen: set[str] = set()
    while stack:
        span, prefix, child_prefix, depth = stack.pop()
        if span.span_id in seen:  # a cycle in bad data
            continue
        seen.add(span.span_id)
        offset = (span.start_time_ns - origin) / 1e6
        lines.append(TreeLine(
            span_id=span.span_id, depth=depth, prefix=prefix,
            label=f"{span.name} [{span.span_type}]",
            detail=f"{_duration(span)} @ +{offset:,.1f} ms",
            error=error_label(span, error_width), marks=tuple(marks.get(span.span_id, ()))))
        children = index.children_of(span)
        for i in reversed(range(len(children))):
            is_last = i == len(children) - 1
            stack.append((children[i], child_prefix + (last if is_last else branch),
                          child_prefix + (blank if is_last else pipe), depth + 1))
    return lines


def render_tree(trace: Trace, *, ascii: bool = False,
                marks: Mapping[str, Sequence[str]] | None = None) -> str:
    """The span tree as text, one span per line (``ascii=True`` for plain-ASCII drawing)::

        support_agent [AGENT]  9.1 ms @ +0.0 ms
        ├── plan [CHAT_MODEL]  2.9 ms @ +0.1 ms
        └── lookup_order [TOOL]  0.2 ms @ +3.2 ms  ERROR OrderNotFoundError: order A1 not found
    """
    return "\n".join(line.text for line in tree_lines(trace, ascii=ascii, marks=marks))
