"""Export: the traces a filter selects, with spans, tags, metadata and assessments, to a file.

The store is read a page at a time with keyset paging (``stored_trace_pages``: one
experiment after another, newest first), and each page is written before the next is
read, so memory stays flat however many traces there are (``bench/export_import.py``
measures it). No entity is built: a page holds each trace's info fields with its spans
and assessments as the JSON text the store holds (``store/stored.py``), which is copied
into the file as it is (SQL stores read a page in five set-based queries). The file is
written next to its final name and renamed at the end: an export that fails leaves no
half file. Each trace carries its experiment's name, so ``import_files`` can put it in the
experiment of the same name in another store. Formats: ``lifecycle/formats.py``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.lifecycle.formats import format_of, is_gzip
from spanscope.lifecycle.json_files import JsonTraceWriter, open_text
from spanscope.lifecycle.read_ahead import read_ahead
from spanscope.store.aggregates import Selection
from spanscope.store.base import AnalyticsStore, ExperimentStore, TraceStore
from spanscope.store.stored import StoredTrace, experiment_ids_of

__all__ = ["ExportReport", "ExportSource", "count_traces", "export_traces", "iter_trace_pages",
           "stream_export"]

PAGE_SIZE = 500


class ExportSource(TraceStore, ExperimentStore, Protocol):
    """What an export reads: traces as stored (``TraceMethods.stored_trace_pages``), and
    experiment names."""

    def stored_trace_pages(self, experiment_id: str, *, filter_string: str | None = None,
                           page_size: int = 500,
                           summary: bool = True) -> Iterator[list[StoredTrace]]: ...


_Named = tuple[StoredTrace, str | None]  # a trace and its experiment's name


class _Writer(Protocol):
    def write(self, items: Sequence[_Named]) -> None: ...

    def close(self) -> None: ...


@dataclass
class ExportReport:
    """What an export wrote: how many traces, from which experiments, how fast."""

    output: str
    format: str
    traces: int = 0
    experiments: dict[str, str | None] = field(default_factory=dict)  # id -> name
    seconds: float = 0.0

    @property
    def traces_per_second(self) -> float:
        return self.traces / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (f"Exported {self.traces:,} trace{'s' if self.traces != 1 else ''} from "
                f"{len(self.experiments)} experiment{'s' if len(self.experiments) != 1 else ''}"
                f" to {self.output} ({self.format}) in {self.seconds:.1f} s")


def count_traces(store: AnalyticsStore, experiment_ids: Sequence[str] | None = None,
                 filter_string: str | None = None) -> int:
    """How many traces an export of this selection will write (counted in the store)."""
    selection = Selection(None if experiment_ids is None else tuple(experiment_ids),
                          filter_string)
    rows = store.trace_stats(selection, quantiles=())
    return sum(row.traces for row in rows)


def iter_trace_pages(store: ExportSource, *, experiment_ids: Sequence[str] | None = None,
                     filter_string: str | None = None, page_size: int = PAGE_SIZE,
                     summary: bool = True) -> Iterator[list[StoredTrace]]:
    """Every trace of the selection as stored, a page at a time: experiment by experiment
    (None: every experiment), newest first in each; with the Parquet summary fields
    unless ``summary`` is false.

    One experiment at a time because the store's index on (experiment, request time,
    trace id) then yields each page in order; across experiments a page would sort every
    trace older than the last one read, each time (quadratic over a large store).
    """
    for experiment_id in experiment_ids_of(store, experiment_ids):
        yield from store.stored_trace_pages(experiment_id, filter_string=filter_string,
                                            page_size=page_size, summary=summary)


def stream_export(store: ExportSource, *, format: str = "jsonl",
                  experiment_ids: Sequence[str] | None = None,
                  filter_string: str | None = None,
                  page_size: int = PAGE_SIZE) -> Iterator[str]:
    """The export of a JSON format as text chunks, a page of traces each (for HTTP).

    The filter and experiments are checked before the first chunk (``FilterError``,
    ``NotFoundError``), so a bad request fails before anything is sent.
    """
    kind = format_of(None, format)
    if kind == "parquet":
        raise InvalidInputError("Parquet is written to a file, not a stream")
    for experiment_id in experiment_ids or ():
        store.get_experiment(str(experiment_id))
    store.search_traces(experiment_ids, filter_string=filter_string, max_results=1,
                        include_spans=False)
    return _chunks(store, kind, experiment_ids, filter_string, page_size)


def _chunks(store: ExportSource, kind: str, experiment_ids: Sequence[str] | None,
            filter_string: str | None, page_size: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = JsonTraceWriter(buffer, kind)
    names = _ExperimentNames(store, {})
    for page in iter_trace_pages(store, experiment_ids=experiment_ids,
                                 filter_string=filter_string, page_size=page_size,
                                 summary=False):
        writer.write(names.named(page))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    writer.close()
    yield buffer.getvalue()


def export_traces(
    store: ExportSource,
    output: str | os.PathLike[str] | IO[str],
    *,
    format: str | None = None,
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    page_size: int = PAGE_SIZE,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write the traces ``filter_string`` selects in ``experiment_ids`` (None: all) to
    ``output`` and return what was written.

    ``output`` is a path (the format from ``format``, else its extension: ``.jsonl``,
    ``.json`` for mlflow-json, ``.parquet``; ``.gz`` after a JSON one gzips it) or an open
    text stream for a JSON format. ``progress(n)`` is called with the number of traces
    written so far after each page. ``FilterError`` for a bad filter.
    """
    if page_size < 1:
        raise InvalidInputError(f"page_size must be at least 1, got {page_size}")
    stream = hasattr(output, "write")
    kind = format_of(None if stream else output, format)  # type: ignore[arg-type]
    if stream and kind == "parquet":
        raise InvalidInputError("Parquet is written to a file, not a stream: pass a path")
    started = time.perf_counter()
    report = ExportReport(str(getattr(output, "name", "<stream>")) if stream else str(output),
                          kind)
    names = _ExperimentNames(store, report.experiments)
    pages = iter_trace_pages(store, experiment_ids=experiment_ids, filter_string=filter_string,
                             page_size=page_size, summary=kind == "parquet")
    # read by a thread of its own while the last page is written (lifecycle/read_ahead.py)
    named = read_ahead((names.named(page) for page in pages), name="spanscope-export-read")
    if stream:
        _copy(named, JsonTraceWriter(output, kind), report, progress)  # type: ignore[arg-type]
    else:
        _export_file(Path(output), kind, named, report, progress)  # type: ignore[arg-type]
    report.seconds = time.perf_counter() - started
    return report


def _export_file(target: Path, kind: str, pages: Iterator[list[_Named]], report: ExportReport,
                 progress: Callable[[int], None] | None) -> None:
    if not target.parent.is_dir():
        raise InvalidInputError(f"cannot write {str(target)!r}: directory "
                                f"{str(target.parent)!r} does not exist")
    partial = target.with_name(target.name + ".partial")
    try:
        if kind == "parquet":
            from spanscope.lifecycle.parquet_io import ParquetTraceWriter

            _copy(pages, ParquetTraceWriter(partial), report, progress)
        else:
            with open_text(partial, "w", compressed=is_gzip(target)) as out:
                _copy(pages, JsonTraceWriter(out, kind), report, progress)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _copy(pages: Iterator[list[_Named]], writer: _Writer, report: ExportReport,
          progress: Callable[[int], None] | None) -> None:
    try:
        for page in pages:
            writer.write(page)
            report.traces += len(page)
            if progress is not None:
                progress(report.traces)
    finally:
        writer.close()


class _ExperimentNames:
    """Experiment id -> name, each looked up once (None for an id the store lacks)."""

    def __init__(self, store: ExperimentStore, seen: dict[str, str | None]) -> None:
        self._store = store
        self._seen = seen

    def of(self, experiment_id: str) -> str | None:
        if experiment_id not in self._seen:
            try:
                self._seen[experiment_id] = self._store.get_experiment(experiment_id).name
            except NotFoundError:
                self._seen[experiment_id] = None
        return self._seen[experiment_id]

    def named(self, page: list[StoredTrace]) -> list[_Named]:
        """The page's traces, each with its experiment's name."""
        return [(trace, self.of(trace.experiment_id)) for trace in page]
