"""Retention: per-experiment keep rules, and the pass that deletes what no rule keeps.

**What a rule says.** A ``RetentionRule`` (``spanscope.store.retention``) *keeps* the
traces of its experiment that

1. match its ``filter_string`` (the search language; no filter = every trace),
2. fall in its deterministic sample: ``sample_fraction_of(trace_id) < sample_fraction``
   (``spanscope.entities.sampling``; 1.0 = every trace, and the same traces on every
   pass and in every process), and
3. are younger than ``keep_ms``: ``request_time > now - keep_ms`` (None: forever).

**How rules combine.** A trace is kept while *any* rule of its experiment keeps it; a
trace no rule keeps is deleted. So a trace's retention is the longest ``keep_ms`` among
the rules whose filter and sample it is in, and a trace in no rule's filter and sample
is deleted on the next pass. An experiment with no rules is never touched. To keep
"everything for a while, then only some" add a catch-all rule (no filter) with the short
duration. The issue's example comes out as::

    keep attributes.status = 'ERROR'          for 90d
    keep attributes.status != 'ERROR', 10%    for 7d    (the other 90% are deleted)
    keep tags.keep = 'true'                   forever   (whatever else matches it)

**The pass.** ``apply_retention`` reads, per experiment, the traces not kept by any
unsampled rule (one filter: ``NOT (rule1 OR rule2 ...)``), oldest first in pages of
``PAGE`` through ``search_traces(include_spans=False)``; checks each page against every
rule (one ``search_trace_ids`` per filtered rule, restricted to the page's ids, and the
sample in Python); then deletes the page's doomed traces with ``delete_trace_ids`` in
chunks of ``DELETE_CHUNK`` (each its own short transaction) after unlinking the dataset
records that name them as their source. Readers and writers go on meanwhile; a trace logged
during a pass is judged by the next one if the pass has passed its time already. A
deletion is attributed to the rule that kept the trace longest before it expired, or to
"no rule" (``unmatched``), which is what ``--dry-run`` prints per rule. A pass that deleted
anything ends with ``RetentionStore.reclaim_space`` (PostgreSQL: a plain VACUUM of the
trace tables), so the freed space is reusable, and counted free against the capacity, at
once rather than whenever autovacuum gets to it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities.sampling import in_sample
from spanscope.exceptions import StoreError
from spanscope.query import Attribute, AttributeName, CompareAs, Comparison, Op, to_text
from spanscope.store.base import ExperimentStore, TraceStore
from spanscope.store.retention import RetentionRule, RetentionStore, open_retention_store

__all__ = ["DEFAULT_PASS_INTERVAL_S", "DELETE_CHUNK", "PAGE", "ExperimentRetention",
           "RetentionReport", "apply_retention", "candidate_filter", "is_kept", "retention_pass"]

logger = logging.getLogger(__name__)

PAGE = 500  # traces examined per step: one page read, a query per filtered rule
# Traces per deletion transaction. Deleting a trace rewrites index pages all over the file
# (its spans, tags and metadata are indexed by random ids), ~4 ms a trace on SQLite, so
# 100 hold the write lock ~0.4 s and writers get a turn between (bench/retention.py).
DELETE_CHUNK = 100


@dataclass
class ExperimentRetention:
    """What one pass did (or, dry, would do) to one experiment."""

    experiment_id: str
    rules: list[RetentionRule]
    examined: int = 0  # traces no unsampled rule keeps, checked one by one
    deleted: int = 0
    deleted_by_rule: dict[str, int] = field(default_factory=dict)  # rule id -> traces
    unmatched: int = 0  # deleted because no rule's filter and sample holds them
    dataset_records_unlinked: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rules"] = [rule.to_dict() for rule in self.rules]
        return data


@dataclass
class RetentionReport:
    """A retention pass over every experiment that has rules."""

    now_ms: int
    dry_run: bool
    experiments: list[ExperimentRetention] = field(default_factory=list)
    seconds: float = 0.0
    reclaim_seconds: float = 0.0  # of ``seconds``: making the freed space reusable

    @property
    def deleted(self) -> int:
        return sum(e.deleted for e in self.experiments)

    def to_dict(self) -> dict[str, Any]:
        return {"now_ms": self.now_ms, "dry_run": self.dry_run, "deleted": self.deleted,
                "seconds": round(self.seconds, 3),
                "reclaim_seconds": round(self.reclaim_seconds, 3),
                "experiments": [e.to_dict() for e in self.experiments]}


def _cut(rule: RetentionRule, now_ms: int) -> int | None:
    return None if rule.keep_ms is None else now_ms - rule.keep_ms


def is_kept(trace_id: str, request_time: int, matched: Sequence[RetentionRule],
            now_ms: int) -> bool:
    """Whether any of the rules whose filter ``matched`` the trace keeps it now."""
    for rule in matched:
        cut = _cut(rule, now_ms)
        if in_sample(trace_id, rule.sample_fraction) and (cut is None or request_time > cut):
            return True
    return False


def candidate_filter(rules: Sequence[RetentionRule], now_ms: int) -> tuple[bool, str | None]:
    """``(anything_to_do, filter)``: the traces no unsampled rule keeps now.

    ``(False, None)`` when an unsampled rule without filter keeps everything forever;
    ``(True, None)`` when every trace must be examined (all rules sample).
    """
    terms = []
    for rule in rules:
        if rule.sample_fraction < 1.0:
            continue
        parts = [f"({rule.filter_string})"] if rule.filter_string else []
        cut = _cut(rule, now_ms)
        if cut is not None:
            parts.append(f"attributes.timestamp_ms > {cut}")
        if not parts:
            return False, None
        terms.append(" AND ".join(parts))
    if not terms:
        return True, None
    return True, "NOT (" + " OR ".join(f"({term})" for term in terms) + ")"


def _matches(store: TraceStore, experiment_id: str, rule: RetentionRule,
             ids: list[str]) -> set[str]:
    """The ids (of one page) that the rule's filter matches."""
    if not rule.filter_string:
        return set(ids)
    within = to_text(Comparison(Attribute(AttributeName.TRACE_ID), Op.IN, tuple(ids),
                                CompareAs.TEXT))
    return set(store.search_trace_ids([experiment_id],
                                      filter_string=f"({rule.filter_string}) AND {within}"))


def _attribute(trace_id: str, matched: list[RetentionRule],
               outcome: ExperimentRetention) -> None:
    covering = [r for r in matched if in_sample(trace_id, r.sample_fraction)]
    if not covering:
        outcome.unmatched += 1
        return
    longest = max(covering, key=lambda r: r.keep_ms if r.keep_ms is not None else 2**63)
    outcome.deleted_by_rule[longest.rule_id] = outcome.deleted_by_rule.get(longest.rule_id,
                                                                           0) + 1


def _apply_to(store: TraceStore, retention: RetentionStore, experiment_id: str,
              rules: list[RetentionRule], now_ms: int, dry_run: bool) -> ExperimentRetention:
    outcome = ExperimentRetention(experiment_id, rules,
                                  deleted_by_rule={r.rule_id: 0 for r in rules})
    todo, candidates = candidate_filter(rules, now_ms)
    if not todo:
        return outcome
    token: str | None = None
    while True:
        page = store.search_traces([experiment_id], filter_string=candidates,
                                   order_by=["attributes.timestamp_ms ASC"], max_results=PAGE,
                                   page_token=token, include_spans=False)
        infos = [trace.info for trace in page]
        if infos:
            ids = [info.trace_id for info in infos]
            matched_by = {rule.rule_id: _matches(store, experiment_id, rule, ids)
                          for rule in rules}
            doomed = []
            for info in infos:
                matched = [r for r in rules if info.trace_id in matched_by[r.rule_id]]
                if not is_kept(info.trace_id, info.request_time, matched, now_ms):
                    doomed.append(info.trace_id)
                    _attribute(info.trace_id, matched, outcome)
            outcome.examined += len(infos)
            if doomed and dry_run:
                outcome.dataset_records_unlinked += retention.count_dataset_records(doomed)
                outcome.deleted += len(doomed)
            elif doomed:
                for start in range(0, len(doomed), DELETE_CHUNK):
                    chunk = doomed[start:start + DELETE_CHUNK]
                    outcome.dataset_records_unlinked += retention.unlink_dataset_records(chunk)
                    outcome.deleted += store.delete_trace_ids(chunk)
        token = page.token
        if not token:
            return outcome


def apply_retention(store: TraceStore, *, now_ms: int | None = None, dry_run: bool = False,
                    experiment_ids: Sequence[str] | None = None,
                    retention: RetentionStore | None = None,
                    actor: str | None = None) -> RetentionReport:
    """Delete, in every experiment with rules (or those given), what no rule keeps.

    ``now_ms`` is the time rules measure age from (default: now). ``dry_run`` deletes
    nothing and reports what would go, per rule. ``retention`` is the rule store (default:
    the one beside ``store``). Each experiment with deletions gets one ``deletion_log``
    entry (kind ``retention``, who: ``actor``). This is the retention pass of the
    server's worker and of ``spanscope retention apply``.
    """
    started = time.perf_counter()
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    report = RetentionReport(now, dry_run)
    owned = retention is None
    rules_store = open_retention_store(store) if retention is None else retention
    try:
        if experiment_ids is not None and isinstance(store, ExperimentStore):
            for experiment_id in experiment_ids:
                store.get_experiment(str(experiment_id))  # NotFoundError for a typo
        by_experiment: dict[str, list[RetentionRule]] = {}
        for rule in rules_store.list_rules():
            by_experiment.setdefault(rule.experiment_id, []).append(rule)
        wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}
        for experiment_id in sorted(by_experiment, key=int):
            if wanted is not None and experiment_id not in wanted:
                continue
            outcome = _apply_to(store, rules_store, experiment_id,
                                by_experiment[experiment_id], now, dry_run)
            report.experiments.append(outcome)
            if outcome.deleted and not dry_run:
                logger.info("retention deleted %d trace(s) of experiment %s", outcome.deleted,
                            experiment_id)
                rules_store.log_deletion(
                    "retention", actor=actor,
                    selector={"experiment_id": experiment_id, "now_ms": now,
                              "rule_ids": [r.rule_id for r in outcome.rules]},
                    counts={"traces": outcome.deleted, "unmatched": outcome.unmatched,
                            "dataset_records_unlinked": outcome.dataset_records_unlinked,
                            **{f"rule:{k}": v for k, v in outcome.deleted_by_rule.items()}})
        if report.deleted and not dry_run:
            reclaiming = time.perf_counter()
            try:
                rules_store.reclaim_space()
            except StoreError as exc:  # the deletion stands; autovacuum will get to it
                logger.warning("retention: making the freed space reusable failed: %s", exc)
            report.reclaim_seconds = time.perf_counter() - reclaiming
    finally:
        if owned:
            rules_store.close()
    report.seconds = time.perf_counter() - started
    return report


DEFAULT_PASS_INTERVAL_S = 300.0


def retention_pass(store: TraceStore, *, every_s: float = DEFAULT_PASS_INTERVAL_S,
                   after: Callable[[RetentionReport], object] | None = None,
                   ) -> Callable[[int], RetentionReport | None]:
    """``apply_retention`` as an entry of the monitoring worker's passes.

    The worker ticks every few seconds; a retention pass reads every rule's matches, so
    this entry runs it at most once per ``every_s`` (the first tick runs it) and returns
    None on the ticks it skips. ``after`` gets each report that deleted something, so a
    server can measure its storage again at once.
    """
    last_ms: list[int] = []

    def run(now_ms: int) -> RetentionReport | None:
        if last_ms and now_ms - last_ms[0] < every_s * 1000:
            return None
        last_ms[:] = [now_ms]
        report = apply_retention(store, now_ms=now_ms, actor="worker")
        if after is not None and report.deleted:
            after(report)
        return report

    return run

