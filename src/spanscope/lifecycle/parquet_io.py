"""Traces as Parquet: one row per trace, written and read in row groups (streamed).

Columns, for pandas users (``pd.read_parquet``) and for the import that reads them back:

- ``trace_id``, ``experiment_id``, ``experiment_name``, ``request_time`` (a UTC
  timestamp, ms), ``state``, ``execution_duration_ms``, ``client_request_id``,
  ``request_preview``, ``response_preview``;
- ``tags`` and ``trace_metadata`` (JSON objects as text), ``assessments`` and ``spans``
  (JSON lists as text: the trace JSON's ``info.assessments`` and ``data.spans``) and
  ``info_extra`` (keys of the trace's ``info`` Spanscope does not model, JSON or null);
- derived, for convenience only (import ignores them): ``name``, ``session_id``,
  ``user_id``, ``total_tokens``, ``span_count``.

JSON payloads stay text because they nest freely and a Parquet column has one type (the
rule ``evaluation/dataset_io.py`` follows for dataset records). Needs ``pyarrow``.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from spanscope.entities import Trace
from spanscope.entities._codec import dumps
from spanscope.exceptions import InvalidInputError
from spanscope.lifecycle.formats import EXPERIMENT_NAME_KEY, trace_from_object
from spanscope.store.stored import StoredTrace

__all__ = ["COLUMNS", "ParquetTraceWriter", "columns_of", "parquet_rows", "read_parquet"]

COLUMNS = ("trace_id", "experiment_id", "experiment_name", "request_time", "state",
           "execution_duration_ms", "name", "client_request_id", "session_id", "user_id",
           "request_preview", "response_preview", "total_tokens", "span_count", "tags",
           "trace_metadata", "assessments", "spans", "info_extra")
_JSON_COLUMNS = ("tags", "trace_metadata", "assessments", "spans", "info_extra")
ROW_GROUP = 5_000  # traces per row group: what a writer holds in memory at most
_READ_BATCH = 1_000
_FILE_KEY = b"spanscope.export"
_FILE_VALUE = b"traces/1"


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InvalidInputError("Parquet files need pyarrow: pip install pyarrow") from None
    return pyarrow


def _schema(pa: Any) -> Any:
    types = {"request_time": pa.timestamp("ms", tz="UTC"), "execution_duration_ms": pa.int64(),
             "total_tokens": pa.int64(), "span_count": pa.int32()}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS],
                     metadata={_FILE_KEY: _FILE_VALUE})


class ParquetTraceWriter:
    """Buffers traces and writes a row group every ``ROW_GROUP`` of them, built a column
    at a time from the ``StoredTrace`` fields."""

    def __init__(self, path: str | os.PathLike[str], *, row_group: int = ROW_GROUP) -> None:
        self._pa = _pyarrow()
        self._schema = _schema(self._pa)
        # JSON columns are unique per trace: a dictionary or min/max statistics of them
        # would be computed for every value and never used.
        self._writer = self._pa.parquet.ParquetWriter(
            str(path), self._schema, compression="zstd", use_dictionary=list(_DICTIONARY),
            write_statistics=list(_STATISTICS))
        self._row_group = row_group
        self._items: list[tuple[StoredTrace, str | None]] = []

    def write(self, items: Sequence[tuple[StoredTrace, str | None]]) -> None:
        self._items.extend(items)
        if len(self._items) >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        if self._items:
            pa = self._pa
            values = columns_of(self._items)
            self._items = []
            arrays = [pa.array(values[field.name], type=field.type) for field in self._schema]
            self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()


_FIELDS = {  # column -> StoredTrace field, for the columns that copy one
    "trace_id": "trace_id", "experiment_id": "experiment_id", "request_time": "request_time",
    "state": "state", "execution_duration_ms": "execution_duration", "name": "name",
    "client_request_id": "client_request_id", "session_id": "session_id",
    "user_id": "user_id", "request_preview": "request_preview",
    "response_preview": "response_preview", "total_tokens": "total_tokens",
    "span_count": "span_count", "tags": "tags_json", "trace_metadata": "metadata_json",
    "assessments": "assessments_json", "spans": "spans_json"}
_DICTIONARY = ("experiment_id", "experiment_name", "state", "name")
_STATISTICS = ("trace_id", "experiment_id", "experiment_name", "request_time", "state",
               "execution_duration_ms", "name", "session_id", "user_id", "total_tokens",
               "span_count")


def columns_of(items: Sequence[tuple[StoredTrace, str | None]]) -> dict[str, list[Any]]:
    """The values of each column (``COLUMNS``) for traces and their experiment names.

    The traces must carry their summary (read with ``summary=True``).
    """
    traces = [trace for trace, _ in items]
    columns = {column: list(map(operator.attrgetter(field), traces))
               for column, field in _FIELDS.items()}
    columns["experiment_name"] = [name for _, name in items]
    columns["info_extra"] = [dumps(trace.extra) if trace.extra else None for trace in traces]
    return columns


def parquet_rows(path: str | os.PathLike[str]) -> int:
    """How many traces a Parquet export holds (from its footer, nothing else read)."""
    pa = _pyarrow()
    return int(_open(pa, Path(path)).metadata.num_rows)


def _open(pa: Any, source: Path) -> Any:
    """The file, read without pre-buffering: with it (pyarrow's default), ``iter_batches``
    keeps every row group's column chunks it has read until the file is closed, some
    300 bytes per trace (the compressed file): 300 MB more by the end of a million."""
    try:
        return pa.parquet.ParquetFile(source, pre_buffer=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{source}: not a readable Parquet file ({message[:200]})") \
            from None


def read_parquet(path: str | os.PathLike[str], name: str) -> Iterator[tuple[Trace, str | None]]:
    """The traces of a Parquet export, a batch of rows at a time; errors name the row."""
    pa = _pyarrow()
    source = Path(path)
    parquet = _open(pa, source)
    present = [c for c in COLUMNS if c in parquet.schema_arrow.names]
    if "trace_id" not in present:
        raise InvalidInputError(f"{name}: no trace_id column; columns are "
                                f"{', '.join(parquet.schema_arrow.names)[:300]}")
    row = 0
    try:
        batches = parquet.iter_batches(batch_size=_READ_BATCH, columns=present)
        for batch in batches:
            columns = {c: _column(pa, batch.column(c)) for c in present}
            for i in range(batch.num_rows):
                row += 1
                values = {c: columns[c][i] for c in present}
                yield trace_from_object(_trace_object(values, name, row), f"{name}: row {row}")
    except pa.ArrowException as exc:
        raise InvalidInputError(f"{name}: row {row + 1}: cannot be read "
                                f"({str(exc)[:200]})") from None


def _column(pa: Any, array: Any) -> list[Any]:
    if pa.types.is_timestamp(array.type):
        array = array.cast(pa.int64())
    return array.to_pylist()  # type: ignore[no-any-return]


def _trace_object(values: dict[str, Any], name: str, row: int) -> dict[str, Any]:
    """A row as the trace JSON object ``trace_from_object`` reads."""
    decoded: dict[str, Any] = {}
    for column in _JSON_COLUMNS:
        text = values.get(column)
        if text is None or text == "":
            continue
        try:
            decoded[column] = json.loads(text)
        except RecursionError:
            raise InvalidInputError(f"{name}: row {row}: column {column!r} is nested too "
                                    "deeply") from None
        except (ValueError, TypeError):
            raise InvalidInputError(f"{name}: row {row}: column {column!r} is not JSON "
                                    f"({str(text)[:60]!r})") from None
    info: dict[str, Any] = {"trace_id": values.get("trace_id")}
    experiment_id = values.get("experiment_id")
    if experiment_id is not None:
        info["experiment_id"] = experiment_id
        info["trace_location"] = {"type": "MLFLOW_EXPERIMENT",
                                  "mlflow_experiment": {"experiment_id": experiment_id}}
    for key in ("request_time", "state", "execution_duration_ms", "client_request_id",
                "request_preview", "response_preview"):
        if values.get(key) is not None:
            info[key] = values[key]
    for key in ("tags", "trace_metadata", "assessments"):
        if key in decoded:
            info[key] = decoded[key]
    extra = decoded.get("info_extra")
    if extra is not None:
        if not isinstance(extra, dict):
            raise InvalidInputError(f"{name}: row {row}: column 'info_extra' is not a JSON "
                                    "object")
        info.update(extra)
    return {"info": info, "data": {"spans": decoded.get("spans", [])},
            EXPERIMENT_NAME_KEY: values.get("experiment_name")}
