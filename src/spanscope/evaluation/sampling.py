"""``build_dataset_from_traces``: a diverse, reproducible sample of traces as a dataset.

Taking the newest N traces gives N near-identical successes. Instead:

1. **Candidates**: the traces matching ``filter_string`` (newest ``max_candidates``),
   read as summaries only (no spans).
2. **Strata**: each candidate gets a key from ``stratify_by``: ``"state"`` (OK, ERROR,
   …), ``"latency"`` (``slow`` when its duration is above the ``latency_quantile`` of
   the candidates' durations — the median by default — else ``fast``; ``unknown``
   without a duration), ``"tags.KEY"`` / ``"tag.KEY"`` and ``"metadata.KEY"`` (the
   value, or ``(none)``); names are read as the filter language reads them
   (``spanscope.query.parse_field``: aliases, backticked keys).
3. **Allocation**: ``max_records`` is shared across non-empty strata in proportion to
   their sizes by the largest-remainder method, then every stratum that got nothing gets
   one (taken from the stratum most above its exact share), so a rare stratum such as
   ERROR is represented. With fewer slots than strata, one each goes to a seeded random
   choice of strata.
4. **Picking**: within a stratum candidates are shuffled with ``random.Random(seed)``
   (after sorting by trace id, so the result depends on the seed, not the store's
   order). Full traces are read one at a time; a trace whose root inputs are not a dict
   is skipped, and with ``dedupe=True`` so is one whose inputs (canonical JSON) were
   already taken. Smaller strata pick first, so rare strata keep their distinct inputs.
   Slots a stratum cannot fill are re-shared among strata with candidates left.

Records carry their source trace id; expectations come from the traces' expectation
assessments. Same traces + same arguments = same dataset.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spanscope import tracking
from spanscope.entities import Trace, TraceInfo
from spanscope.entities.dataset import RecordUpdate, input_hash
from spanscope.exceptions import FilterError, InvalidInputError, NotFoundError
from spanscope.pending import flush_pending_traces
from spanscope.query import Attribute, AttributeName, Field, Metadata, Tag, parse_field

__all__ = ["SampleResult", "allocate", "build_dataset_from_traces", "describe_strata",
           "sample_traces", "stratum_keys"]

StratumKey = tuple[str, ...]
_PAGE = 500


@dataclass
class SampleResult:
    """What ``sample_traces`` chose and why."""

    records: list[RecordUpdate]
    trace_ids: list[str]
    strata: dict[StratumKey, int]  # candidates per stratum
    allocation: dict[StratumKey, int]  # planned records per stratum
    taken: dict[StratumKey, int]  # records actually taken per stratum
    latency_threshold_ms: float | None
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count


def _dimension(spec: str) -> tuple[str, str | None]:
    """``latency`` or one field as a filter names it (``state``, ``tags.KEY``, ...)."""
    text = str(spec).strip()
    if text.lower() in ("latency", "duration"):
        return "latency", None
    try:
        found: Field | None = parse_field(text, what="stratify_by")
    except FilterError:
        found = None
    if isinstance(found, Attribute) and found.name is AttributeName.STATE:
        return "state", None
    if isinstance(found, Attribute) and found.name is AttributeName.EXECUTION_DURATION:
        return "latency", None
    if isinstance(found, Tag):
        return "tag", found.key
    if isinstance(found, Metadata):
        return "metadata", found.key
    raise InvalidInputError(f"cannot stratify by {spec!r}: use 'state', 'latency', "
                            "'tags.KEY' or 'metadata.KEY'")


def latency_threshold(infos: Sequence[TraceInfo], quantile: float) -> float | None:
    """The ``quantile`` of the known durations (nearest rank); None if there are none."""
    durations = sorted(i.execution_duration for i in infos if i.execution_duration is not None)
    if not durations:
        return None
    rank = min(len(durations) - 1, max(0, math.ceil(quantile * len(durations)) - 1))
    return float(durations[rank])


def stratum_keys(infos: Sequence[TraceInfo], stratify_by: Sequence[str],
                 latency_quantile: float = 0.5) -> tuple[list[StratumKey], float | None]:
    """Each candidate's stratum key, and the latency threshold used (ms)."""
    dimensions = [_dimension(s) for s in stratify_by]
    threshold = (latency_threshold(infos, latency_quantile)
                 if any(kind == "latency" for kind, _ in dimensions) else None)
    keys = []
    for info in infos:
        parts = []
        for kind, key in dimensions:
            if kind == "state":
                parts.append(f"state={info.state}")
            elif kind == "latency":
                duration = info.execution_duration
                label = ("unknown" if duration is None or threshold is None
                         else "slow" if duration > threshold else "fast")
                parts.append(f"latency={label}")
            else:
                values = info.tags if kind == "tag" else info.trace_metadata
                value = values.get(str(key))
                parts.append(f"{kind}s.{key}={'(none)' if value is None else value}")
        keys.append(tuple(parts))
    return keys, threshold


def allocate(sizes: Mapping[StratumKey, int], total: int,
             rng: random.Random | None = None) -> dict[StratumKey, int]:
    """Share ``total`` slots across strata in proportion to ``sizes`` (see module doc)."""
    alloc = {key: 0 for key in sizes}
    nonempty = sorted(k for k, n in sizes.items() if n > 0)
    available = sum(sizes[k] for k in nonempty)
    if total <= 0 or not nonempty:
        return alloc
    if total >= available:
        return {key: max(0, sizes[key]) for key in sizes}
    if total < len(nonempty):
        chooser = rng or random.Random(0)
        for key in chooser.sample(nonempty, total):
            alloc[key] = 1
        return alloc
    exact = {k: total * sizes[k] / available for k in nonempty}
    for key in nonempty:
        alloc[key] = math.floor(exact[key])
    remaining = total - sum(alloc.values())
    by_remainder = sorted(nonempty, key=lambda k: (-(exact[k] - alloc[k]), -sizes[k], k))
    for key in by_remainder[:remaining]:
        alloc[key] += 1
    for key in nonempty:
        if alloc[key] == 0:
            donor = max((k for k in nonempty if alloc[k] > 1),
                        key=lambda k: (alloc[k] - exact[k], sizes[k], k))
            alloc[donor] -= 1
            alloc[key] = 1
    return alloc


def _record(trace: Trace) -> RecordUpdate | None:
    from spanscope.evaluation.dataset_records import record_updates

    try:
        return record_updates([trace])[0]
    except InvalidInputError:  # no root span, or root inputs that are not a dict
        return None


def sample_traces(
    candidates: Sequence[TraceInfo],
    fetch: Callable[[str], Trace],
    *,
    max_records: int = 100,
    stratify_by: Sequence[str] = ("state", "latency"),
    dedupe: bool = True,
    seed: int = 0,
    latency_quantile: float = 0.5,
) -> SampleResult:
    """Choose up to ``max_records`` traces among ``candidates`` (see the module doc).

    ``fetch(trace_id)`` returns the full trace (for its inputs, outputs, expectations).
    """
    if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
        raise InvalidInputError(f"max_records must be an integer >= 1, got {max_records!r}")
    if not 0 < latency_quantile < 1:
        raise InvalidInputError(f"latency_quantile must be between 0 and 1, got "
                                f"{latency_quantile!r}")
    if isinstance(stratify_by, str):
        stratify_by = [stratify_by]
    keys, threshold = stratum_keys(candidates, stratify_by, latency_quantile)
    members: dict[StratumKey, list[str]] = {}
    for info, key in zip(candidates, keys, strict=True):
        members.setdefault(key, []).append(info.trace_id)
    rng = random.Random(seed)
    queues: dict[StratumKey, list[str]] = {}
    for key in sorted(members):
        ids = sorted(set(members[key]))
        rng.shuffle(ids)
        queues[key] = ids
    strata = {key: len(ids) for key, ids in queues.items()}
    allocation = allocate(strata, max_records, rng)
    taken = {key: 0 for key in queues}
    chosen: list[tuple[str, RecordUpdate]] = []
    seen: set[str] = set()
    skipped: dict[str, int] = {}
    want = dict(allocation)
    while True:
        for key in sorted(queues, key=lambda k: (strata[k], k)):  # rare strata first
            queue = queues[key]
            while taken[key] < want[key] and queue:
                trace_id = queue.pop(0)
                try:
                    record = _record(fetch(trace_id))
                except NotFoundError:  # deleted meanwhile
                    record = None
                if record is None:
                    skipped["no dict inputs"] = skipped.get("no dict inputs", 0) + 1
                    continue
                identity = input_hash(record.inputs)
                if dedupe and identity in seen:
                    skipped["duplicate inputs"] = skipped.get("duplicate inputs", 0) + 1
                    continue
                seen.add(identity)
                chosen.append((trace_id, record))
                taken[key] += 1
        short = max_records - len(chosen)
        left = {key: len(queue) for key, queue in queues.items() if queue}
        if short <= 0 or not left:
            break
        extra = allocate(left, short, rng)
        for key, n in extra.items():
            want[key] += n
    return SampleResult(records=[r for _, r in chosen], trace_ids=[t for t, _ in chosen],
                        strata=strata, allocation=allocation, taken=taken,
                        latency_threshold_ms=threshold, skipped=skipped)


def _candidates(experiment_ids: Sequence[str], filter_string: str | None,
                max_candidates: int) -> list[TraceInfo]:
    store = tracking.get_store()
    infos: list[TraceInfo] = []
    token = None
    while len(infos) < max_candidates:
        page = store.search_traces(experiment_ids, filter_string=filter_string,
                                   max_results=min(_PAGE, max_candidates - len(infos)),
                                   page_token=token, include_spans=False)
        infos.extend(t.info for t in page)
        token = page.token
        if token is None:
            break
    return infos


def build_dataset_from_traces(
    name: str,
    filter_string: str | None = None,
    max_records: int = 100,
    stratify_by: Sequence[str] = ("state", "latency"),
    dedupe: bool = True,
    seed: int = 0,
    experiment_ids: Sequence[str] | str | None = None,
    *,
    latency_quantile: float = 0.5,
    max_candidates: int = 10_000,
    tags: Mapping[str, Any] | None = None,
) -> Any:
    """Sample a diverse set of traces into dataset ``name`` (one new version).

    The dataset is created if it does not exist (linked to the searched experiments),
    else the sample is merged into it. Sampling is stratified by ``stratify_by``
    (``"state"``, ``"latency"``, ``"tags.KEY"``, ``"metadata.KEY"``) as the module doc
    describes, deterministic for a given ``seed``. ``experiment_ids`` defaults to the
    active experiment. The result's ``last_sample`` is the ``SampleResult``.
    """
    from spanscope.evaluation.datasets import EvaluationDataset, create_dataset

    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [str(experiment_ids)]
    ids = ([tracking.get_experiment_id()] if experiment_ids is None
           else [str(e) for e in experiment_ids])
    if isinstance(max_candidates, bool) or not isinstance(max_candidates, int) \
            or max_candidates < 1:
        raise InvalidInputError(f"max_candidates must be an integer >= 1, got "
                                f"{max_candidates!r}")
    flush_pending_traces()
    store = tracking.get_store()
    candidates = _candidates(ids, filter_string, max_candidates)
    result = sample_traces(candidates, store.get_trace, max_records=max_records,
                           stratify_by=stratify_by, dedupe=dedupe, seed=seed,
                           latency_quantile=latency_quantile)
    existing = store.get_dataset_by_name(name) if isinstance(name, str) else None
    dataset = (EvaluationDataset(existing, store.uri) if existing is not None
               else create_dataset(name, experiment_id=ids, tags=tags))
    dataset.merge_records_from(result.records)
    dataset.last_sample = result
    return dataset


def describe_strata(result: SampleResult) -> list[dict[str, Any]]:
    """One row per stratum: key, candidates, planned and taken counts (for display)."""
    return [{"stratum": ", ".join(key) or "(all)", "candidates": result.strata[key],
             "planned": result.allocation.get(key, 0), "taken": result.taken.get(key, 0)}
            for key in sorted(result.strata)]
