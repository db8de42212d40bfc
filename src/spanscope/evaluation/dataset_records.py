"""What ``merge_records`` accepts, turned into ``RecordUpdate`` entities.

Accepted, as MLflow's ``merge_records`` accepts them:

- a list of dicts with ``inputs`` (a dict, required) and optional ``expectations``
  (dict), ``outputs`` (any JSON), ``tags`` (dict), ``source`` (MLflow's source dict),
  ``source_trace_id`` and ``trace`` (a ``Trace`` whose root span fills missing inputs
  and outputs). Columns ``to_df()`` adds (``record_id``, times) are ignored, so one
  dataset's ``to_df()`` merges into another;
- a pandas DataFrame with those columns;
- a list of ``Trace``: inputs and outputs of the root span, the trace's valid
  expectation assessments as expectations, and the trace as the source;
- a ``search_traces`` DataFrame: through its ``trace`` column, else its ``request``,
  ``response``, ``assessments`` and ``trace_id`` columns.

Every value must have a JSON form (numpy and pandas scalars are converted); anything
wrong is an ``InvalidInputError`` naming the record and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spanscope.analysis.documents import span_inputs, span_outputs, trace_question
from spanscope.entities import Assessment, Expectation, Span, Trace
from spanscope.entities._codec import loads_attribute
from spanscope.entities.dataset import (
    NotJsonError,
    RecordUpdate,
    is_missing,
    jsonable,
    trace_source,
)
from spanscope.exceptions import InvalidInputError

__all__ = ["RECORD_KEYS", "record_updates"]

RECORD_KEYS = ("inputs", "expectations", "outputs", "tags", "source", "source_trace_id",
               "trace")
# Columns of to_df() / exports and of search_traces DataFrames that merging ignores.
_IGNORED = {"record_id", "dataset_record_id", "created_time", "last_update_time",
            "source_type", "source_id", "trace_id"}


def _is_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def record_updates(data: Any) -> list[RecordUpdate]:
    """The records in ``data`` (see the module doc), in order."""
    if _is_dataframe(data):
        return _from_dataframe(data)
    if isinstance(data, (Mapping, str, bytes)) or not hasattr(data, "__iter__"):
        raise InvalidInputError(
            f"merge_records takes a list of record dicts, a list of Traces or a pandas "
            f"DataFrame, not {type(data).__name__}")
    updates = []
    for index, item in enumerate(data):
        if isinstance(item, Trace):
            updates.append(_from_trace(index, item))
        elif isinstance(item, Mapping):
            updates.append(_from_dict(index, item))
        else:
            raise InvalidInputError(f"record {index} must be a dict with 'inputs' or a Trace, "
                                    f"not {type(item).__name__}")
    return updates


def _from_dataframe(frame: Any) -> list[RecordUpdate]:
    columns = set(frame.columns)
    rows = frame.to_dict(orient="records")
    if "inputs" in columns:
        return [_from_dict(i, row) for i, row in enumerate(rows)]
    if "trace" in columns or "request" in columns:  # a search_traces DataFrame
        return [_from_search_row(i, row) for i, row in enumerate(rows)]
    raise InvalidInputError(
        f"the DataFrame needs an 'inputs' column (or be a search_traces result with "
        f"'trace' or 'request'); its columns are {sorted(map(str, columns))}")


def _from_search_row(index: int, row: dict[str, Any]) -> RecordUpdate:
    trace = row.get("trace")
    if isinstance(trace, Trace):
        return _from_trace(index, trace)
    trace_id = None if is_missing(row.get("trace_id")) else str(row["trace_id"])
    expectations = _expectations([a if isinstance(a, Assessment) else Assessment.from_dict(a)
                                  for a in _list(row.get("assessments"))])
    return _from_dict(index, {
        "inputs": loads_attribute(row.get("request")), "outputs": row.get("response"),
        "expectations": expectations, "source_trace_id": trace_id})


def _list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and is_missing(value)):
        return []
    return [v for v in value if isinstance(v, (dict, Assessment))]


def _expectations(assessments: list[Assessment]) -> dict[str, Any] | None:
    """The valid expectations by name; of several with one name the newest wins."""
    found = sorted((a for a in assessments if isinstance(a, Expectation) and a.valid),
                   key=lambda a: a.create_time_ms)
    return {a.name: a.value for a in found} or None


def _from_trace(index: int, trace: Trace) -> RecordUpdate:
    trace_id = trace.info.trace_id
    root = trace.data.root_span
    if root is None:
        raise InvalidInputError(f"record {index}: trace {trace_id!r} has no root span to "
                                "take inputs from")
    return _from_dict(index, {
        "inputs": _trace_inputs(trace, root), "outputs": span_outputs(root),
        "expectations": _expectations(list(trace.info.assessments)),
        "source": trace_source(trace_id), "source_trace_id": trace_id},
        what=f"trace {trace_id!r}")


def _trace_inputs(trace: Trace, root: Span) -> Any:
    """The root's inputs; a root that recorded a bare string (or only OpenInference's
    ``input.value``) gives ``{"question": ...}`` as ``analysis.documents`` reads it."""
    inputs = span_inputs(root)
    if inputs is None or isinstance(inputs, Mapping):
        return inputs
    question = trace_question(trace)
    return {"question": question} if question else inputs


def _field(index: int, name: str, value: Any, what: str) -> Any:
    try:
        return jsonable(value)
    except NotJsonError as exc:
        raise InvalidInputError(f"record {index} ({what}): {name!r} has no JSON form: "
                                f"{exc}") from None


def _dict_field(index: int, name: str, value: Any, what: str) -> dict[str, Any] | None:
    if is_missing(value):
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"record {index} ({what}): {name!r} must be a dict, not "
                                f"{type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidInputError(f"record {index} ({what}): {name!r} keys must be "
                                    f"strings, got {key!r}")
    return _field(index, name, dict(value), what)


def _from_dict(index: int, record: Mapping[str, Any], *, what: str = "") -> RecordUpdate:
    what = what or "a dict"
    unknown = [k for k in record if k not in RECORD_KEYS and k not in _IGNORED]
    if unknown:
        raise InvalidInputError(f"record {index} has unknown field(s) {sorted(map(str, unknown))}"
                                f"; a record has {', '.join(RECORD_KEYS)}")
    trace = record.get("trace")
    if not is_missing(trace) and not isinstance(trace, Trace):
        raise InvalidInputError(f"record {index}: 'trace' must be a Trace, not "
                                f"{type(trace).__name__}")
    root = trace.data.root_span if isinstance(trace, Trace) else None
    inputs = record.get("inputs")
    if is_missing(inputs) and root is not None:
        inputs = root.inputs
    if is_missing(inputs):
        raise InvalidInputError(f"record {index} ({what}) has no 'inputs': every record "
                                "needs an inputs dict, e.g. {'inputs': {'question': '...'}}")
    checked_inputs = _dict_field(index, "inputs", inputs, what)
    assert checked_inputs is not None
    outputs = record.get("outputs")
    if is_missing(outputs) and root is not None:
        outputs = root.outputs
    tags = _dict_field(index, "tags", record.get("tags"), what)
    if tags is not None:
        tags = {k: v if isinstance(v, str) else str(v) for k, v in tags.items()}
    source = _dict_field(index, "source", record.get("source"), what)
    source_trace_id = record.get("source_trace_id")
    if is_missing(source_trace_id) and isinstance(trace, Trace):
        source_trace_id = trace.info.trace_id
    if is_missing(source_trace_id) and not is_missing(record.get("trace_id")):
        source_trace_id = record["trace_id"]
    if is_missing(source_trace_id) and source is not None:
        data = source.get("source_data")
        if isinstance(data, Mapping) and isinstance(data.get("trace_id"), str):
            source_trace_id = data["trace_id"]
    if is_missing(source_trace_id):
        source_trace_id = None
    elif not isinstance(source_trace_id, str):
        raise InvalidInputError(f"record {index} ({what}): 'source_trace_id' must be a "
                                f"string, not {type(source_trace_id).__name__}")
    if source is None and source_trace_id is not None:
        source = trace_source(source_trace_id)
    return RecordUpdate(
        inputs=checked_inputs,
        expectations=_dict_field(index, "expectations", record.get("expectations"), what),
        outputs=None if is_missing(outputs) else _field(index, "outputs", outputs, what),
        tags=tags, source=source, source_trace_id=source_trace_id)
