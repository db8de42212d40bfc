"""Online evaluation: score the production traces due for every registered scorer, once.

``run_online_pass(store)`` is what the monitor worker calls each tick (and what tests
call with a simulated clock ``now_ms``). For each active registration it:

1. skips the registration while it backs off after judge errors, or while its judge
   calls of the past hour (counted from the checkpoints, so across workers) reach its cap;
2. takes over claims whose worker vanished (older than the lease), and finishes without
   re-scoring those whose assessments were already written;
3. reads traces of the experiment that started at or after the registration's scan
   position and are *due*: finished, and ended at least ``delay_s`` before now, so late
   spans have arrived; and that match its filter (in the store, as SQL);
4. keeps those in the sample: ``in_sample(trace_id, rate)`` hashes the trace id, so a
   trace is always in or always out for a given rate, in every worker;
5. claims them (``OnlineScorerStore.claim_traces``: a trace is won by exactly one worker
   per scorer version), scores them in a thread pool with tracing suppressed (judge calls
   and whatever a code scorer calls are not traced into the user's experiment), writes
   the assessments (source LLM_JUDGE or CODE; the scorer's name, version and registration
   in their metadata) and marks the claims done;
6. moves the scan position forward to where every earlier trace is certainly examined.

A judge that fails transiently (timeout, connection error, HTTP 429 or 5xx) gives its
claims back unscored (any worker's next pass takes them over) and the registration backs
off exponentially; the next pass after the backoff tries again. The backoff is
``OnlineState``, kept in this process (other processes back off on their own failures);
the hourly cap is read from the store.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import queue
import random
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities import Feedback, Trace, TraceInfo
from spanscope.entities.sampling import in_sample
from spanscope.evaluation.rows import EvalRow, rows_from_data
from spanscope.evaluation.scorers.base import Scorer
from spanscope.exceptions import InvalidInputError, NotFoundError, SpanscopeError
from spanscope.monitoring.scorer_specs import build_scorer
from spanscope.store.base import TraceStore
from spanscope.store.online_scorers import (
    SCORED,
    SKIPPED,
    Finished,
    OnlineScorer,
    OnlineScorerStore,
    open_online_scorer_store,
)
from spanscope.store.online_scorers import now_ms as wall_clock_ms

__all__ = [
    "REGISTRATION_KEY",
    "SCORER_NAME_KEY",
    "SCORER_VERSION_KEY",
    "OnlinePassReport",
    "OnlineState",
    "run_online_pass",
]

logger = logging.getLogger(__name__)

# Metadata every online assessment carries.
SCORER_NAME_KEY = "spanscope.scorer.name"
SCORER_VERSION_KEY = "spanscope.scorer.version"
REGISTRATION_KEY = "spanscope.scorer.registration_id"

HOUR_MS = 3_600_000
PAGE_SIZE = 500
DEFAULT_MAX_TRACES = 200  # traces scored per registration and pass
DEFAULT_CONCURRENCY = 8
DEFAULT_LEASE_S = 600.0  # a claim this old belongs to a worker that is gone
STALE_IN_PROGRESS_MS = HOUR_MS  # an IN_PROGRESS trace this old is passed over
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 600.0
_TRANSIENT_CODES = {"TIMEOUT", "CONNECTION_ERROR", "HTTP_408", "HTTP_409", "HTTP_429"}


def _transient(feedback: Feedback) -> bool:
    error = feedback.error
    if error is None:
        return False
    code = error.error_code or ""
    return code in _TRANSIENT_CODES or (code.startswith("HTTP_5") and len(code) == 8)


@dataclass
class OnlinePassReport:
    """What one pass did, summed over registrations."""

    registrations: int = 0  # active registrations looked at
    examined: int = 0  # traces read from the store
    due: int = 0  # of those, finished and past their delay
    sampled: int = 0  # of those, in the sample
    claimed: int = 0  # traces this pass won (new claims and taken-over stale ones)
    scored: int = 0  # traces whose assessments were written
    skipped: int = 0  # claimed traces that were gone by the time they were scored
    errors: int = 0  # assessments written with an error (a scorer's own failure)
    assessments: int = 0
    judge_calls: int = 0
    released: int = 0  # claims given back unscored (judge outage)
    backing_off: list[str] = field(default_factory=list)  # registration names
    capped: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # scorers that could not be built

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class _Backoff:
    failures: int = 0
    until_ms: int = 0


class OnlineState:
    """What a worker process keeps between passes: backoff per registration, the scorers
    it built, and the online scorer stores it opened (per store URI)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.backoff: dict[str, _Backoff] = {}
        self._scorers: dict[tuple[str, int], Scorer] = {}
        self._stores: dict[str, OnlineScorerStore] = {}
        # per registration: trace id -> request time of the traces this process already
        # tried to claim, so a pass re-reading the scan window does not offer them again
        self._tried: dict[str, dict[str, int]] = {}

    def tried(self, registration_id: str) -> dict[str, int]:
        with self._lock:
            return self._tried.setdefault(registration_id, {})

    def forget_before(self, registration_id: str, position: int) -> None:
        with self._lock:
            tried = self._tried.get(registration_id)
            if tried:
                snapshot = tried.copy()  # one C-level copy: safe beside other threads
                self._tried[registration_id] = {trace_id: when for trace_id, when
                                                in snapshot.items() if when >= position}

    def backoff_until(self, registration_id: str) -> int:
        with self._lock:
            found = self.backoff.get(registration_id)
            return 0 if found is None else found.until_ms

    def fail(self, registration_id: str, now_ms: int) -> int:
        """Record a judge outage; returns the time (ms) until which to wait."""
        with self._lock:
            state = self.backoff.setdefault(registration_id, _Backoff())
            state.failures += 1
            wait_s = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (state.failures - 1))
            state.until_ms = now_ms + int(wait_s * 1000 * random.uniform(0.9, 1.1))
            return state.until_ms

    def succeed(self, registration_id: str) -> None:
        with self._lock:
            self.backoff.pop(registration_id, None)

    def scorer(self, registration: OnlineScorer) -> Scorer:
        key = (registration.registration_id, registration.version)
        with self._lock:
            found = self._scorers.get(key)
        if found is None:
            found = build_scorer(registration.spec, registration.name)
            with self._lock:
                self._scorers[key] = found
        return found

    def scorer_store(self, uri: str) -> OnlineScorerStore:
        with self._lock:
            found = self._stores.get(uri)
            if found is None:
                found = self._stores[uri] = open_online_scorer_store(uri)
            return found

    def close(self) -> None:
        with self._lock:
            stores = list(self._stores.values())
            self._stores.clear()
        for store in stores:
            store.close()


_DEFAULT_STATE = OnlineState()


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_online_pass(store: TraceStore, *, scorers: OnlineScorerStore | None = None,
                    now_ms: int | None = None, worker_id: str | None = None,
                    experiment_ids: Sequence[str] | None = None,
                    max_traces: int = DEFAULT_MAX_TRACES,
                    concurrency: int = DEFAULT_CONCURRENCY,
                    lease_s: float = DEFAULT_LEASE_S, writers: int = 1,
                    state: OnlineState | None = None) -> OnlinePassReport:
    """Score what is due for every active registration (at most ``max_traces`` traces
    each), and return counts.

    ``scorers``: where the registrations are (default: the online scorer store of
    ``store.uri``, opened once per process). ``now_ms``: the clock (default: now).
    ``worker_id`` names this worker's claims (default: host, pid and a random part).
    ``state``: backoff and built scorers kept between passes (default: this process's).
    ``writers``: threads storing the assessments; 1 suits SQLite (one write lock), a few
    let PostgreSQL keep up with more scoring threads.
    """
    if max_traces < 1 or concurrency < 1 or writers < 1:
        raise InvalidInputError("max_traces, concurrency and writers must be at least 1")
    state = state or _DEFAULT_STATE
    registry = scorers if scorers is not None else state.scorer_store(store.uri)
    clock = wall_clock_ms() if now_ms is None else int(now_ms)
    pass_ = _Pass(store, registry, state, clock, worker_id or default_worker_id(),
                  max_traces, concurrency, int(lease_s * 1000), writers)
    wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}
    for registration in registry.list_online_scorers():
        if not registration.active or (wanted is not None
                                       and registration.experiment_id not in wanted):
            continue
        pass_.report.registrations += 1
        try:
            pass_.run(registration)
        except SpanscopeError as exc:  # one registration's problem must not stop the rest
            logger.warning("online scorer %r (experiment %s): %s", registration.name,
                           registration.experiment_id, exc)
            pass_.report.broken.append(registration.name)
    return pass_.report


@dataclass(frozen=True)
class _Outcome:
    """What scoring one trace gave (written and counted by the pass's own thread)."""

    trace_id: str
    status: str | None  # SCORED, SKIPPED, or None: the judge failed, give the trace back
    feedbacks: Sequence[Feedback] = ()  # to store as assessments
    judge_calls: int = 0


class _Pass:
    """One pass over the registrations (the shared arguments, and the report)."""

    def __init__(self, store: TraceStore, registry: OnlineScorerStore, state: OnlineState,
                 now_ms: int, worker_id: str, max_traces: int, concurrency: int,
                 lease_ms: int, writers: int) -> None:
        self.store = store
        self.registry = registry
        self.state = state
        self.now_ms = now_ms
        self.worker_id = worker_id
        self.max_traces = max_traces
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.writers = writers
        self.report = OnlinePassReport()

    def run(self, registration: OnlineScorer) -> None:
        report, reg_id = self.report, registration.registration_id
        if self.state.backoff_until(reg_id) > self.now_ms:
            report.backing_off.append(registration.name)
            return
        try:
            scorer = self.state.scorer(registration)
        except InvalidInputError as exc:
            logger.error("online scorer %r cannot be built: %s", registration.name, exc)
            report.broken.append(registration.name)
            return
        budget = self.max_traces
        cap = registration.max_judge_calls_per_hour
        if scorer.is_judge and cap is not None:
            used = self.registry.judge_calls_since(reg_id, self.now_ms - HOUR_MS + 1)
            budget = min(budget, cap - used)
            if budget <= 0:
                report.capped.append(registration.name)
                return
        taken = self.registry.take_over_stale(
            reg_id, registration.version, worker_id=self.worker_id, now_ms=self.now_ms,
            lease_ms=self.lease_ms, limit=budget)
        report.claimed += len(taken)
        won = list(taken)
        position = registration.scan_from_ms
        if len(won) < budget:
            times, position = self._scan(registration, budget - len(won))
            fresh = self.registry.claim_traces(reg_id, registration.version, list(times),
                                               worker_id=self.worker_id, now_ms=self.now_ms)
            report.claimed += len(fresh)
            won += fresh
        if won:
            self._score(registration, scorer, won, set(taken))
        if position > registration.scan_from_ms:
            self.registry.advance_scan(reg_id, position)
            self.state.forget_before(reg_id, position)

    # --- finding the traces due -----------------------------------------------------
    def _scan(self, registration: OnlineScorer,
              wanted: int) -> tuple[dict[str, int], int]:
        """Up to ``wanted`` sampled, due traces not offered before (id -> request time),
        and the position the scan may move to."""
        delay_ms = int(registration.delay_s * 1000)
        due_before = self.now_ms - delay_ms
        start = registration.scan_from_ms
        if start > due_before:
            return {}, start
        text = (f"attributes.timestamp_ms >= {start} AND "
                f"attributes.timestamp_ms <= {due_before}")
        if registration.filter_string:
            text += f" AND ({registration.filter_string})"
        # Traces reach the store up to ``delay`` after they end, and end up to ``delay``
        # after they start (see docs/online-evaluation.md): before this point the store
        # holds every trace there will be, so the scan may move past it.
        horizon = due_before - delay_ms
        blocked: int | None = None
        last_seen = start
        tried = self.state.tried(registration.registration_id)
        found: dict[str, int] = {}
        token: str | None = None
        exhausted = False
        while len(found) < wanted:
            page = self.store.search_traces(
                [registration.experiment_id], filter_string=text,
                order_by=["attributes.timestamp_ms ASC"], max_results=PAGE_SIZE,
                page_token=token, include_spans=False)
            for trace in page:
                if len(found) >= wanted:
                    break
                info = trace.info
                self.report.examined += 1
                last_seen = info.request_time
                due = self._due(info, due_before)
                if not due:
                    if due is False and blocked is None:
                        blocked = info.request_time
                    continue
                self.report.due += 1
                if in_sample(info.trace_id, registration.sample_rate):
                    self.report.sampled += 1
                    if info.trace_id not in tried:
                        tried[info.trace_id] = info.request_time
                        found[info.trace_id] = info.request_time
            token = page.token
            if len(found) >= wanted:
                break
            if not token:
                exhausted = True
                break
        position = horizon if exhausted else min(horizon, last_seen)
        if blocked is not None:
            position = min(position, blocked)
        return found, max(position, start)

    def _due(self, info: TraceInfo, due_before: int) -> bool | None:
        """True: due; False: not yet (the scan must wait for it); None: never (a trace
        left IN_PROGRESS for over an hour is passed over)."""
        if str(info.state) == "IN_PROGRESS":
            return None if info.request_time < due_before - STALE_IN_PROGRESS_MS else False
        return info.request_time + (info.execution_duration or 0) <= due_before

    # --- scoring --------------------------------------------------------------------
    def _score(self, registration: OnlineScorer, scorer: Scorer, trace_ids: list[str],
               taken_over: set[str]) -> None:
        """Score the claimed traces; those left unscored are given back.

        Scoring threads only read and score. One writer thread stores every assessment
        and marks the claims done, so scoring threads never queue on the database's
        write lock (SQLite's coarse busy waits would turn that into idle judge slots),
        and this thread only hands out work and watches for a failing judge.
        """
        reg_id, version = registration.registration_id, registration.version
        outage = False
        unscored: list[str] = []
        waiting = collections.deque(trace_ids)
        window = 4 * self.concurrency  # submitted at once: wait() stays cheap, and an
        # outage leaves the rest unsubmitted
        writer = _Writer(self, registration, self.writers)
        try:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(trace_ids)),
                                    thread_name_prefix="spanscope-online") as pool:
                pending: dict[Future[_Outcome], str] = {}
                while waiting or pending:
                    while waiting and len(pending) < window and not outage:
                        trace_id = waiting.popleft()
                        pending[pool.submit(self._one, registration, scorer, trace_id,
                                            trace_id in taken_over)] = trace_id
                    if outage:
                        unscored.extend(waiting)
                        waiting.clear()
                    if not pending:
                        break
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        trace_id = pending.pop(future)
                        try:
                            outcome = future.result()
                        except Exception:  # the thread boundary: log, give it back
                            logger.exception("online scorer %r failed on trace %s",
                                             registration.name, trace_id)
                            unscored.append(trace_id)
                            continue
                        self.report.judge_calls += outcome.judge_calls
                        if outcome.status is None:  # the judge is failing: back off
                            unscored.append(trace_id)
                            outage = True
                        else:
                            writer.put(outcome)
        finally:
            writer.close()
        if unscored:  # taken over (by any worker) at its next pass
            self.registry.release_claims(reg_id, version, unscored, worker_id=self.worker_id)
            self.report.released += len(unscored)
        if outage:
            until = self.state.fail(reg_id, self.now_ms)
            self.report.backing_off.append(registration.name)
            logger.warning("online scorer %r: the judge is failing; %d traces given back, "
                           "retrying in %.0f s", registration.name, len(unscored),
                           (until - self.now_ms) / 1000)
        elif writer.finished:
            self.state.succeed(reg_id)

    def _record(self, registration: OnlineScorer, outcome: _Outcome,
                lock: threading.Lock) -> Finished:
        """Store one outcome's assessments and count them (on a writer thread)."""
        report = self.report
        metadata = {SCORER_NAME_KEY: registration.name,
                    SCORER_VERSION_KEY: str(registration.version),
                    REGISTRATION_KEY: registration.registration_id}
        for feedback in outcome.feedbacks:
            self.store.create_assessment(dataclasses.replace(
                feedback, trace_id=outcome.trace_id, assessment_id="a-" + uuid.uuid4().hex,
                metadata={**(feedback.metadata or {}), **metadata}))
        with lock:
            report.assessments += len(outcome.feedbacks)
            report.errors += sum(f.error is not None for f in outcome.feedbacks)
            if outcome.status == SCORED:
                report.scored += 1
            else:
                report.skipped += 1
        return Finished(outcome.trace_id, str(outcome.status), judge_calls=outcome.judge_calls)

    def _finish(self, registration: OnlineScorer, finished: list[Finished]) -> None:
        if finished:
            self.registry.finish_claims(registration.registration_id, registration.version,
                                        finished, worker_id=self.worker_id,
                                        now_ms=self.now_ms)

    def _one(self, registration: OnlineScorer, scorer: Scorer, trace_id: str,
             taken_over: bool) -> _Outcome:
        """Score one trace (runs in a pool thread; stores nothing)."""
        try:
            trace = self.store.get_trace(trace_id)
        except NotFoundError:
            return _Outcome(trace_id, SKIPPED)  # deleted since it was claimed
        if taken_over and _already_scored(trace, registration):
            return _Outcome(trace_id, SCORED)  # its worker died after writing them
        row = _row(trace)
        with _untraced():
            feedbacks = scorer.run(inputs=row.inputs, outputs=row.outputs,
                                   expectations=row.expectations, trace=trace)
        calls = _judge_calls(scorer, feedbacks)
        if any(_transient(f) for f in feedbacks):
            return _Outcome(trace_id, None, judge_calls=calls)
        return _Outcome(trace_id, SCORED, feedbacks, calls)


class _Writer:
    """The threads that store a pass's assessments and mark its claims done in batches.

    ``count`` threads share one queue. One is best for SQLite, where every write takes the
    file's lock; PostgreSQL writes rows in parallel, so a few keep up with more scoring
    threads. A write that fails is logged and its claim left as it is: after the lease,
    a worker takes it over and finds (or writes) its assessments.
    """

    BATCH = 50

    def __init__(self, pass_: _Pass, registration: OnlineScorer, count: int) -> None:
        self.pass_ = pass_
        self.registration = registration
        self.finished = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Outcome | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, daemon=True,
                                          name=f"spanscope-online-writer-{i}")
                         for i in range(max(1, count))]
        for thread in self._threads:
            thread.start()

    def put(self, outcome: _Outcome) -> None:
        self._queue.put(outcome)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        done: list[Finished] = []
        while True:
            item = self._queue.get()
            if item is not None:
                try:
                    done.append(self.pass_._record(self.registration, item, self._lock))
                except Exception:  # the thread boundary: log, keep writing the others
                    logger.exception("online scorer %r: could not store the scores of "
                                     "trace %s", self.registration.name, item.trace_id)
            if done and (item is None or len(done) >= self.BATCH):
                try:
                    self.pass_._finish(self.registration, done)
                    with self._lock:
                        self.finished += len(done)
                except Exception:
                    logger.exception("online scorer %r: could not mark %d traces done",
                                     self.registration.name, len(done))
                done = []
            if item is None:
                return


def _row(trace: Trace) -> EvalRow:
    """The trace as an evaluation row (inputs and outputs of its root span, expectations
    from its expectation assessments); a trace without inputs still gets scored."""
    try:
        return rows_from_data([trace])[0]
    except InvalidInputError:
        root = trace.data.root_span
        return EvalRow(index=0, inputs=None, outputs=None if root is None else root.outputs,
                       trace=trace)


def _already_scored(trace: Trace, registration: OnlineScorer) -> bool:
    for assessment in trace.info.assessments:
        metadata = assessment.metadata or {}
        if metadata.get(REGISTRATION_KEY) == registration.registration_id and \
                metadata.get(SCORER_VERSION_KEY) == str(registration.version):
            return True
    return False


def _judge_calls(scorer: Scorer, feedbacks: Sequence[Feedback]) -> int:
    if not scorer.is_judge:
        return 0
    calls = 0
    for feedback in feedbacks:
        attempts = (feedback.metadata or {}).get("judge_attempts")
        calls += int(attempts) if str(attempts or "").isdigit() else 0
    return calls


@contextlib.contextmanager
def _untraced() -> Iterator[None]:
    """Nothing called inside is traced: Spanscope's spans follow a parent that is not
    sampled (so ``@trace``, ``start_span`` and autolog record nothing), and OpenTelemetry
    instrumentation is told to stay quiet."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace

    parent = otel_trace.NonRecordingSpan(otel_trace.SpanContext(
        trace_id=random.getrandbits(128) or 1, span_id=random.getrandbits(64) or 1,
        is_remote=False, trace_flags=otel_trace.TraceFlags(otel_trace.TraceFlags.DEFAULT)))
    context = otel_trace.set_span_in_context(parent)
    context = otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True,
                                     context)
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
