"""Reading an MLflow 3 tracking store without MLflow: its database, or its server's REST API.

Both readers hand out what MLflow itself would show: traces as MLflow trace JSON dicts
(``{"info": ..., "data": {"spans": [...]}}``, the shape ``mlflow.get_trace(id).to_dict()``
has), experiments and evaluation datasets with their records. ``mlflow_import`` maps them
onto Spanscope; nothing here knows Spanscope's store.

- ``SqlMlflowSource`` reads the tables MLflow's ``SqlAlchemyStore`` writes (``trace_info``,
  ``trace_tags``, ``trace_request_metadata``, ``spans``, ``assessments``,
  ``evaluation_dataset*``, ``entity_associations``) with SQLAlchemy, read only. It rebuilds
  what MLflow 3.17 keeps in columns rather than rows (the trace name tag, the session,
  token usage and cost metadata), and reads the spans of traces written before spans
  lived in the database from ``traces.json`` in a local artifact directory.
- ``mlflow_rest.RestMlflowSource`` talks to a running ``mlflow server`` instead.

Traces come in ``(request time, trace id)`` order after a ``Cursor``, so an import can stop
and continue where it was.
"""

from __future__ import annotations

import json
import pathlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import sqlalchemy as sa

from spanscope.exceptions import InvalidUriError, NotFoundError, StoreError

__all__ = [
    "Cursor",
    "MlflowDataset",
    "MlflowExperiment",
    "MlflowSource",
    "SourceTrace",
    "SqlMlflowSource",
    "json_column",
    "open_source",
    "unwrap_outputs",
]

SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation"
TRACE_NAME_TAG = "mlflow.traceName"
_TOKEN_COLUMNS = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
                  "total_tokens": "total_tokens",
                  "cache_read_input_tokens": "cache_read_input_tokens",
                  "cache_creation_input_tokens": "cache_creation_input_tokens",
                  "cache_creation_input_tokens_above_1hr":
                      "cache_creation_input_tokens_above_1hr"}
_COST_COLUMNS = ("input_cost", "output_cost", "total_cost")
# What an MLflow store may hold that this import does not bring across (table: what it is).
_NOT_IMPORTED = {"runs": "runs (evaluation runs, params, metrics)",
                 "logged_models": "logged models", "registered_models": "registered models "
                 "and prompts", "scorers": "registered scorers",
                 "issues": "issues (3.17 issue tracking)", "review_queues": "review queues"}


@dataclass(frozen=True, order=True)
class Cursor:
    """Where an experiment's import stands: the last trace written, in source order."""

    request_time: int
    trace_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"request_time": self.request_time, "trace_id": self.trace_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cursor:
        return cls(int(data["request_time"]), str(data["trace_id"]))


@dataclass(frozen=True)
class MlflowExperiment:
    experiment_id: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceTrace:
    """One MLflow trace as trace JSON; ``spans_missing`` says why it has no spans, if so."""

    data: dict[str, Any]
    cursor: Cursor
    spans_missing: str | None = None


@dataclass(frozen=True)
class MlflowDataset:
    """An evaluation dataset with its records (MLflow's record dicts, outputs unwrapped)."""

    dataset_id: str
    name: str
    experiment_ids: list[str]
    tags: dict[str, str]
    created_by: str | None
    records: list[dict[str, Any]]


class MlflowSource(Protocol):
    """What the importer reads from an MLflow store, whichever way it is reached."""

    uri: str

    def experiments(self) -> list[MlflowExperiment]:
        """The active experiments, by id."""
        ...

    def count_traces(self, experiment_id: str, after: Cursor | None) -> int:
        ...

    def traces(self, experiment_id: str, after: Cursor | None,
               page_size: int) -> Iterator[list[SourceTrace]]:
        """The experiment's traces after ``after``, oldest first, a page at a time."""
        ...

    def datasets(self) -> list[MlflowDataset]:
        ...

    def not_imported(self) -> dict[str, int]:
        """What the store holds that the import leaves behind: description -> count."""
        ...

    def close(self) -> None:
        ...


def open_source(uri: str) -> MlflowSource:
    """The reader for an MLflow tracking URI: ``sqlite:///…``, ``postgresql://…`` or
    ``http(s)://host:port`` (a running ``mlflow server``)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("http", "https"):
        from spanscope.lifecycle.mlflow_rest import RestMlflowSource

        return RestMlflowSource(uri)
    if scheme in ("sqlite", "postgresql", "postgres"):
        return SqlMlflowSource(uri)
    raise InvalidUriError(
        f"cannot read MLflow from {uri!r}: use the MLflow tracking URI, sqlite:///mlflow.db, "
        "postgresql://USER@HOST/DB, or a running MLflow server's http://HOST:PORT")


# --- the database -----------------------------------------------------------------------------


def _source_url(uri: str) -> sa.URL:
    """The SQLAlchemy URL of an MLflow database URI (any PostgreSQL driver named in it is
    replaced by psycopg 3, the one Spanscope ships with)."""
    from spanscope.store.sql.engine import mask_uri, parse_uri

    try:
        url = sa.make_url(uri)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise InvalidUriError(f"cannot parse MLflow URI {mask_uri(uri)!r}") from exc
    if url.get_backend_name() in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql")
    url = parse_uri(url.render_as_string(hide_password=False))
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InvalidUriError(f"{uri!r} names no MLflow database file")
        if not pathlib.Path(url.database).is_file():
            raise NotFoundError(f"no MLflow database at {url.database} (from {uri})")
    return url


class SqlMlflowSource:
    """An MLflow database (SQLite or PostgreSQL), read directly and read only."""

    def __init__(self, uri: str) -> None:
        from spanscope.store.sql.engine import mask_uri

        self.uri = uri
        url = _source_url(uri)
        if url.get_backend_name() == "sqlite":
            path = pathlib.Path(url.database or "").resolve()
            # read only: an import never writes to (or creates) the MLflow database
            self._engine = sa.create_engine("sqlite://", creator=lambda: _sqlite_ro(path))
        else:
            self._engine = sa.create_engine(url)
        self._meta = sa.MetaData()
        try:
            with warnings.catch_warnings():  # indexes on expressions: irrelevant to reading
                warnings.simplefilter("ignore", sa.exc.SAWarning)
                self._meta.reflect(self._engine, only=lambda name, _meta: name in _TABLES)
        except sa.exc.SQLAlchemyError as exc:
            self._engine.dispose()
            raise StoreError(f"cannot read the MLflow database {mask_uri(uri)}: "
                             f"{str(exc).splitlines()[0]}") from exc
        if "trace_info" not in self._meta.tables or "experiments" not in self._meta.tables:
            self._engine.dispose()
            raise InvalidUriError(f"{mask_uri(uri)} is not an MLflow tracking database "
                                  "(it has no experiments and trace_info tables)")
        self._t = self._meta.tables

    def close(self) -> None:
        self._engine.dispose()

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(query))
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"reading the MLflow database failed: "
                             f"{str(exc).splitlines()[0]}") from exc

    def experiments(self) -> list[MlflowExperiment]:
        t = self._t["experiments"]
        query = sa.select(t.c.experiment_id, t.c.name).order_by(t.c.experiment_id)
        if "lifecycle_stage" in t.c:
            query = query.where(t.c.lifecycle_stage != "deleted")
        tags: dict[str, dict[str, str]] = {}
        if "experiment_tags" in self._t:
            tt = self._t["experiment_tags"]
            for row in self._rows(sa.select(tt.c.experiment_id, tt.c.key, tt.c.value)):
                tags.setdefault(str(row.experiment_id), {})[row.key] = row.value or ""
        return [MlflowExperiment(str(r.experiment_id), r.name, tags.get(str(r.experiment_id), {}))
                for r in self._rows(query)]

    def _after(self, experiment_id: str, after: Cursor | None) -> Any:
        t = self._t["trace_info"]
        where = t.c.experiment_id == int(experiment_id)
        if after is not None:
            where = sa.and_(where, sa.or_(
                t.c.timestamp_ms > after.request_time,
                sa.and_(t.c.timestamp_ms == after.request_time,
                        t.c.request_id > after.trace_id)))
        return where

    def count_traces(self, experiment_id: str, after: Cursor | None) -> int:
        t = self._t["trace_info"]
        query = sa.select(sa.func.count()).select_from(t).where(self._after(experiment_id, after))
        return int(self._rows(query)[0][0])

    def traces(self, experiment_id: str, after: Cursor | None,
               page_size: int) -> Iterator[list[SourceTrace]]:
        t = self._t["trace_info"]
        while True:
            query = (sa.select(t).where(self._after(experiment_id, after))
                     .order_by(t.c.timestamp_ms, t.c.request_id).limit(page_size))
            rows = self._rows(query)
            if not rows:
                return
            yield self._page(rows)
            after = Cursor(int(rows[-1].timestamp_ms), rows[-1].request_id)

    def _children(self, table: str, ids: list[str], key: str = "request_id",
                  order: Sequence[str] = ()) -> dict[str, list[Any]]:
        if table not in self._t:
            return {}
        t = self._t[table]
        query = sa.select(t).where(t.c[key].in_(ids))
        if order:
            query = query.order_by(*(t.c[name] for name in order))
        out: dict[str, list[Any]] = {}
        for row in self._rows(query):
            out.setdefault(getattr(row, key), []).append(row)
        return out

    def _page(self, rows: list[Any]) -> list[SourceTrace]:
        ids = [r.request_id for r in rows]
        tags = self._children("trace_tags", ids)
        metadata = self._children("trace_request_metadata", ids)
        assessments = self._children("assessments", ids, "trace_id",
                                     ("created_timestamp", "assessment_id"))
        spans = self._children("spans", ids, "trace_id", ("start_time_unix_nano", "span_id"))
        page = []
        for row in rows:
            info = _info_from_row(row, tags.get(row.request_id, []),
                                  metadata.get(row.request_id, []))
            info["assessments"] = [_assessment_from_row(a)
                                   for a in assessments.get(row.request_id, [])]
            span_dicts = [json.loads(s.content) for s in spans.get(row.request_id, [])]
            missing = None
            if not span_dicts:
                span_dicts, missing = _artifact_spans(info["tags"])
            page.append(SourceTrace({"info": info, "data": {"spans": span_dicts}},
                                    Cursor(int(row.timestamp_ms), row.request_id), missing))
        return page

    def datasets(self) -> list[MlflowDataset]:
        if "evaluation_datasets" not in self._t:
            return []
        t = self._t["evaluation_datasets"]
        rows = self._rows(sa.select(t).order_by(t.c.created_time, t.c.dataset_id))
        ids = [r.dataset_id for r in rows]
        if not ids:
            return []
        tags = self._children("evaluation_dataset_tags", ids, "dataset_id")
        records = self._children("evaluation_dataset_records", ids, "dataset_id",
                                 ("created_time", "dataset_record_id"))
        experiments: dict[str, list[str]] = {}
        if "entity_associations" in self._t:
            ea = self._t["entity_associations"]
            links = self._rows(sa.select(ea.c.source_id, ea.c.destination_id).where(
                ea.c.source_type == "evaluation_dataset",
                ea.c.destination_type == "experiment").order_by(ea.c.created_time))
            for link in links:
                experiments.setdefault(link.source_id, []).append(str(link.destination_id))
        return [MlflowDataset(
            dataset_id=r.dataset_id, name=r.name,
            experiment_ids=experiments.get(r.dataset_id, []),
            tags={tag.key: tag.value or "" for tag in tags.get(r.dataset_id, [])},
            created_by=getattr(r, "created_by", None),
            records=[_record_from_row(rec) for rec in records.get(r.dataset_id, [])])
            for r in rows]

    def not_imported(self) -> dict[str, int]:
        out = {}
        for table, what in _NOT_IMPORTED.items():
            if table in self._t:
                query = sa.select(sa.func.count()).select_from(self._t[table])
                count = int(self._rows(query)[0][0])
                if count:
                    out[what] = count
        e, t = self._t["experiments"], self._t["trace_info"]
        if "lifecycle_stage" in e.c:
            query = (sa.select(sa.func.count()).select_from(t.join(e, t.c.experiment_id
                                                                   == e.c.experiment_id))
                     .where(e.c.lifecycle_stage == "deleted"))
            count = int(self._rows(query)[0][0])
            if count:
                out["traces of deleted experiments"] = count
        return out


_TABLES = {"experiments", "experiment_tags", "trace_info", "trace_tags",
           "trace_request_metadata", "spans", "assessments", "evaluation_datasets",
           "evaluation_dataset_tags", "evaluation_dataset_records", "entity_associations",
           *_NOT_IMPORTED}


def _sqlite_ro(path: pathlib.Path) -> Any:
    import sqlite3

    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _info_from_row(row: Any, tags: list[Any], metadata: list[Any]) -> dict[str, Any]:
    """Trace info JSON from a ``trace_info`` row, as MLflow 3.17's ``to_mlflow_entity``:
    the trace name, session, token usage and cost live in columns, not in rows."""
    fields = row._mapping
    tag_map = {t.key: t.value or "" for t in tags}
    if fields.get("trace_name") is not None:
        tag_map[TRACE_NAME_TAG] = fields["trace_name"]
    meta = {m.key: m.value or "" for m in metadata}
    if fields.get("session_id") is not None:
        meta["mlflow.trace.session"] = fields["session_id"]
    tokens = {key: int(fields[col]) for key, col in _TOKEN_COLUMNS.items()
              if fields.get(col) is not None}
    if tokens:
        meta["mlflow.trace.tokenUsage"] = json.dumps(tokens)
    cost = {col: fields[col] for col in _COST_COLUMNS if fields.get(col) is not None}
    if cost:
        meta["mlflow.trace.cost"] = json.dumps(cost)
    info: dict[str, Any] = {
        "trace_id": row.request_id,
        "trace_location": {"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": str(row.experiment_id)}},
        "request_time": int(row.timestamp_ms),
        "state": row.status,
        "trace_metadata": meta,
        "tags": tag_map,
        "execution_duration_ms": None if row.execution_time_ms is None
        else int(row.execution_time_ms),
    }
    for key in ("client_request_id", "request_preview", "response_preview"):
        if fields.get(key) is not None:
            info[key] = fields[key]
    return info


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _assessment_from_row(row: Any) -> dict[str, Any]:
    """Assessment JSON from an ``assessments`` row; the kind is the key holding the value
    (``feedback``, ``expectation`` or, since 3.17, ``issue``)."""
    data: dict[str, Any] = {
        "assessment_id": row.assessment_id, "assessment_name": row.name,
        "trace_id": row.trace_id,
        "source": {"source_type": row.source_type, "source_id": row.source_id or "default"},
        "create_time": int(row.created_timestamp),
        "last_update_time": int(row.last_updated_timestamp),
        "valid": bool(row.valid),
    }
    value = _loads(row.value)
    if row.assessment_type == "feedback":
        body: dict[str, Any] = {"value": value}
        if row.error is not None:
            body["error"] = _loads(row.error)
        data["feedback"] = body
    elif row.assessment_type == "expectation":
        data["expectation"] = {"value": value}
    else:
        data[row.assessment_type] = value
    for key in ("span_id", "run_id", "rationale", "overrides"):
        if getattr(row, key) is not None:
            data[key] = getattr(row, key)
    metadata = _loads(row.assessment_metadata)
    if metadata:
        data["metadata"] = metadata
    return data


def unwrap_outputs(outputs: Any) -> Any:
    """MLflow stores record outputs as ``{"mlflow_wrapped": value}``; ``{}`` means none."""
    if isinstance(outputs, dict) and set(outputs) == {"mlflow_wrapped"}:
        outputs = outputs["mlflow_wrapped"]
    return None if outputs in ({}, None) else outputs


def json_column(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _record_from_row(row: Any) -> dict[str, Any]:
    fields = row._mapping
    return {"dataset_record_id": row.dataset_record_id,
            "inputs": json_column(row.inputs),
            "expectations": json_column(row.expectations),
            "outputs": unwrap_outputs(json_column(fields.get("outputs"))),
            "tags": json_column(row.tags), "source": json_column(row.source),
            "source_id": row.source_id, "source_type": row.source_type}


def _artifact_spans(tags: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """Spans of a trace MLflow kept in its artifact store (``traces.json``), when that
    store is a local directory; otherwise no spans and the reason."""
    location = tags.get(ARTIFACT_LOCATION_TAG)
    where = tags.get(SPANS_LOCATION_TAG, "ARTIFACT_REPO")
    if where == "TRACKING_STORE":
        return [], "the trace has no spans in the MLflow database"
    if not location:
        return [], f"spans are in MLflow's {where} and the trace names no artifact location"
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return [], f"spans are in a remote artifact store ({parsed.scheme}://)"
    path = pathlib.Path(unquote(parsed.path) if parsed.scheme else location) / "traces.json"
    try:
        spans = json.loads(path.read_text(encoding="utf-8")).get("spans")
    except FileNotFoundError:
        return [], f"spans file {path} does not exist"
    except (OSError, ValueError, AttributeError) as exc:
        return [], f"spans file {path} cannot be read ({type(exc).__name__})"
    if not isinstance(spans, list):
        return [], f"spans file {path} holds no span list"
    return spans, None
