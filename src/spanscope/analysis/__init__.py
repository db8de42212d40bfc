"""Analysis: why did this request go wrong, and where is the app slow, failing or expensive?

One trace (pure logic over a ``Trace`` entity, no I/O): ``health``, ``diagnose`` (ranked
``Finding`` objects), ``profile_trace`` and ``render_tree``. Many traces (computed in the
store): ``summarize``, ``profile_traces``, ``error_patterns``, ``compare``,
``correlate``, and ``build_report`` / ``write_html`` for the report; ``cost_of`` and
``selection_cost`` price model usage by the dated price table (``pricing``).

``profile(x)`` serves both: a ``Trace`` gets its per-type/per-name timing profile; a filter
string (or None, every trace) gets the profile across traces, aggregated in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spanscope.analysis.cohorts import CohortComparison, compare
from spanscope.analysis.correlate import Correlation, correlate
from spanscope.analysis.diagnose import Thresholds, diagnose
from spanscope.analysis.errors import ErrorPatterns, error_patterns, normalise_message
from spanscope.analysis.findings import SEVERITIES, Finding, Severity
from spanscope.analysis.health import TraceHealth, health
from spanscope.analysis.pricing import (
    CostTotal,
    PriceTable,
    cost_of,
    get_model_prices,
    load_prices,
    selection_cost,
    set_model_prices,
)
from spanscope.analysis.report import Report, build_report
from spanscope.analysis.report_html import (
    render_html,
    render_trace_html,
    write_html,
    write_trace_html,
)
from spanscope.analysis.span_profile import TracesProfile, profile_traces
from spanscope.analysis.summary import Summary, summarize
from spanscope.analysis.trace_profile import ProfileRow, TraceProfile, profile_trace
from spanscope.analysis.trace_view import TraceView, trace_view, trace_views
from spanscope.analysis.tree import render_tree, tree_lines

if TYPE_CHECKING:
    from spanscope.entities import Trace

__all__ = [
    "SEVERITIES",
    "CohortComparison",
    "Correlation",
    "CostTotal",
    "ErrorPatterns",
    "Finding",
    "PriceTable",
    "ProfileRow",
    "Report",
    "Severity",
    "Summary",
    "Thresholds",
    "TraceHealth",
    "TraceProfile",
    "TraceView",
    "TracesProfile",
    "build_report",
    "compare",
    "correlate",
    "cost_of",
    "diagnose",
    "error_patterns",
    "get_model_prices",
    "health",
    "load_prices",
    "normalise_message",
    "profile",
    "profile_trace",
    "profile_traces",
    "render_html",
    "render_trace_html",
    "render_tree",
    "selection_cost",
    "set_model_prices",
    "summarize",
    "trace_view",
    "trace_views",
    "tree_lines",
    "write_html",
    "write_trace_html",
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
