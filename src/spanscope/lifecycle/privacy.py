"""Privacy deletion: remove every trace of one user or one session, and say what went.

``delete_user_data(store, user_id=U)`` (or ``session_id=S``) finds the traces whose
``attributes.user_id`` (``session_id``) is the given id — the columns filled from the
``mlflow.trace.user`` / ``mlflow.trace.session`` metadata — in every experiment or in
those given, and deletes them with their spans, tags, metadata, assessments and
per-model usage rows. Dataset records that came from those traces are removed from every
version of their datasets (``dataset_records="remove"``, the default) or kept without
their link to the deleted trace (``"keep"``); the caller chooses, since a record may have
been curated into something the team wants to keep.

Traces of the user logged while the deletion runs are caught by searching again until
none is left (at most ``ROUNDS`` times). The deletion is logged (``deletion_log``, kind
``privacy``): who, when, the selector and the counts, with the id kept only as its
SHA-256 (``spanscope.store.retention.selector_digest``), so the log holds no row of the
user and an auditor who knows the id can still find the entry.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spanscope.exceptions import InvalidInputError
from spanscope.query import Attribute, AttributeName, CompareAs, Comparison, Op, to_text
from spanscope.store import trace_rules
from spanscope.store.base import TraceStore
from spanscope.store.retention import (
    RetentionStore,
    TraceContents,
    open_retention_store,
    selector_digest,
)

__all__ = ["DATASET_RECORD_CHOICES", "ROUNDS", "PrivacyReport", "delete_user_data",
           "privacy_filter"]

logger = logging.getLogger(__name__)

DATASET_RECORD_CHOICES = ("remove", "keep")
ROUNDS = 10  # searches for traces of the user that arrived during the deletion
ID_LENGTH = 256  # the traces.user_id / session_id columns


@dataclass
class PrivacyReport:
    """What a privacy deletion removed (or, dry, would remove)."""

    selector: dict[str, Any]  # the id as its SHA-256, and the scope
    dry_run: bool
    traces: int = 0
    spans: int = 0
    assessments: int = 0
    tags: int = 0
    metadata: int = 0
    dataset_records: int = 0
    dataset_records_action: str = "remove"  # removed, or kept and unlinked
    deletion_id: str | None = None  # the deletion_log entry (None when dry)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string, not {value!r}")
    if len(value) > ID_LENGTH:
        raise InvalidInputError(f"{what} is at most {ID_LENGTH} characters")
    return value


def privacy_filter(*, user_id: str | None = None, session_id: str | None = None) -> str:
    """The search filter of exactly one of ``user_id`` / ``session_id`` (quoted safely)."""
    if (user_id is None) == (session_id is None):
        raise InvalidInputError("give exactly one of user_id or session_id")
    name, value = ((AttributeName.USER_ID, _check_id(user_id, "user_id")) if user_id is not None
                   else (AttributeName.SESSION_ID, _check_id(session_id, "session_id")))
    return to_text(Comparison(Attribute(name), Op.EQ, value, CompareAs.TEXT))


def delete_user_data(store: TraceStore, *, user_id: str | None = None,
                     session_id: str | None = None,
                     experiment_ids: Sequence[str] | None = None,
                     dataset_records: str = "remove", dry_run: bool = False,
                     actor: str | None = None,
                     retention: RetentionStore | None = None) -> PrivacyReport:
    """Delete every trace of ``user_id`` (or ``session_id``) and report the counts.

    ``experiment_ids`` limits the scope (default: every experiment). ``dataset_records``
    is ``"remove"`` or ``"keep"`` (see the module doc). ``dry_run`` counts and deletes
    nothing, and logs nothing. ``actor`` is who asked, for the log.
    """
    filter_string = privacy_filter(user_id=user_id, session_id=session_id)
    if dataset_records not in DATASET_RECORD_CHOICES:
        raise InvalidInputError(f"dataset_records must be 'remove' or 'keep', not "
                                f"{dataset_records!r}")
    scope = trace_rules.check_experiment_ids(experiment_ids)
    selector: dict[str, Any] = {
        "user_id" if user_id is not None else "session_id":
            selector_digest(user_id if user_id is not None else str(session_id)),
        "experiment_ids": scope, "dataset_records": dataset_records}
    report = PrivacyReport(selector, dry_run, dataset_records_action=dataset_records)
    owned = retention is None
    side = open_retention_store(store) if retention is None else retention
    try:
        for _ in range(1 if dry_run else ROUNDS):
            ids = store.search_trace_ids(scope, filter_string=filter_string)
            if not ids:
                break
            _remove(store, side, ids, report)
        if not dry_run:
            entry = side.log_deletion("privacy", actor=actor, selector=selector,
                                      counts=_counts(report))
            report.deletion_id = entry.deletion_id
            logger.info("privacy deletion %s removed %d trace(s)", entry.deletion_id,
                        report.traces)
    finally:
        if owned:
            side.close()
    return report


def _remove(store: TraceStore, side: RetentionStore, ids: list[str],
            report: PrivacyReport) -> None:
    contents: TraceContents = side.trace_contents(ids)
    report.spans += contents.spans
    report.assessments += contents.assessments
    report.tags += contents.tags
    report.metadata += contents.metadata
    if report.dry_run:
        report.dataset_records += side.count_dataset_records(ids)
        report.traces += contents.traces
        return
    # Records first: a crash in between leaves traces to delete again, never a dangling link.
    if report.dataset_records_action == "remove":
        report.dataset_records += side.delete_dataset_records(ids)
    else:
        report.dataset_records += side.unlink_dataset_records(ids)
    report.traces += store.delete_trace_ids(ids)


def _counts(report: PrivacyReport) -> dict[str, int]:
    return {"traces": report.traces, "spans": report.spans, "assessments": report.assessments,
            "tags": report.tags, "metadata": report.metadata,
            "dataset_records": report.dataset_records}
