"""Import: traces from export files (or any iterable of ``Trace``) into a store, idempotently.

Traces are written in batches with ``log_traces``, whose upsert makes a second import of
the same traces change nothing: a known trace keeps its place, its spans are replaced by
span id with equal ones, its tags and metadata merge with equal values, and assessments
whose id is already stored are skipped. The report says how many traces were new and how
many were already there (a ``SqlStore`` counts them in the batch's own transaction,
``log_traces_counted``; other stores are asked with a search first).

Speed: files are read by ``TraceFile``, whose spans in the form an export writes load
without being rebuilt (``entities/canonical_trace.py``); ``import_files`` reads the next
batch in a thread while the store writes this one (SQLite and psycopg release the GIL
while the database works); each batch is written in trace id order (each index of the
store in one pass) with a 64 MiB SQLite page cache (``CACHE_MIB``).

Which experiment a trace lands in: the ``experiment_id`` given; else the experiment
named as in the file (found by name, created if missing), so ids may differ between
stores; else the trace's own experiment id, which must exist in the target store.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Protocol

from spanscope.entities import Trace
from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.lifecycle.formats import sniff_format
from spanscope.lifecycle.json_files import open_text, read_json_document, read_jsonl
from spanscope.lifecycle.read_ahead import read_ahead as ahead
from spanscope.query import Attribute, AttributeName, CompareAs, Comparison, Op, to_text
from spanscope.store.base import ExperimentStore, TraceStore

__all__ = ["BATCH_SIZE", "ImportReport", "ImportTarget", "TraceFile", "import_files",
           "import_traces", "resolve_experiment"]

BATCH_SIZE = 2_000  # traces per transaction: fewer commits, and memory for one batch
CACHE_MIB = 64  # SQLite's page cache while importing (SqlStore.log_traces_counted)


class ImportTarget(TraceStore, ExperimentStore, Protocol):
    """What an import writes to: traces, and experiments found or created by name."""


@dataclass
class ImportReport:
    """What an import did. ``new + existing == traces``; a repeated import is all
    ``existing`` and changes nothing."""

    traces: int = 0
    new: int = 0
    existing: int = 0
    batches: int = 0
    files: list[str] = field(default_factory=list)
    experiments_created: list[str] = field(default_factory=list)  # names
    seconds: float = 0.0

    @property
    def traces_per_second(self) -> float:
        return self.traces / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        created = (f"; created experiment{'s' if len(self.experiments_created) != 1 else ''} "
                   + ", ".join(repr(n) for n in self.experiments_created)
                   if self.experiments_created else "")
        return (f"Imported {self.traces:,} trace{'s' if self.traces != 1 else ''} "
                f"({self.new:,} new, {self.existing:,} already stored) in "
                f"{self.seconds:.1f} s{created}")


def resolve_experiment(store: ExperimentStore, name_or_id: str) -> str:
    """The id of the experiment ``name_or_id`` names: an existing id, else a name (the
    experiment is created if no experiment has it)."""
    return _resolve(store, name_or_id, [])


def _resolve(store: ExperimentStore, name_or_id: str, created: list[str]) -> str:
    text = str(name_or_id).strip()
    if not text:
        raise InvalidInputError("experiment must be a name or an id, got an empty string")
    if text.isdigit():
        try:
            return store.get_experiment(text).experiment_id
        except NotFoundError:
            pass
    return _find_or_create(store, text, created)


def _find_or_create(store: ExperimentStore, name: str, created: list[str]) -> str:
    found = store.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        experiment_id = store.create_experiment(name)
    except InvalidInputError:  # created meanwhile by another process
        found = store.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
    created.append(name)
    return experiment_id


class _Experiments:
    """Where each trace goes (the rule in the module docstring), each answer looked up once."""

    def __init__(self, store: ImportTarget, experiment_id: str | None,
                 names: Mapping[str, str], created: list[str]) -> None:
        self._store = store
        self._fixed = None if experiment_id is None else store.get_experiment(
            str(experiment_id)).experiment_id
        self._names = names
        self._by_name: dict[str, str] = {}
        self._checked: set[str] = set()
        self._created = created

    def target(self, trace: Trace) -> str:
        if self._fixed is not None:
            return self._fixed
        source = trace.info.experiment_id
        name = self._names.get(source)
        if name is not None:
            if name not in self._by_name:
                self._by_name[name] = _find_or_create(self._store, name, self._created)
            return self._by_name[name]
        if source not in self._checked:
            try:
                self._store.get_experiment(source)
            except NotFoundError:
                raise NotFoundError(
                    f"experiment {source!r} of trace {trace.info.trace_id!r} does not exist "
                    "in the target store and the file does not name it; import into an "
                    "experiment of your choice (--experiment NAME, experiment_id=)") from None
            self._checked.add(source)
        return source


def import_traces(
    store: ImportTarget,
    traces: Iterable[Trace],
    *,
    experiment_id: str | None = None,
    experiment_names: Mapping[str, str] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    read_ahead: bool = False,
) -> ImportReport:
    """Write ``traces`` into ``store`` in batches of ``batch_size``, idempotently.

    ``experiment_id`` puts every trace there (``NotFoundError`` if it does not exist);
    otherwise ``experiment_names`` maps a trace's ``info.experiment_id`` to the name of
    the experiment to find or create; otherwise the trace's experiment id must exist. The
    traces are not changed (a trace going elsewhere is copied with the new id).
    ``traces`` is consumed lazily, so a generator of a million traces needs memory for one
    batch. ``progress(n)`` is called with the number of traces imported so far after each
    batch. A batch is one transaction: if one fails, the batches before it stay imported
    and importing again completes the rest. ``read_ahead`` reads the next batch in a
    thread while this one is written (``traces`` must not mind being iterated there).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    started = time.perf_counter()
    report = ImportReport()
    # Not ``experiment_names or {}``: a TraceFile's mapping is empty until it is read.
    names = {} if experiment_names is None else experiment_names
    where = _Experiments(store, experiment_id, names, report.experiments_created)
    counted = getattr(store, "log_traces_counted", None)  # SqlStore: one transaction
    batches = _batches(traces, batch_size)
    # One batch waits while one is written and the next is read: at most three alive.
    for batch in (ahead(batches, depth=1, name="spanscope-import-reader") if read_ahead
                  else batches):
        # In id order, each index of the store is written in one pass over its pages.
        placed = sorted((_placed(trace, where.target(trace)) for trace in batch),
                        key=_trace_id)
        if counted is not None:
            existing = counted(placed, cache_mib=CACHE_MIB)
        else:
            existing = _stored_count(store, [t.info.trace_id for t in placed])
            store.log_traces(placed)
        report.traces += len(placed)
        report.existing += existing
        report.new += len(placed) - existing
        report.batches += 1
        if progress is not None:
            progress(report.traces)
    report.seconds = time.perf_counter() - started
    return report


def _batches(traces: Iterable[Trace], size: int) -> Iterator[list[Trace]]:
    iterator = iter(traces)
    while batch := list(islice(iterator, size)):
        yield batch


def _trace_id(trace: Trace) -> str:
    return trace.info.trace_id


def _placed(trace: Trace, experiment_id: str) -> Trace:
    if trace.info.experiment_id == experiment_id:
        return trace
    return Trace(dataclasses.replace(trace.info, experiment_id=experiment_id), trace.data)


def _stored_count(store: TraceStore, trace_ids: Sequence[str]) -> int:
    """How many of these distinct ids the store already holds (one query)."""
    ids = tuple(dict.fromkeys(trace_ids))
    condition = Comparison(Attribute(AttributeName.TRACE_ID), Op.IN, ids, CompareAs.TEXT)
    return len(store.search_trace_ids(filter_string=to_text(condition)))


class TraceFile:
    """The traces of one export file, read lazily; ``experiment_names`` fills as it reads.

    ``experiment_names`` maps the experiment ids written in the file to the names written
    beside them (``import_traces(..., experiment_names=file.experiment_names)``).
    ``total`` is the number of traces when it is cheap to know beforehand (Parquet's
    footer, JSONL's lines), else None.
    """

    def __init__(self, path: str | os.PathLike[str], format: str | None = None, *,
                 read_names: bool = True) -> None:
        self.path = Path(path)
        self.read_names = read_names  # False: names are not needed (nor checked)
        if not self.path.is_file():
            raise InvalidInputError(f"no such file: {str(self.path)!r}")
        self.format = sniff_format(self.path, format)
        self.experiment_names: dict[str, str] = {}

    @property
    def total(self) -> int | None:
        if self.format == "parquet":
            from spanscope.lifecycle.parquet_io import parquet_rows

            return parquet_rows(self.path)
        if self.format == "jsonl":
            with open_text(self.path, "r") as lines:
                return sum(1 for line in lines if line.strip())
        return None

    def __iter__(self) -> Iterator[Trace]:
        for trace, name in self._pairs():
            if name is not None and self.read_names:
                source = trace.info.experiment_id
                known = self.experiment_names.setdefault(source, name)
                if known != name:
                    raise InvalidInputError(
                        f"{self.path}: experiment id {source!r} is named both {known!r} and "
                        f"{name!r} (a file joined from two stores?); import it into one "
                        "experiment with --experiment")
            yield trace

    def _pairs(self) -> Iterator[tuple[Trace, str | None]]:
        name = str(self.path)
        if self.format == "parquet":
            from spanscope.lifecycle.parquet_io import read_parquet

            yield from read_parquet(self.path, name)
            return
        try:
            with open_text(self.path, "r") as text:
                reader = read_jsonl if self.format == "jsonl" else read_json_document
                yield from reader(text, name)
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{name}: not UTF-8 text ({exc.reason}); is it a "
                                    f"{self.format} file?") from None
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile, a truncated .gz
            raise InvalidInputError(f"{name}: cannot be read ({exc})") from None


def import_files(
    store: ImportTarget,
    paths: Sequence[str | os.PathLike[str]],
    *,
    experiment: str | None = None,
    format: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> ImportReport:
    """Import export files one after another; returns the report of them all.

    ``experiment`` (a name or an id, see ``resolve_experiment``) puts every trace there;
    by default each trace goes to the experiment named in the file. ``format`` overrides
    what the extension (or the content) says. ``progress(path, done, total)`` follows
    each file (``total`` None when unknown). Every file is checked to exist first.
    """
    files = [TraceFile(path, format, read_names=experiment is None) for path in paths]
    report = ImportReport()
    started = time.perf_counter()
    target = None if experiment is None else _resolve(store, experiment,
                                                       report.experiments_created)
    for file in files:
        total = file.total if progress is not None else None
        on_batch = None if progress is None else (
            lambda done, file=file, total=total: progress(str(file.path), done, total))
        if progress is not None:
            progress(str(file.path), 0, total)
        part = import_traces(store, file, experiment_id=target,
                             experiment_names=file.experiment_names, batch_size=batch_size,
                             progress=on_batch, read_ahead=True)
        report.files.append(str(file.path))
        report.traces += part.traces
        report.new += part.new
        report.existing += part.existing
        report.batches += part.batches
        report.experiments_created += part.experiments_created
    report.seconds = time.perf_counter() - started
    return report
