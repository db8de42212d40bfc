"""Trace export files: the three formats, and one trace as JSON text with its experiment.

- ``jsonl``: one trace JSON object per line (the ``Trace.to_json`` shape);
- ``mlflow-json``: the document ``mlflow traces search --output json`` prints,
  ``{"traces": [...], "next_page_token": null}``, each trace on a line of its own;
- ``parquet``: one row per trace, columns for pandas users (``lifecycle/parquet_io.py``).

In both JSON formats each trace object carries one key beside ``info`` and ``data``:
``experiment_name``, so an import can find or create the experiment by name in a store
whose ids differ. Readers of trace JSON (``Trace.from_dict`` here and in MLflow) read
``info`` and ``data`` only and ignore it. A ``.gz`` suffix gzips a JSON format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spanscope.entities import Trace
from spanscope.entities._codec import dumps
from spanscope.entities.canonical_trace import load_canonical
from spanscope.entities.trace_json import load_trace_dict
from spanscope.exceptions import InvalidInputError, TraceJsonError
from spanscope.store.stored import StoredTrace

__all__ = ["EXPERIMENT_NAME_KEY", "FORMATS", "format_of", "is_gzip", "sniff_format",
           "trace_from_object", "trace_json"]

FORMATS = ("jsonl", "parquet", "mlflow-json")
EXPERIMENT_NAME_KEY = "experiment_name"
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "mlflow-json",
               ".parquet": "parquet", ".pq": "parquet"}
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() == ".gz"


def _extension(path: str | os.PathLike[str]) -> str:
    """The suffix that names the format (``x.jsonl.gz`` -> ``.jsonl``)."""
    target = Path(path)
    if is_gzip(target):
        target = target.with_suffix("")
    return target.suffix.lower()


def format_of(path: str | os.PathLike[str] | None, format: str | None = None) -> str:
    """``format`` if given, else the one the extension of ``path`` names."""
    if format is not None:
        name = str(format).lower().strip()
        if name not in FORMATS:
            raise InvalidInputError(f"unknown trace file format {format!r}: use "
                                    f"{', '.join(FORMATS)}")
        return name
    kind = None if path is None else _EXTENSIONS.get(_extension(path))
    if kind is None:
        raise InvalidInputError(f"cannot tell the format of {str(path)!r} from its "
                                f"extension ({', '.join(_EXTENSIONS)}); pass a format "
                                f"({', '.join(FORMATS)})")
    return kind


def sniff_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format of an existing file: ``format``, else its extension, else its first bytes
    (Parquet's magic number; a first line that is a whole JSON object is JSONL)."""
    if format is not None or _extension(path) in _EXTENSIONS:
        return format_of(path, format)
    with open(path, "rb") as raw:
        head = raw.read(4)
    if head == _PARQUET_MAGIC:
        return "parquet"
    if head[:2] == _GZIP_MAGIC:
        raise InvalidInputError(f"{str(path)!r} is gzipped: name it .jsonl.gz or .json.gz, "
                                "or pass a format")
    with open(path, encoding="utf-8", errors="replace") as text:
        first = text.readline()
    try:
        value = json.loads(first)
    except ValueError:
        return "mlflow-json"
    return "jsonl" if isinstance(value, dict) and "info" in value else "mlflow-json"


def trace_json(trace: StoredTrace, experiment_name: str | None) -> str:
    """One trace as compact JSON text, ``experiment_name`` beside ``info`` and ``data``.

    Spans and assessments are copied as the JSON text the store holds, never decoded and
    encoded again: that is most of an export's bytes.
    """
    return (f'{{"info":{trace.info_json()},"data":{{"spans":{trace.spans_json}}},'
            f'"{EXPERIMENT_NAME_KEY}":{dumps(experiment_name)}}}')


def trace_from_object(value: Any, where: str) -> tuple[Trace, str | None]:
    """A decoded trace JSON object (checked) and the experiment name it carries.

    An ``InvalidInputError`` names ``where`` (file and line or trace number) and the bad
    field.
    """
    name = value.get(EXPERIMENT_NAME_KEY) if isinstance(value, dict) else None
    if name is not None and not isinstance(name, str):
        raise InvalidInputError(f"{where}: {EXPERIMENT_NAME_KEY} must be a string, got "
                                f"{type(name).__name__}")
    try:  # the shape an export writes loads without rebuilding each span
        return load_canonical(value) or load_trace_dict(value), name or None
    except TraceJsonError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
