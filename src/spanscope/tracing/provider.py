"""Install the OpenTelemetry tracer provider Spanscope records through, lazily.

This module (and with it the OpenTelemetry SDK) is imported on the first span or on
``enable()``, never by ``import spanscope``; building the provider starts no thread (the
exporter's worker starts with the first finished trace).

If the global OTel provider is still the default proxy, ours becomes the global one, so
any other OpenTelemetry instrumentation (OpenInference, OpenLLMetry, ...) lands in
Spanscope too. If the application already installed an SDK ``TracerProvider``, we add our
processor to it and trace through it (its sampler then decides, not ours).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import DEFAULT_TRACE_STATE, Link, SpanKind, get_current_span
from opentelemetry.util.types import Attributes

from spanscope.tracing._state import STATE, forget_logged
from spanscope.tracing.exporter import TraceExporter
from spanscope.tracing.live_span import SCOPE_NAME
from spanscope.tracing.processor import SpanscopeSpanProcessor

__all__ = ["SAMPLING_RATIO_ENV", "ensure_provider", "reset", "sampling_ratio"]

logger = logging.getLogger(__name__)

SAMPLING_RATIO_ENV = "SPANSCOPE_TRACE_SAMPLING_RATIO"


def sampling_ratio() -> float:
    """The ratio from ``SPANSCOPE_TRACE_SAMPLING_RATIO`` (0..1); a bad value warns and gives 1."""
    raw = os.environ.get(SAMPLING_RATIO_ENV)
    if raw is None or not raw.strip():
        return 1.0
    try:
        ratio = float(raw)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:  # also rejects nan
        logger.warning("%s=%r is not a number between 0 and 1; sampling every trace",
                       SAMPLING_RATIO_ENV, raw)
        return 1.0
    return ratio


class RatioSampler(Sampler):
    """``ParentBased(TraceIdRatioBased(ratio))``, decided inline, with a re-readable ratio.

    The decisions are exactly those of the OTel composition (a test compares them), but
    made in one call without the per-span ``SamplingResult`` allocations, because the
    sampler runs for every span on the application's thread. The ratio can be changed
    later (tests) because tracers copy their provider's sampler object when created.
    """

    def __init__(self, ratio: float) -> None:
        self.configure(ratio)

    def configure(self, ratio: float) -> None:
        self.ratio = ratio
        self._bound = TraceIdRatioBased.get_bound_for_rate(ratio)
        self._description = ParentBased(TraceIdRatioBased(ratio)).get_description()

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state: Any = None,
                      ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if parent is not None and parent.is_valid:  # follow the parent, local or remote
            if parent.trace_flags.sampled:
                if attributes is None and parent.trace_state is _EMPTY_STATE:
                    return _SAMPLE
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes,
                                      parent.trace_state)
            return SamplingResult(Decision.DROP, None, parent.trace_state)
        if trace_id & _TRACE_ID_LIMIT < self._bound:  # a root: TraceIdRatioBased
            return _SAMPLE if attributes is None else SamplingResult(
                Decision.RECORD_AND_SAMPLE, attributes, None)
        return _DROP

    def get_description(self) -> str:
        return self._description


_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT
_SAMPLE = SamplingResult(Decision.RECORD_AND_SAMPLE, None, None)  # read-only, shared
_DROP = SamplingResult(Decision.DROP, None, None)
_EMPTY_STATE = DEFAULT_TRACE_STATE


class _Setup:
    """What ``ensure_provider`` built, kept for flush, stats and tests."""

    provider: TracerProvider | None = None
    processor: SpanscopeSpanProcessor | None = None
    exporter: TraceExporter | None = None
    sampler: RatioSampler | None = None


SETUP = _Setup()
_lock = threading.RLock()
_hooks_registered = False


def ensure_provider() -> Tracer:
    """Build provider, processor and exporter once; return the Spanscope tracer."""
    with _lock:
        if STATE.tracer is not None:
            return STATE.tracer
        exporter = TraceExporter()
        processor = SpanscopeSpanProcessor(exporter)
        current = otel_trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
            logger.debug("adding Spanscope's span processor to the application's provider")
        else:
            SETUP.sampler = RatioSampler(sampling_ratio())
            provider = TracerProvider(sampler=SETUP.sampler, shutdown_on_exit=False)
            if isinstance(current, otel_trace.ProxyTracerProvider):
                otel_trace.set_tracer_provider(provider)
            else:  # a non-SDK provider (e.g. NoOp) was set on purpose: keep ours private
                logger.debug("global tracer provider %r is not an SDK provider; "
                             "Spanscope traces through a private one", current)
        provider.add_span_processor(processor)
        SETUP.provider, SETUP.processor, SETUP.exporter = provider, processor, exporter
        _register_process_hooks()
        STATE.tracer = provider.get_tracer(SCOPE_NAME)
        return STATE.tracer


def _register_process_hooks() -> None:
    """atexit: drain the queue with a bounded wait; fork: children start with fresh state."""
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    atexit.register(_flush_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_at_exit() -> None:
    exporter = SETUP.exporter
    if exporter is not None:
        exporter.shutdown(exporter.exit_timeout)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()
    forget_logged()
    if SETUP.processor is not None:
        SETUP.processor.clear()
    if SETUP.exporter is not None:
        SETUP.exporter.reinit_after_fork()


def reset(exporter: TraceExporter | None = None) -> None:
    """Tests: drop buffered spans, swap in a fresh exporter, re-read the sampling ratio.

    The OTel provider itself stays: OpenTelemetry lets the global provider be set only
    once per process.
    """
    with _lock:
        ensure_provider()
        old = SETUP.exporter
        if old is not None:
            old.shutdown(timeout=10.0)
        SETUP.exporter = exporter or TraceExporter()
        assert SETUP.processor is not None
        SETUP.processor.clear()
        SETUP.processor.exporter = SETUP.exporter
        if SETUP.sampler is not None:
            SETUP.sampler.configure(sampling_ratio())
