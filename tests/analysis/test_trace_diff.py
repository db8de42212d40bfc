"""Two traces aligned by the place of each span in the tree, not by span id."""

from __future__ import annotations

from factories import make_trace
from spanscope.analysis.trace_diff import diff_traces


def test_the_same_tree_aligns_row_by_row() -> None:
    a, b = make_trace(3, question="Capital of France?"), make_trace(3, question="Of Spain?")
    diff = diff_traces(a, b)
    assert not diff.structure_differs
    assert [s.where for s in diff.spans] == ["both"] * 3
    assert [s.name for s in diff.spans] == [s.name for s in a.data.spans]
    assert diff.spans[0].same_inputs is False  # the question differs
    child = diff.spans[1]
    assert child.a is not None and child.b is not None
    assert child.a.span_id != child.b.span_id  # aligned by place, not id
    assert child.delta_ms == child.duration_ms("b") - child.duration_ms("a")


def test_a_span_only_in_one_trace_is_placed_and_marked() -> None:
    a, b = make_trace(3), make_trace(5)
    diff = diff_traces(a, b)
    assert diff.structure_differs
    assert [s.where for s in diff.spans].count("only B") == 2
    assert len(diff.spans) == 5
    only = [s for s in diff.spans if s.where == "only B"]
    assert all(s.a is None and s.duration_ms("a") is None and s.same_outputs is None
               for s in only)
    reverse = diff_traces(b, a)
    assert [s.where for s in reverse.spans].count("only A") == 2


def test_repeated_names_are_numbered_in_order() -> None:
    trace = make_trace(3)
    twin = make_trace(3)
    for span in twin.data.spans[1:]:
        object.__setattr__(span, "name", "retry")
    for span in trace.data.spans[1:]:
        object.__setattr__(span, "name", "retry")
    paths = [s.path for s in diff_traces(trace, twin).spans]
    assert paths[1].endswith("/retry") and paths[2].endswith("/retry#2")
