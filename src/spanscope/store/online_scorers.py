"""Online scorer registrations and their per-trace checkpoints: the ``OnlineScorerStore``.

A registration says "score the finished traces of experiment E that match F, a sample of
R of them, D seconds after they end, with this scorer". The scorer itself is kept as a
*spec* (a JSON dict: a built-in judge and its options, a ``make_judge`` judge, or the
import path of an ``@scorer``; ``spanscope.monitoring.scorer_specs`` builds it), so any
worker process can rebuild it. Changing the spec bumps the registration's ``version``.

Checkpoints are one row per (registration, version, trace): *claiming* a trace inserts
the row and only one inserter can win, which is what lets several workers share one
database without scoring a trace twice. A claim is ``claimed`` until its worker marks it
``scored`` (or ``skipped``: the trace vanished); a claim older than a lease may be taken
over by another worker (its owner died). Like API keys (``store/keys.py``) these live
beside the traces but off the trace protocols: only the online worker, the ``scorers``
commands and their REST routes need them.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from spanscope.exceptions import InvalidInputError, InvalidUriError, NotFoundError

__all__ = [
    "CLAIMED",
    "SCORED",
    "SKIPPED",
    "Finished",
    "InMemoryOnlineScorerStore",
    "OnlineScorer",
    "OnlineScorerStore",
    "changed",
    "check_registration",
    "new_registration",
    "now_ms",
    "open_online_scorer_store",
]

CLAIMED = "claimed"
SCORED = "scored"
SKIPPED = "skipped"
NAME_LENGTH = 250
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/ ]+$")
DEFAULT_DELAY_S = 60.0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class OnlineScorer:
    """One registration: which traces to score, with what, and how far the scan has got.

    ``scan_from_ms``: traces that started before it have all been examined (sampled,
    claimed or passed over); the worker moves it forward, never back.
    """

    registration_id: str
    experiment_id: str
    name: str
    spec: dict[str, Any]
    sample_rate: float = 1.0
    filter_string: str | None = None
    delay_s: float = DEFAULT_DELAY_S
    max_judge_calls_per_hour: int | None = None
    active: bool = True
    version: int = 1
    scan_from_ms: int = 0
    created_time: int = 0
    last_update_time: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"registration_id": self.registration_id, "experiment_id": self.experiment_id,
                "name": self.name, "spec": self.spec, "version": self.version,
                "sample_rate": self.sample_rate, "filter_string": self.filter_string,
                "delay_s": self.delay_s,
                "max_judge_calls_per_hour": self.max_judge_calls_per_hour,
                "active": self.active, "scan_from_ms": self.scan_from_ms,
                "created_time": self.created_time, "last_update_time": self.last_update_time}


@dataclass(frozen=True)
class Finished:
    """A claimed trace's outcome: ``SCORED`` or ``SKIPPED``, and the judge calls it cost."""

    trace_id: str
    status: str = SCORED
    judge_calls: int = 0
    detail: str | None = field(default=None, compare=False)


def check_registration(scorer: OnlineScorer) -> OnlineScorer:
    """``scorer`` if every field is valid, else ``InvalidInputError`` naming the field."""
    name = scorer.name
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH \
            or not _NAME_RE.match(name):
        raise InvalidInputError(f"an online scorer name is 1 to {NAME_LENGTH} letters, "
                                f"digits, spaces or _ . - /, got {name!r}")
    rate = scorer.sample_rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) \
            or not 0.0 < rate <= 1.0:
        raise InvalidInputError(f"sample_rate must be a number in (0, 1], got {rate!r}")
    delay = scorer.delay_s
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) \
            or not math.isfinite(delay) or delay < 0:
        raise InvalidInputError(f"delay_s must be a number of seconds >= 0, got {delay!r}")
    cap = scorer.max_judge_calls_per_hour
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise InvalidInputError(f"max_judge_calls_per_hour must be a positive integer or "
                                f"None (no cap), got {cap!r}")
    if scorer.filter_string is not None and not isinstance(scorer.filter_string, str):
        raise InvalidInputError("filter_string must be a string")
    if not isinstance(scorer.spec, dict) or not scorer.spec.get("kind"):
        raise InvalidInputError("an online scorer needs a spec with a 'kind'")
    return replace(scorer, name=name.strip(), sample_rate=float(rate), delay_s=float(delay),
                   filter_string=(scorer.filter_string or "").strip() or None)


def new_registration(experiment_id: str, name: str, spec: dict[str, Any], *,
                     sample_rate: float = 1.0, filter_string: str | None = None,
                     delay_s: float = DEFAULT_DELAY_S,
                     max_judge_calls_per_hour: int | None = None,
                     scan_from_ms: int | None = None) -> OnlineScorer:
    """A checked new registration; its scan starts now unless ``scan_from_ms`` says."""
    created = now_ms()
    return check_registration(OnlineScorer(
        registration_id="osc-" + uuid.uuid4().hex, experiment_id=str(experiment_id),
        name=name, spec=dict(spec), sample_rate=sample_rate, filter_string=filter_string,
        delay_s=delay_s, max_judge_calls_per_hour=max_judge_calls_per_hour,
        scan_from_ms=created if scan_from_ms is None else int(scan_from_ms),
        created_time=created, last_update_time=created))


@runtime_checkable
class OnlineScorerStore(Protocol):
    """Where registrations and checkpoints are kept (the tracking store's database)."""

    def create_online_scorer(self, scorer: OnlineScorer) -> OnlineScorer:
        """Store a new registration; ``InvalidInputError`` if its experiment has that name."""
        ...

    def get_online_scorer(self, experiment_id: str, name: str) -> OnlineScorer:
        """The registration named ``name`` in the experiment; ``NotFoundError`` otherwise."""
        ...

    def list_online_scorers(self, experiment_id: str | None = None) -> list[OnlineScorer]:
        """Registrations (of one experiment, or all), by experiment then name."""
        ...

    def save_online_scorer(self, scorer: OnlineScorer) -> OnlineScorer:
        """Replace a registration's fields (its scan position is kept: ``advance_scan``)."""
        ...

    def delete_online_scorer(self, registration_id: str) -> None:
        """Delete a registration and its checkpoints (its assessments stay on the traces)."""
        ...

    def advance_scan(self, registration_id: str, scan_from_ms: int) -> None:
        """Move the scan position forward to ``scan_from_ms`` (never backward)."""
        ...

    def claim_traces(self, registration_id: str, version: int, trace_ids: Sequence[str], *,
                     worker_id: str, now_ms: int) -> list[str]:
        """Claim these traces; returns those this call won (a trace is claimed once)."""
        ...

    def take_over_stale(self, registration_id: str, version: int, *, worker_id: str,
                        now_ms: int, lease_ms: int, limit: int) -> list[str]:
        """Claims older than ``lease_ms`` (their worker is gone), now this worker's."""
        ...

    def finish_claims(self, registration_id: str, version: int,
                      finished: Sequence[Finished], *, worker_id: str, now_ms: int) -> None:
        """Mark this worker's claims done (scored or skipped) with their judge calls."""
        ...

    def release_claims(self, registration_id: str, version: int, trace_ids: Sequence[str],
                       *, worker_id: str) -> None:
        """Give back unfinished claims of this worker: any worker's next pass takes them
        over (as if their lease had run out), to score them then."""
        ...

    def judge_calls_since(self, registration_id: str, since_ms: int) -> int:
        """Judge calls of the registration's claims made at or after ``since_ms`` (a claim
        still in progress counts as one)."""
        ...

    def checkpoint_counts(self, registration_id: str) -> dict[str, int]:
        """How many traces are claimed, scored and skipped (all versions)."""
        ...

    def close(self) -> None:
        ...


@dataclass
class _Checkpoint:
    status: str
    worker_id: str
    claimed_time: int
    done_time: int | None = None
    judge_calls: int | None = None


class InMemoryOnlineScorerStore:
    """Registrations of a ``memory://`` store or a test: this process only."""

    def __init__(self) -> None:
        self._scorers: dict[str, OnlineScorer] = {}
        self._checkpoints: dict[tuple[str, int, str], _Checkpoint] = {}
        self._lock = threading.Lock()

    def _get(self, registration_id: str) -> OnlineScorer:
        found = self._scorers.get(registration_id)
        if found is None:
            raise NotFoundError(f"no online scorer with id {registration_id!r}")
        return found

    def create_online_scorer(self, scorer: OnlineScorer) -> OnlineScorer:
        scorer = check_registration(scorer)
        with self._lock:
            if any(s.experiment_id == scorer.experiment_id and s.name == scorer.name
                   for s in self._scorers.values()):
                raise InvalidInputError(f"experiment {scorer.experiment_id} already has an "
                                        f"online scorer named {scorer.name!r}")
            self._scorers[scorer.registration_id] = scorer
        return scorer

    def get_online_scorer(self, experiment_id: str, name: str) -> OnlineScorer:
        with self._lock:
            for found in self._scorers.values():
                if found.experiment_id == str(experiment_id) and found.name == name:
                    return found
        raise NotFoundError(f"no online scorer named {name!r} in experiment {experiment_id}")

    def list_online_scorers(self, experiment_id: str | None = None) -> list[OnlineScorer]:
        with self._lock:
            found = [s for s in self._scorers.values()
                     if experiment_id is None or s.experiment_id == str(experiment_id)]
        return sorted(found, key=lambda s: (len(s.experiment_id), s.experiment_id, s.name))

    def save_online_scorer(self, scorer: OnlineScorer) -> OnlineScorer:
        scorer = check_registration(scorer)
        with self._lock:
            current = self._get(scorer.registration_id)
            if any(s.experiment_id == scorer.experiment_id and s.name == scorer.name
                   and s.registration_id != scorer.registration_id
                   for s in self._scorers.values()):
                raise InvalidInputError(f"experiment {scorer.experiment_id} already has an "
                                        f"online scorer named {scorer.name!r}")
            scorer = replace(scorer, scan_from_ms=current.scan_from_ms)
            self._scorers[scorer.registration_id] = scorer
        return scorer

    def delete_online_scorer(self, registration_id: str) -> None:
        with self._lock:
            self._get(registration_id)
            del self._scorers[registration_id]
            for key in [k for k in self._checkpoints if k[0] == registration_id]:
                del self._checkpoints[key]

    def advance_scan(self, registration_id: str, scan_from_ms: int) -> None:
        with self._lock:
            current = self._scorers.get(registration_id)
            if current is not None and current.scan_from_ms < scan_from_ms:
                self._scorers[registration_id] = replace(current, scan_from_ms=scan_from_ms)

    def claim_traces(self, registration_id: str, version: int, trace_ids: Sequence[str], *,
                     worker_id: str, now_ms: int) -> list[str]:
        won = []
        with self._lock:
            for trace_id in dict.fromkeys(trace_ids):
                key = (registration_id, version, trace_id)
                if key not in self._checkpoints:
                    self._checkpoints[key] = _Checkpoint(CLAIMED, worker_id, now_ms)
                    won.append(trace_id)
        return won

    def take_over_stale(self, registration_id: str, version: int, *, worker_id: str,
                        now_ms: int, lease_ms: int, limit: int) -> list[str]:
        taken = []
        with self._lock:
            for (reg, ver, trace_id), point in self._checkpoints.items():
                if len(taken) >= limit:
                    break
                if (reg, ver) == (registration_id, version) and point.status == CLAIMED \
                        and point.claimed_time < now_ms - lease_ms:
                    point.worker_id, point.claimed_time = worker_id, now_ms
                    taken.append(trace_id)
        return taken

    def finish_claims(self, registration_id: str, version: int,
                      finished: Sequence[Finished], *, worker_id: str, now_ms: int) -> None:
        with self._lock:
            for item in finished:
                point = self._checkpoints.get((registration_id, version, item.trace_id))
                if point is not None and point.status == CLAIMED \
                        and point.worker_id == worker_id:
                    point.status, point.done_time = item.status, now_ms
                    point.judge_calls = item.judge_calls

    def release_claims(self, registration_id: str, version: int, trace_ids: Sequence[str],
                       *, worker_id: str) -> None:
        with self._lock:
            for trace_id in trace_ids:
                point = self._checkpoints.get((registration_id, version, trace_id))
                if point is not None and point.status == CLAIMED \
                        and point.worker_id == worker_id:
                    point.worker_id, point.claimed_time = "", 0  # any worker's to take over

    def judge_calls_since(self, registration_id: str, since_ms: int) -> int:
        with self._lock:
            return sum(1 if p.judge_calls is None else p.judge_calls
                       for (reg, _, _), p in self._checkpoints.items()
                       if reg == registration_id and p.claimed_time >= since_ms)

    def checkpoint_counts(self, registration_id: str) -> dict[str, int]:
        counts = {CLAIMED: 0, SCORED: 0, SKIPPED: 0}
        with self._lock:
            for (reg, _, _), point in self._checkpoints.items():
                if reg == registration_id:
                    counts[point.status] = counts.get(point.status, 0) + 1
        return counts

    def close(self) -> None:
        pass


def changed(current: OnlineScorer, changes: Mapping[str, Any]) -> OnlineScorer:
    """``current`` with ``changes`` applied; a different spec is a new version."""
    allowed = {"spec", "sample_rate", "filter_string", "delay_s", "max_judge_calls_per_hour",
               "active", "name"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInputError(f"cannot change {', '.join(unknown)} of an online scorer; "
                                f"change any of {', '.join(sorted(allowed))}")
    updated = replace(current, **dict(changes), last_update_time=now_ms())
    if updated.spec != current.spec:
        updated = replace(updated, version=current.version + 1)
    return check_registration(updated)


_MEMORY_STORES: dict[str, InMemoryOnlineScorerStore] = {}
_MEMORY_LOCK = threading.Lock()


def open_online_scorer_store(uri: str) -> OnlineScorerStore:
    """The online scorer store of the tracking store at ``uri`` (same database)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "memory":
        with _MEMORY_LOCK:  # one per memory URI, as the trace store is, for this process
            return _MEMORY_STORES.setdefault(uri, InMemoryOnlineScorerStore())
    if scheme in ("sqlite", "postgresql", "postgres"):
        from spanscope.store.sql.online_scorers import SqlOnlineScorerStore

        return SqlOnlineScorerStore(uri)
    raise InvalidUriError(
        f"online scorers live in the tracking store's own database; {uri!r} is not one "
        "(use the sqlite:/// or postgresql:// URI the server runs on, or the server's "
        "REST API /api/scorers)")
