"""Text search and highlights through a real server: RestStore, REST and the fluent API."""

from __future__ import annotations

import spanscope
from spanscope.entities import Span, Trace, TraceData, TraceInfo
from spanscope.store import open_store


def _trace(experiment: str, i: int, question: str) -> Trace:
    trace_id = f"tr-{experiment.zfill(8)}{i:024x}"
    root = Span.build(trace_id=trace_id, span_id="1".zfill(16), parent_id=None, name="agent",
                      start_time_ns=1, end_time_ns=2, inputs={"question": question})
    return Trace(TraceInfo(trace_id=trace_id, experiment_id=experiment,
                           request_time=1_700_000_000_000 + i, state="OK"), TraceData([root]))


def test_highlights_cross_the_wire(remote: str, experiment: str) -> None:
    store = open_store(remote)
    loaded = [_trace(experiment, 0, "Where is order A10042?"), _trace(experiment, 1, "Hi")]
    store.log_traces(loaded)
    page = store.search_traces([experiment], filter_string="text CONTAINS 'A10042'",
                               highlight=True, include_spans=False)
    assert [t.info.trace_id for t in page] == [loaded[0].info.trace_id]
    (mark,) = page.highlights[loaded[0].info.trace_id]
    assert (mark.span_name, mark.kind, mark.match) == ("agent", "inputs", "A10042")
    assert store.search_traces([experiment], filter_string="text CONTAINS 'A10042'"
                               ).highlights == {}
    frame = spanscope.search_traces(filter_string="text ILIKE '%a10042%'", highlight=True)
    assert frame["highlights"].tolist() == [[mark.to_dict() | {"field": "text"}]]
    listed = spanscope.search_traces(filter_string="text ILIKE '%a10042%'", highlight=True,
                                     return_type="list")
    assert listed.highlights[loaded[0].info.trace_id][0].match == "A10042"
