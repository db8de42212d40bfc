"""``render_tree``: the span tree as text, exactly."""

from __future__ import annotations

from analysis_builders import TraceBuilder

from spanscope.analysis import render_tree
from spanscope.analysis.tree import tree_lines


def _trace():
    b = TraceBuilder()
    root = b.add("agent", 0, 1_500, span_type="AGENT", error="KeyError: order A7 not found")
    plan = b.add("plan", 0.2, 40, parent=root, span_type="CHAT_MODEL")
    b.add("parse", 35, 39.5, parent=plan, span_type="PARSER")
    tool = b.add("lookup_order", 41, 1_499, parent=root, span_type="TOOL",
                 error="KeyError: order A7 not found")
    b.add("stream", 50, None, parent=root, span_type="TOOL")
    return b.trace(), {"tool": tool, "plan": plan}


def test_tree_with_durations_offsets_types_errors_and_marks() -> None:
    trace, ids = _trace()
    text = render_tree(trace, marks={ids["tool"]: ["error_origin"]})
    assert text.splitlines() == [
        "agent [AGENT]  1.50 s @ +0.0 ms  ERROR KeyError: order A7 not found",
        "├── plan [CHAT_MODEL]  39.8 ms @ +0.2 ms",
        "│   └── parse [PARSER]  4.5 ms @ +35.0 ms",
        "├── lookup_order [TOOL]  1.46 s @ +41.0 ms  ERROR KeyError: order A7 not found"
        "  <- error_origin",
        "└── stream [TOOL]  (running) @ +50.0 ms",
    ]


def test_ascii_drawing_uses_only_ascii() -> None:
    trace, _ = _trace()
    text = render_tree(trace, ascii=True)
    assert text.isascii()
    assert text.splitlines()[2] == "|   `-- parse [PARSER]  4.5 ms @ +35.0 ms"


def test_lines_carry_depth_and_span_ids_and_orphans_are_roots() -> None:
    b = TraceBuilder()
    root = b.add("agent", 0, 10, span_type="AGENT")
    b.add("child", 1, 2, parent=root)
    orphan = b.add("orphan", 3, 4, parent="feedfacefeedface")
    lines = tree_lines(b.trace())
    assert [(line.depth, line.label) for line in lines] == [
        (0, "agent [AGENT]"), (1, "child [UNKNOWN]"), (0, "orphan [UNKNOWN]")]
    assert lines[2].span_id == orphan and lines[2].prefix == ""


def test_a_deep_trace_renders_without_recursion() -> None:
    b = TraceBuilder()
    parent = b.add("step_0", 0, 10_000)
    for i in range(1, 1_500):
        parent = b.add(f"step_{i}", i, 10_000 - i, parent=parent)
    lines = render_tree(b.trace()).splitlines()
    assert len(lines) == 1_500 and lines[-1].lstrip().startswith("└── step_1499")
