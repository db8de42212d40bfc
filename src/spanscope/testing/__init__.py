"""Test support Spanscope ships for its own tests and for users' tests and benchmarks.

- ``reset_tracing(exporter=None)``: flush, then forget buffered spans, counters and the
  last trace id and re-read the environment, so each test starts from clean tracing state;
  ``exporter`` swaps in a ``spanscope.tracing.exporter.TraceExporter`` built by the test
  (a tiny queue, a slow or failing writer).
- ``spanscope.testing.fake_openai``: a local OpenAI-compatible HTTP server with scripted
  answers, for exercising LLM judges over real HTTP without a real provider.

Nothing test-only lives in ``spanscope`` or ``spanscope.tracing`` themselves; it is here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spanscope.tracing.exporter import TraceExporter

__all__ = ["reset_tracing"]


def reset_tracing(exporter: TraceExporter | None = None) -> None:
    """Clean tracing state for the next test (optionally with the test's own exporter)."""
    from spanscope.tracing.fluent import reset_for_tests

    reset_for_tests(exporter)
