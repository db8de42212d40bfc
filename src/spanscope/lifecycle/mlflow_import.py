"""Moving from MLflow: experiments, traces and evaluation datasets into a Spanscope store.

``import_mlflow(source_uri, store)`` reads an MLflow 3 store (``mlflow_source``) and writes:

- each experiment into the Spanscope experiment of the same name (created if missing);
- each trace, with its spans, tags, metadata and assessments, under its MLflow id. Trace
  JSON is the format both speak, so a trace is mapped by validating MLflow's JSON
  (``load_trace_dict``) and changing only what names MLflow's storage (the experiment id,
  the ``mlflow.artifactLocation`` and ``mlflow.trace.spansLocation`` tags);
- each evaluation dataset under its name, records merged by their inputs.

What cannot be mapped is counted with a few examples in the ``ImportReport``: issue
references (an MLflow 3.17 assessment kind Spanscope does not have), traces whose spans
could not be read, traces that are not valid trace JSON, experiment tags, and what the
store holds beyond traces and datasets (runs, models, prompts, scorers).

Resuming: traces are read per experiment in ``(request time, trace id)`` order and written
in batches (``write_traces``, one transaction each); after each batch the last trace's
position is saved in a small JSON state file (``ImportState``). A run that stops is run
again and continues after the last saved position. Writes are upserts keyed by trace and
assessment id, so a batch written just before a stop and written again is not duplicated.
Run again after it finished, it imports only traces added to MLflow since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities import Trace
from spanscope.entities.canonical_trace import load_canonical
from spanscope.entities.dataset import DatasetRecord, RecordUpdate
from spanscope.entities.trace_json import load_trace_dict
from spanscope.exceptions import NotFoundError, TraceJsonError
from spanscope.lifecycle.mlflow_source import (
    ARTIFACT_LOCATION_TAG,
    SPANS_LOCATION_TAG,
    Cursor,
    MlflowDataset,
    MlflowExperiment,
    MlflowSource,
    SourceTrace,
    open_source,
)
from spanscope.store import Store

__all__ = ["ImportReport", "ImportState", "Unmapped", "import_mlflow", "map_trace",
           "write_traces"]

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
EXAMPLES = 3  # examples kept per kind of thing not mapped
STORAGE_TAGS = (ARTIFACT_LOCATION_TAG, SPANS_LOCATION_TAG)  # where MLflow kept the trace
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class Unmapped:
    """One kind of thing that was not brought across: how many, and a few examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str, count: int = 1) -> None:
        self.count += count
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do) and what it could not map."""

    source: str
    target: str
    dry_run: bool = False
    experiments: dict[str, str] = field(default_factory=dict)  # MLflow name -> Spanscope id
    traces: int = 0
    spans: int = 0
    assessments: int = 0
    traces_resumed_after: dict[str, str] = field(default_factory=dict)  # name -> trace id
    datasets: int = 0
    records_inserted: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    unmapped: dict[str, Unmapped] = field(default_factory=dict)
    not_imported: dict[str, int] = field(default_factory=dict)

    def skip(self, kind: str, example: str, count: int = 1) -> None:
        self.unmapped.setdefault(kind, Unmapped()).add(example, count)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "dry_run": self.dry_run,
                "experiments": dict(self.experiments), "traces": self.traces,
                "spans": self.spans, "assessments": self.assessments,
                "traces_resumed_after": dict(self.traces_resumed_after),
                "datasets": self.datasets, "records_inserted": self.records_inserted,
                "records_updated": self.records_updated,
                "records_unchanged": self.records_unchanged,
                "unmapped": {k: {"count": v.count, "examples": list(v.examples)}
                             for k, v in self.unmapped.items()},
                "not_imported": dict(self.not_imported)}


class ImportState:
    """The resume cursor of one source-to-target import: per MLflow experiment id, the
    last trace written. A JSON file replaced atomically after every batch."""

    def __init__(self, path: pathlib.Path, source: str, target: str) -> None:
        self.path = path
        self._data: dict[str, Any] = {"source": _mask(source), "target": _mask(target),
                                      "experiments": {}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self._data["experiments"] = dict(loaded.get("experiments") or {})
            except (OSError, ValueError, AttributeError):
                logger.warning("resume state %s is unreadable; starting from the beginning",
                               path)

    @staticmethod
    def default_path(source: str, target: str) -> pathlib.Path:
        """``$SPANSCOPE_IMPORT_STATE_DIR`` or ``~/.cache/spanscope/import-mlflow``, one
        file per (source, target) pair."""
        root = os.environ.get("SPANSCOPE_IMPORT_STATE_DIR")
        folder = (pathlib.Path(root) if root else
                  pathlib.Path.home() / ".cache" / "spanscope" / "import-mlflow")
        key = hashlib.sha256(f"{source}\n{target}".encode()).hexdigest()[:16]
        return folder / f"{key}.json"

    def cursor(self, experiment_id: str) -> Cursor | None:
        found = self._data["experiments"].get(experiment_id)
        return None if found is None else Cursor.from_dict(found)

    def advance(self, experiment_id: str, cursor: Cursor) -> None:
        self._data["experiments"][experiment_id] = cursor.to_dict()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".import-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self._data, out, indent=1)
        os.replace(tmp, self.path)

    def forget(self) -> None:
        self._data["experiments"] = {}
        self.path.unlink(missing_ok=True)


def _mask(uri: str) -> str:
    from spanscope.store.sql.engine import mask_uri

    return mask_uri(uri)


def write_traces(store: Store, traces: Sequence[Trace]) -> None:
    """Write one batch in one transaction; a trace already there is upserted, assessments
    already there (same id) are kept, so writing a batch twice changes nothing."""
    store.log_traces(traces)


def map_trace(source: SourceTrace, experiment_id: str, report: ImportReport) -> Trace | None:
    """The Spanscope trace for an MLflow trace (None if it is not trace JSON), in
    ``experiment_id``; what cannot come across is noted in ``report``."""
    info = dict(source.data.get("info") or {})
    trace_id = str(info.get("trace_id") or "?")
    kept = []
    for item in info.get("assessments") or []:
        if isinstance(item, dict) and ("feedback" in item or "expectation" in item):
            kept.append(item)
            continue
        kind = next((k for k in ("issue",) if isinstance(item, dict) and k in item), "unknown")
        name = item.get("assessment_name") if isinstance(item, dict) else None
        label = (item.get(kind) or {}).get("issue_name") if kind == "issue" else None
        report.skip(f"{kind} assessments", f"{trace_id}: {label or name}")
    info["assessments"] = kept
    info["tags"] = {k: v for k, v in (info.get("tags") or {}).items() if k not in STORAGE_TAGS}
    data = {"info": info, "data": source.data.get("data") or {}}
    try:  # MLflow's span JSON loads without rebuilding each span (canonical_trace.py)
        trace = load_canonical(data) or load_trace_dict(data)
    except TraceJsonError as exc:
        report.skip("traces that are not valid trace JSON", f"{trace_id}: {exc}")
        return None
    trace.info.experiment_id = experiment_id
    if source.spans_missing is not None:
        report.skip("traces without span data (imported without spans)",
                    f"{trace_id}: {source.spans_missing}")
    return trace


def import_mlflow(source: str | MlflowSource, store: Store | None = None, *,
                  experiments: Sequence[str] | None = None, dry_run: bool = False,
                  batch_size: int = DEFAULT_BATCH_SIZE,
                  state_path: str | os.PathLike[str] | None = None, restart: bool = False,
                  on_progress: Progress | None = None) -> ImportReport:
    """Bring an MLflow store's experiments, traces and evaluation datasets into ``store``.

    ``source`` is an MLflow tracking URI (``sqlite:///mlflow.db``, ``postgresql://…``, or
    a running server's ``http://host:port``) or an open ``MlflowSource``; ``store``
    defaults to the tracking store. ``experiments`` limits the import to those MLflow
    experiment names (or ids), and to the datasets linked to them. ``dry_run`` reads and
    maps everything and writes nothing. The import resumes from ``state_path`` (default
    ``ImportState.default_path``); ``restart`` forgets it first. ``on_progress(what,
    done, total)`` is called after every batch.
    """
    from spanscope.exceptions import InvalidInputError

    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    if store is None:
        from spanscope.tracking import get_store

        store = get_store()
    reader = open_source(source) if isinstance(source, str) else source
    try:
        return _Import(reader, store, dry_run=dry_run, batch_size=batch_size,
                       state_path=state_path, restart=restart,
                       on_progress=on_progress).run(experiments)
    finally:
        if isinstance(source, str):
            reader.close()


class _Import:
    """One import run: the source, the target and the report being filled."""

    def __init__(self, reader: MlflowSource, store: Store, *, dry_run: bool, batch_size: int,
                 state_path: str | os.PathLike[str] | None, restart: bool,
                 on_progress: Progress | None) -> None:
        self.reader = reader
        self.store = store
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.on_progress = on_progress
        path = (pathlib.Path(state_path) if state_path is not None
                else ImportState.default_path(reader.uri, store.uri))
        self.state = ImportState(path, reader.uri, store.uri)
        if restart and not dry_run:
            self.state.forget()
        self.report = ImportReport(_mask(reader.uri), _mask(store.uri), dry_run=dry_run)

    def run(self, names: Sequence[str] | None) -> ImportReport:
        chosen = _choose(self.reader.experiments(), names)
        targets = {e.experiment_id: self._target_experiment(e) for e in chosen}
        for experiment in chosen:
            if experiment.tags:
                self.report.skip("experiment tags", f"{experiment.name}: "
                                 + ", ".join(sorted(experiment.tags))[:120],
                                 len(experiment.tags))
        cursors = {e.experiment_id: self.state.cursor(e.experiment_id) for e in chosen}
        total = sum(self.reader.count_traces(e.experiment_id, cursors[e.experiment_id])
                    for e in chosen)
        done = 0
        self._progress("Importing traces", done, total)
        for experiment in chosen:
            after = cursors[experiment.experiment_id]
            if after is not None:
                self.report.traces_resumed_after[experiment.name] = after.trace_id
            for page in self.reader.traces(experiment.experiment_id, after, self.batch_size):
                self._write_page(experiment, targets[experiment.experiment_id], page)
                done += len(page)
                self._progress("Importing traces", done, total)
        self._datasets(chosen, targets, names is not None)
        self.report.not_imported = self.reader.not_imported()
        return self.report

    def _progress(self, what: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(what, done, total)

    def _target_experiment(self, experiment: MlflowExperiment) -> str:
        found = self.store.get_experiment_by_name(experiment.name)
        if found is not None:
            target = found.experiment_id
        elif self.dry_run:
            target = f"(new: {experiment.name})"
        else:
            target = self.store.create_experiment(experiment.name)
        self.report.experiments[experiment.name] = target
        return target

    def _write_page(self, experiment: MlflowExperiment, target: str,
                    page: list[SourceTrace]) -> None:
        traces = [t for t in (map_trace(s, target, self.report) for s in page) if t is not None]
        if traces and not self.dry_run:
            write_traces(self.store, traces)
        if page and not self.dry_run:
            self.state.advance(experiment.experiment_id, page[-1].cursor)
        self.report.traces += len(traces)
        self.report.spans += sum(len(t.data.spans) for t in traces)
        self.report.assessments += sum(len(t.info.assessments) for t in traces)

    # --- evaluation datasets --------------------------------------------------------------
    def _datasets(self, chosen: list[MlflowExperiment], targets: dict[str, str],
                  only_linked: bool) -> None:
        wanted = {e.experiment_id for e in chosen}
        datasets = self.reader.datasets()
        for dataset in datasets:
            if only_linked and not wanted.intersection(dataset.experiment_ids):
                continue
            self._progress(f"Importing dataset {dataset.name}", 0, len(dataset.records))
            self._dataset(dataset, [targets[e] for e in dataset.experiment_ids
                                    if e in targets])
            self._progress(f"Importing dataset {dataset.name}", len(dataset.records),
                           len(dataset.records))

    def _dataset(self, dataset: MlflowDataset, experiment_ids: list[str]) -> None:
        updates = [u for u in (self._record(dataset, r) for r in dataset.records)
                   if u is not None]
        self.report.datasets += 1
        existing = self.store.get_dataset_by_name(dataset.name)
        if self.dry_run:
            self.report.records_inserted += len(updates)
            return
        if existing is None:
            existing = self.store.create_dataset(
                dataset.name, experiment_ids=[e for e in experiment_ids
                                              if not e.startswith("(")],
                tags=dataset.tags, created_by=dataset.created_by)
        elif dataset.tags:
            self.store.set_dataset_tags(existing.dataset_id, dataset.tags)
        stored = {r.input_hash: r for r in self.store.get_dataset_records(existing.dataset_id)}
        changes = [u for u in updates if not _unchanged(stored.get(u.input_hash), u)]
        self.report.records_unchanged += len(updates) - len(changes)
        if changes:
            result = self.store.merge_dataset_records(existing.dataset_id, changes)
            self.report.records_inserted += result.inserted
            self.report.records_updated += result.updated

    def _record(self, dataset: MlflowDataset, record: dict[str, Any]) -> RecordUpdate | None:
        inputs = record.get("inputs")
        if not isinstance(inputs, dict):
            self.report.skip("dataset records whose inputs are not an object",
                             f"{dataset.name}/{record.get('dataset_record_id')}")
            return None
        source = record.get("source") if isinstance(record.get("source"), dict) else None
        trace_id = None
        if source and source.get("source_type") == "TRACE":
            trace_id = (source.get("source_data") or {}).get("trace_id") or record.get(
                "source_id")
        tags = record.get("tags")
        return RecordUpdate(
            inputs=inputs, expectations=record.get("expectations") or None,
            outputs=record.get("outputs"),
            tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else None,
            source=source, source_trace_id=trace_id)


def _unchanged(stored: DatasetRecord | None, update: RecordUpdate) -> bool:
    return stored is not None and stored.merged(update, now=stored.last_update_time) is stored


def _choose(available: list[MlflowExperiment],
            names: Sequence[str] | None) -> list[MlflowExperiment]:
    """The experiments named (by name or id), in the order given; all of them if None."""
    if names is None:
        return available
    chosen = []
    for name in names:
        found = next((e for e in available if name in (e.name, e.experiment_id)), None)
        if found is None:
            listed = ", ".join(repr(e.name) for e in available) or "none"
            raise NotFoundError(f"no active MLflow experiment named {name!r} "
                                f"(the store has: {listed})")
        if found not in chosen:
            chosen.append(found)
    return chosen
