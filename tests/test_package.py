"""The public surface: what ``import spanscope`` gives and what it costs."""

from __future__ import annotations

import subprocess
import sys
import types

import spanscope

EXPECTED_PUBLIC_NAMES = {
    # tracing (MLflow names)
    "trace", "start_span", "update_current_trace", "get_current_active_span",
    "get_last_active_trace_id", "flush", "flush_trace_async_logging", "disable", "enable",
    "set_tracking_uri", "get_tracking_uri", "set_experiment",
    # reading
    "get_trace", "search_traces",
    # curating: tags, deletion, assessments
    "set_trace_tag", "delete_trace_tag", "delete_traces", "log_feedback", "log_expectation",
    "get_assessment", "update_assessment", "delete_assessment",
    # runs (MLflow names)
    "start_run", "active_run", "end_run", "last_active_run", "log_param", "log_params",
    "log_metric", "log_metrics", "set_tag", "set_tags", "log_artifact", "log_artifacts",
    "log_dict", "log_text", "log_table", "load_table", "get_run", "get_metric_history",
    "search_runs",
    # entities
    "Trace", "TraceInfo", "TraceData", "TraceState", "Span", "SpanEvent", "SpanStatus",
    "SpanStatusCode", "SpanType", "Feedback", "Expectation", "AssessmentSource",
    "AssessmentSourceType", "Assessment", "AssessmentError",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(spanscope.__all__) == EXPECTED_PUBLIC_NAMES
    for name in spanscope.__all__:
        assert getattr(spanscope, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        spanscope.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_cheap() -> None:
    """Importing and decorating loads no pandas/SQLAlchemy, starts no thread, opens no db."""
    code = (
        "import sys, threading, os\n"
        "import spanscope\n"
        "@spanscope.trace\n"
        "def f(x):\n    return x\n"
        "heavy = [m for m in ('pandas', 'sqlalchemy', 'alembic') if m in sys.modules]\n"
        "print(heavy, threading.active_count(), os.path.exists('spanscope.db'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=_empty_dir()).stdout.strip()
    assert out == "[] 1 False"


def _empty_dir() -> str:
    import tempfile

    return tempfile.mkdtemp()


def test_nothing_test_only_in_the_public_namespaces() -> None:
    """Test support is ``spanscope.testing``; the SDK's namespaces hold none of it."""
    import spanscope.testing
    import spanscope.tracing

    for module in (spanscope, spanscope.tracing):
        public = [n for n in (*module.__all__, *dir(module)) if not n.startswith("_")
                  and not isinstance(getattr(module, n), types.ModuleType)]  # subpackages
        assert [n for n in public if "test" in n.lower()] == [], module.__name__
    assert spanscope.testing.__all__ == ["reset_tracing"]


def test_public_classes_report_spanscope_as_their_module() -> None:
    import pickle

    classes = [getattr(spanscope, name) for name in spanscope.__all__
               if isinstance(getattr(spanscope, name), type)]
    assert len(classes) == 15
    for cls in classes:
        assert cls.__module__ == "spanscope", cls
        assert repr(cls) in (f"<class 'spanscope.{cls.__qualname__}'>",
                             f"<enum '{cls.__qualname__}'>")
        assert getattr(spanscope, cls.__qualname__) is cls  # what pickle looks up
    feedback = spanscope.Feedback(name="helpful", value=True)
    assert pickle.loads(pickle.dumps(feedback)).to_dict() == feedback.to_dict()
    assert pickle.loads(pickle.dumps(spanscope.TraceState.ERROR)) is spanscope.TraceState.ERROR


def test_classes_say_spanscope_however_they_are_imported() -> None:
    """Even imported from their own module first, before ``spanscope.Trace`` is touched."""
    code = ("from spanscope.entities.trace import Trace\n"
            "from spanscope.entities.span import SpanType\n"
            "print(Trace.__module__, SpanType.__module__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "spanscope spanscope"


def test_nothing_but_public_names_without_an_underscore() -> None:
    """A fresh ``import spanscope`` shows the public names (and lazy ``genai``), nothing else.

    (Submodules imported later, such as ``spanscope.store``, appear as attributes too; that
    is Python's import system, not this package's namespace.)
    """
    code = "import spanscope\nprint(sorted(n for n in dir(spanscope) if n[0] != '_'))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=_empty_dir()).stdout.strip()
    assert out == str(sorted({*spanscope.__all__, "genai"}))
