"""Dataset records to and from files: CSV, JSONL and Parquet, chosen by file extension.

Every format has the same columns: ``record_id``, ``inputs``, ``expectations``,
``outputs``, ``tags``, ``source``, ``source_trace_id``, ``created_time``,
``last_update_time``. JSONL keeps the JSON values as they are; CSV and Parquet hold
``inputs``, ``expectations``, ``outputs``, ``tags`` and ``source`` as JSON text in each
cell (an empty cell is "none"), because those values nest freely and Parquet columns
need one type. Reading any of the three gives back records whose content, and so whose
dataset digest, equals what was written. Parquet needs ``pyarrow``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spanscope.entities.dataset import DatasetRecord, RecordUpdate
from spanscope.evaluation.dataset_records import record_updates
from spanscope.exceptions import InvalidInputError

__all__ = ["COLUMNS", "FORMATS", "format_of", "read_records", "write_records"]

COLUMNS = ["record_id", "inputs", "expectations", "outputs", "tags", "source",
           "source_trace_id", "created_time", "last_update_time"]
MAX_DEPTH = 100  # nesting levels of a record's values; deeper is refused, not crashed on
JSON_COLUMNS = ("inputs", "expectations", "outputs", "tags", "source")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}


def format_of(path: str | os.PathLike[str], format: str | None = None) -> str:
    """``format`` if given (csv, jsonl, parquet), else the one ``path``'s extension names."""
    if format is not None:
        name = str(format).lower().lstrip(".")
        if name not in set(FORMATS.values()):
            raise InvalidInputError(f"unknown dataset file format {format!r}: use csv, "
                                    "jsonl or parquet")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInputError(f"cannot tell the format of {str(path)!r} from its extension; "
                                f"use {', '.join(FORMATS)} or pass format=")
    return FORMATS[suffix]


def _row(record: DatasetRecord) -> dict[str, Any]:
    data = record.to_dict()
    return {column: data[column] for column in COLUMNS}


def _text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def write_records(records: Iterable[DatasetRecord], path: str | os.PathLike[str],
                  format: str | None = None) -> Path:
    """Write ``records`` to ``path`` (created or replaced); returns the path."""
    kind = format_of(path, format)
    target = Path(path)
    rows = [_row(r) for r in records]
    if target.parent and not target.parent.exists():
        raise InvalidInputError(f"cannot write {str(target)!r}: directory "
                                f"{str(target.parent)!r} does not exist")
    if kind == "jsonl":
        with target.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif kind == "csv":
        with target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (_text(v) if k in JSON_COLUMNS else v)
                                 for k, v in row.items()})
    else:
        _write_parquet(rows, target)
    return target


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InvalidInputError("Parquet files need pyarrow: pip install pyarrow") from None
    return pyarrow


def _write_parquet(rows: Sequence[dict[str, Any]], target: Path) -> None:
    pa = _pyarrow()
    schema = pa.schema([(c, pa.int64() if c.endswith("_time") else pa.string())
                        for c in COLUMNS])
    columns = {c: [(_text(r[c]) if c in JSON_COLUMNS else r[c]) for r in rows]
               for c in COLUMNS}
    pa.parquet.write_table(pa.table(columns, schema=schema), target)


def read_records(path: str | os.PathLike[str], format: str | None = None) -> list[RecordUpdate]:
    """The records in a file written by ``write_records`` (or by hand, same columns).

    Only ``inputs`` is required; ids and times in the file are not kept (merging gives
    records new ones). A cell that is not valid JSON is an ``InvalidInputError`` naming
    the line (CSV, JSONL) or row (Parquet).
    """
    kind = format_of(path, format)
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"no such file: {str(source)!r}")
    try:
        rows = _read_rows(source, kind)
        for i, row in enumerate(rows):
            _check_depth(row, source, i)
        return record_updates(rows)
    except InvalidInputError:
        raise
    except RecursionError:
        raise InvalidInputError(f"{source}: a value is nested too deeply (at most "
                                f"{MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{source}: not UTF-8 text ({exc.reason}); is it a "
                                f"{kind.upper()} file?") from None
    except csv.Error as exc:
        raise InvalidInputError(f"{source}: not a readable CSV file ({exc})") from None


def _read_rows(source: Path, kind: str) -> list[dict[str, Any]]:
    """The file's rows with JSON cells decoded; errors name the line or row."""
    if kind == "jsonl":
        rows = []
        with source.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except RecursionError:
                    raise InvalidInputError(f"{source}: line {number} is nested too deeply "
                                            f"(at most {MAX_DEPTH} levels)") from None
                except ValueError as exc:
                    raise InvalidInputError(f"{source}: line {number} is not JSON ({exc})") \
                        from None
                if not isinstance(row, dict):
                    raise InvalidInputError(f"{source}: line {number} is not a JSON object "
                                            "with an 'inputs' key")
                rows.append(row)
        return rows
    if kind == "csv":
        with source.open(encoding="utf-8", newline="") as cells:
            raw = list(csv.DictReader(cells))
        where = "line"
        offset = 2  # the header is line 1
    else:
        raw = _read_parquet(source)
        where, offset = "row", 0
    return [_decoded(row, source, f"{where} {i + offset}") for i, row in enumerate(raw)]


def _read_parquet(source: Path) -> list[dict[str, Any]]:
    pa = _pyarrow()
    try:
        return pa.parquet.read_table(source).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as exc:  # ArrowInvalid: not Parquet
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{source}: not a readable Parquet file ({message[:200]})") \
            from None


def _check_depth(value: Any, source: Path, index: int) -> None:
    """Refuse records nested deeper than ``MAX_DEPTH`` (no recursion: any depth is safe)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInputError(f"{source}: record {index + 1} is nested more than "
                                    f"{MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _decoded(row: dict[str, Any], source: Path, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in JSON_COLUMNS:
            if value is None or value == "":
                out[key] = None
                continue
            try:
                out[key] = json.loads(value)
            except RecursionError:
                raise InvalidInputError(f"{source}: {where}: column {key!r} is nested too "
                                        f"deeply (at most {MAX_DEPTH} levels)") from None
            except (ValueError, TypeError):
                raise InvalidInputError(f"{source}: {where}: column {key!r} is not JSON "
                                        f"({str(value)[:60]!r})") from None
        elif key == "source_trace_id":
            out[key] = value or None
        # ids and times are not read: merged records get their own
    return out
