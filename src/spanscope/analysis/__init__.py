"""Analysis: why did this request go wrong, and where is the app slow, failing or expensive?

One trace (pure logic over a ``Trace`` entity, no I/O): ``health``, ``diagnose`` (ranked
``Finding`` objects), ``profile_trace`` and ``render_tree``. Many traces (computed in the
store): see the names added below.

``profile(x)`` serves both: a ``Trace`` gets its per-type/per-name timing profile; a filter
string (or None, every trace) gets the profile across traces, aggregated in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spanscope.analysis.diagnose import diagnose
from spanscope.analysis.findings import SEVERITIES, Finding, Severity
from spanscope.analysis.health import TraceHealth, health
from spanscope.analysis.trace_profile import ProfileRow, TraceProfile, profile_trace
from spanscope.analysis.tree import render_tree

if TYPE_CHECKING:
    from spanscope.entities import Trace

__all__ = [
    "SEVERITIES",
    "Finding",
    "ProfileRow",
    "Severity",
    "TraceHealth",
    "TraceProfile",
    "diagnose",
    "health",
    "profile",
    "profile_trace",
    "render_tree",
]


def profile(trace_or_filter: Trace | str | None = None, **kwargs: Any) -> Any:
    """Per span type and per span name timing: of one trace, or across many traces.

    ``profile(trace)`` is ``profile_trace(trace)`` (a ``TraceProfile``);
    ``profile(filter_string, experiment_ids=..., ...)`` is
    ``spanscope.analysis.span_profile.profile_traces`` computed in the store.
    """
    from spanscope.entities import Trace

    if isinstance(trace_or_filter, Trace):
        if kwargs:
            raise TypeError(f"profile(trace) takes no options, got {sorted(kwargs)}")
        return profile_trace(trace_or_filter)
    if trace_or_filter is not None and not isinstance(trace_or_filter, str):
        raise TypeError("profile() takes a Trace, a filter string or None, "
                        f"not {type(trace_or_filter).__name__}")
    if trace_or_filter is not None:
        if "filter_string" in kwargs:
            raise TypeError("profile() got the filter string twice")
        kwargs["filter_string"] = trace_or_filter
    from spanscope.analysis.span_profile import profile_traces

    return profile_traces(**kwargs)
