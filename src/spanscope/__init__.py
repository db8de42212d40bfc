"""Spanscope: trace observability and quality improvement for GenAI applications.

The names follow MLflow Tracing's, so ``import spanscope as mlflow``-style code keeps
working::

    import spanscope

    @spanscope.trace(span_type="AGENT")
    def answer(question: str) -> str: ...

Importing this package is cheap: it starts no thread, opens no file and imports neither
pandas nor SQLAlchemy; those load when a trace is first stored or read. The public classes
report ``spanscope`` as their module (``spanscope.Trace``), and nothing but the public
names is reachable here without an underscore.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:  # the names below load lazily (module __getattr__) to keep import cheap
    from spanscope.api import (
        active_run,
        delete_assessment,
        delete_trace_tag,
        delete_traces,
        disable,
        enable,
        end_run,
        flush,
        flush_trace_async_logging,
        get_assessment,
        get_current_active_span,
        get_last_active_trace_id,
        get_metric_history,
        get_run,
        get_trace,
        get_tracking_uri,
        last_active_run,
        load_table,
        log_artifact,
        log_artifacts,
        log_dict,
        log_expectation,
        log_feedback,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_table,
        log_text,
        search_runs,
        search_traces,
        set_experiment,
        set_tag,
        set_tags,
        set_trace_tag,
        set_tracking_uri,
        start_run,
        start_span,
        trace,
        update_assessment,
        update_current_trace,
    )
    from spanscope.entities import (
        Assessment,
        AssessmentError,
        AssessmentSource,
        AssessmentSourceType,
        Expectation,
        Feedback,
        Span,
        SpanEvent,
        SpanStatus,
        SpanStatusCode,
        SpanType,
        Trace,
        TraceData,
        TraceInfo,
        TraceState,
    )

__version__ = "0.1.0"

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Expectation",
    "Feedback",
    "Span",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceState",
    "active_run",
    "delete_assessment",
    "delete_trace_tag",
    "delete_traces",
    "disable",
    "enable",
    "end_run",
    "flush",
    "flush_trace_async_logging",
    "get_assessment",
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_metric_history",
    "get_run",
    "get_trace",
    "get_tracking_uri",
    "last_active_run",
    "load_table",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_expectation",
    "log_feedback",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "search_runs",
    "search_traces",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_trace_tag",
    "set_tracking_uri",
    "start_run",
    "start_span",
    "trace",
    "update_assessment",
    "update_current_trace",
]

_ENTITY_NAMES = {name for name in __all__ if name[0].isupper()}


_SUBMODULES = {"genai"}  # ``spanscope.genai.evaluate(...)`` works after ``import spanscope``


def __getattr__(name: str) -> _Any:
    if name in _SUBMODULES:
        value = _import_module(f"spanscope.{name}")
    elif name in _ENTITY_NAMES:
        value = getattr(_import_module("spanscope.entities"), name)
    elif name in __all__:
        value = getattr(_import_module("spanscope.api"), name)
    else:
        raise AttributeError(f"module 'spanscope' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
