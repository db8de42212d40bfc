"""Run the demo app over a planned workload and report what happened.

``run_demo`` plays ``plan_requests(n, seed)`` through the support agent one request at a
time, as a single-worker server would, keeps each conversation's history, catches the
failures the app really has (so one failed request does not stop the run) and finally
flushes the SDK so every trace is in the store when it returns.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import spanscope
from spanscope.demo.app import RequestContext, SupportAgent
from spanscope.demo.profiles import TIME_SCALE
from spanscope.demo.simulated_llm import LLMTimeoutError, RateLimitError
from spanscope.demo.tools import InvalidOrderIdError, OrderNotFoundError
from spanscope.demo.workload import RequestPlan, plan_requests

__all__ = ["DEMO_RUN_TAG", "DemoRecord", "DemoResult", "run_demo"]

DEMO_RUN_TAG = "demo_run"  # tag on every trace of a run: find exactly what a run wrote
# The ways the demo app fails; anything else is a bug and must surface.
APP_ERRORS = (LLMTimeoutError, RateLimitError, OrderNotFoundError, InvalidOrderIdError)


@dataclass(frozen=True)
class DemoRecord:
    """One request as the runner saw it."""

    index: int
    client_request_id: str
    trace_id: str | None
    question: str
    intent: str
    session_id: str
    app_version: str
    error: str | None  # exception type name when the request failed

    @property
    def state(self) -> str:
        return "ERROR" if self.error else "OK"


@dataclass
class DemoResult:
    """What a demo run did: its records in order, timing and export health."""

    run_id: str
    seed: int
    records: list[DemoRecord] = field(default_factory=list)
    wall_time_s: float = 0.0  # running the requests
    flush_time_s: float = 0.0  # waiting for the exporter afterwards
    flushed: bool = True  # False if the flush timed out
    dropped: int = 0  # traces the SDK dropped during this run

    @property
    def n_traces(self) -> int:
        return len(self.records)

    @property
    def trace_ids(self) -> list[str]:
        return [r.trace_id for r in self.records if r.trace_id]

    @property
    def errors(self) -> int:
        return sum(1 for r in self.records if r.error)


ProgressCallback = Callable[[int, int, DemoRecord], None]


def run_demo(n_traces: int = 500, seed: int = 0,
             progress_callback: ProgressCallback | None = None, *,
             run_id: str | None = None, time_scale: float = TIME_SCALE,
             flush_timeout: float | None = 60.0, outage: float = 0.0) -> DemoResult:
    """Send ``n_traces`` requests through the support agent, tracing each one.

    ``progress_callback(done, total, record)`` is called after every request. Traces go
    to the current tracking URI and experiment; each is tagged ``demo_run=<run_id>``.
    ``outage`` (0 to 1) simulates a provider outage: each LLM call times out with at least
    that probability, so the error rate rises (what a monitor should catch).
    """
    if not 0.0 <= outage <= 1.0:
        raise ValueError(f"outage is a probability between 0 and 1, got {outage!r}")
    result = DemoResult(run_id=run_id or uuid.uuid4().hex[:12], seed=seed)
    dropped_before = _dropped()
    histories: dict[str, list[dict[str, str]]] = {}
    started = time.perf_counter()
    plans = plan_requests(n_traces, seed)
    for plan in plans:
        history = histories.setdefault(plan.session_id, [])
        record = _serve(plan, history, result.run_id, time_scale, outage)
        result.records.append(record)
        if progress_callback is not None:
            progress_callback(len(result.records), len(plans), record)
    result.wall_time_s = time.perf_counter() - started
    flush_started = time.perf_counter()
    result.flushed = bool(spanscope.flush(timeout=flush_timeout))
    result.flush_time_s = time.perf_counter() - flush_started
    result.dropped = _dropped() - dropped_before
    return result


def _serve(plan: RequestPlan, history: list[dict[str, str]], run_id: str,
           time_scale: float, outage: float = 0.0) -> DemoRecord:
    context = RequestContext(
        client_request_id=plan.client_request_id, session_id=plan.session_id,
        user_id=plan.user_id, user_tier=plan.user_tier, environment=plan.environment,
        app_version=plan.app_version, extra_tags={DEMO_RUN_TAG: run_id})
    agent = SupportAgent(context, rng=random.Random(plan.seed), time_scale=time_scale,
                         outage=outage)
    error = None
    try:
        answer = agent.answer(plan.question, plan.user_tier, history=list(history))
    except APP_ERRORS as exc:
        error = type(exc).__name__
    else:
        history += [{"role": "user", "content": plan.question},
                    {"role": "assistant", "content": answer}]
    return DemoRecord(index=plan.index, client_request_id=plan.client_request_id,
                      trace_id=spanscope.get_last_active_trace_id(), question=plan.question,
                      intent=plan.intent, session_id=plan.session_id,
                      app_version=plan.app_version, error=error)


def _dropped() -> int:
    from spanscope.tracing import get_export_stats

    return int(get_export_stats().get("dropped", 0))
