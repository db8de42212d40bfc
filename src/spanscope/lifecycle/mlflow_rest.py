"""Reading a running ``mlflow server`` through its REST API, for ``mlflow_import``.

``/api/2.0`` searches experiments, ``/api/3.0`` searches traces and reads evaluation
datasets. Spans come from ``batchGet`` (ten traces a request, as OTLP JSON spans, turned
back into MLflow span JSON) for traces kept in MLflow's database, and from the UI's
``get-trace-artifact`` (one trace a request, MLflow span JSON) for the others; a few
requests run at once. The answers have the shapes ``SqlMlflowSource`` produces from the tables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from spanscope.entities._codec import rfc3339_to_ms
from spanscope.exceptions import NotFoundError, StoreError
from spanscope.lifecycle.mlflow_source import (
    SPANS_LOCATION_TAG,
    Cursor,
    MlflowDataset,
    MlflowExperiment,
    SourceTrace,
    json_column,
    unwrap_outputs,
)

__all__ = ["RestMlflowSource", "span_from_otlp"]


class RestMlflowSource:
    """A running ``mlflow server``, through its REST API (``MLFLOW_TRACKING_TOKEN`` or
    ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` authenticate, as for MLflow's own client)."""

    SPAN_FETCHERS = 4  # span requests at once
    BATCH_GET = 10  # traces per batchGet: MLflow's own client asks for 10 at a time

    def __init__(self, uri: str, *, timeout: float = 60.0) -> None:
        import httpx

        self.uri = uri.rstrip("/")
        headers = {}
        auth = None
        if os.environ.get("MLFLOW_TRACKING_TOKEN"):
            headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
        elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
            auth = (os.environ["MLFLOW_TRACKING_USERNAME"],
                    os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
        self._client = httpx.Client(base_url=self.uri, headers=headers, auth=auth,
                                    timeout=timeout)
        self._pool = ThreadPoolExecutor(self.SPAN_FETCHERS, thread_name_prefix="mlflow-spans")

    def close(self) -> None:
        self._pool.shutdown()
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreError(f"cannot reach the MLflow server at {self.uri}: {exc}") from exc
        if response.status_code == 404 and "text/html" in response.headers.get(
                "content-type", ""):
            raise StoreError(f"{self.uri} answered 404 to {path}: is it an MLflow 3 server?")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            message = body.get("message") if isinstance(body, dict) else response.text[:200]
            if response.status_code == 404:
                raise NotFoundError(f"MLflow server: {message}")
            raise StoreError(f"MLflow server answered {response.status_code} to {path}: "
                             f"{message}")
        return body

    def experiments(self, view: str = "ACTIVE_ONLY") -> list[MlflowExperiment]:
        out: list[MlflowExperiment] = []
        token = None
        while True:
            body = {"max_results": 1000, "view_type": view}
            if token:
                body["page_token"] = token
            page = self._call("POST", "/api/2.0/mlflow/experiments/search", json=body)
            for e in page.get("experiments") or []:
                tags = {t["key"]: t.get("value", "") for t in e.get("tags") or []}
                out.append(MlflowExperiment(str(e["experiment_id"]), e["name"], tags))
            token = page.get("next_page_token")
            if not token:
                return sorted(out, key=lambda e: (len(e.experiment_id), e.experiment_id))

    def _search(self, experiment_id: str, after: Cursor | None,
                page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Trace infos in request-time order. The filter can only say "at or after the
        cursor's millisecond", so traces of that millisecond up to the cursor's id are
        dropped here."""
        body: dict[str, Any] = {
            "locations": [{"type": "MLFLOW_EXPERIMENT",
                           "mlflow_experiment": {"experiment_id": experiment_id}}],
            "max_results": page_size, "order_by": ["timestamp_ms ASC"]}
        if after is not None:
            body["filter"] = f"trace.timestamp_ms >= {after.request_time}"
        while True:
            page = self._call("POST", "/api/3.0/mlflow/traces/search", json=body)
            infos = [i for i in page.get("traces") or []
                     if after is None or _info_cursor(i) > after]
            if infos:
                yield infos
            token = page.get("next_page_token")
            if not token:
                return
            body["page_token"] = token

    def count_traces(self, experiment_id: str, after: Cursor | None) -> int:
        return sum(len(page) for page in self._search(experiment_id, after, 500))

    def traces(self, experiment_id: str, after: Cursor | None,
               page_size: int) -> Iterator[list[SourceTrace]]:
        for infos in self._search(experiment_id, after, page_size):
            infos.sort(key=_info_cursor)
            chunks = [infos[i:i + self.BATCH_GET] for i in range(0, len(infos), self.BATCH_GET)]
            spans: dict[str, tuple[list[dict[str, Any]], str | None]] = {}
            for found in self._pool.map(self._chunk_spans, chunks):
                spans.update(found)
            yield [SourceTrace({"info": info, "data": {"spans": spans[info["trace_id"]][0]}},
                               _info_cursor(info), spans[info["trace_id"]][1])
                   for info in infos]

    def _chunk_spans(self, infos: list[dict[str, Any]]
                     ) -> dict[str, tuple[list[dict[str, Any]], str | None]]:
        """Spans of a few traces: ``batchGet`` for those in MLflow's database (OTLP JSON,
        rebuilt as MLflow's client does), ``get-trace-artifact`` for the others and for
        any ``batchGet`` did not answer."""
        out: dict[str, tuple[list[dict[str, Any]], str | None]] = {}
        in_db = [i["trace_id"] for i in infos
                 if (i.get("tags") or {}).get(SPANS_LOCATION_TAG) == "TRACKING_STORE"]
        if in_db:
            try:
                body = self._call("GET", "/api/3.0/mlflow/traces/batchGet",
                                  params=[("trace_ids", t) for t in in_db])
            except (NotFoundError, StoreError):
                body = None  # an older server: one trace at a time below
            for trace in (body or {}).get("traces") or []:
                spans = [span_from_otlp(s) for s in trace.get("spans") or []]
                if spans:
                    out[(trace.get("trace_info") or {}).get("trace_id")] = (spans, None)
        for info in infos:
            if info["trace_id"] not in out:
                out[info["trace_id"]] = self._spans(info)
        return out

    def _spans(self, info: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        try:
            body = self._call("GET", "/ajax-api/2.0/mlflow/get-trace-artifact",
                              params={"request_id": info["trace_id"]})
        except (NotFoundError, StoreError) as exc:
            return [], f"the server could not give the spans ({str(exc)[:120]})"
        spans = body.get("spans") if isinstance(body, dict) else None
        if not isinstance(spans, list):
            return [], "the server gave no span list"
        return spans, None

    def datasets(self) -> list[MlflowDataset]:
        out = []
        token = None
        while True:
            body: dict[str, Any] = {"max_results": 1000}
            if token:
                body["page_token"] = token
            page = self._call("POST", "/api/3.0/mlflow/datasets/search", json=body)
            for d in page.get("datasets") or []:
                tags = json_column(d.get("tags")) or {}
                ids = self._call("GET", f"/api/3.0/mlflow/datasets/{d['dataset_id']}/"
                                        "experiment-ids").get("experiment_ids") or []
                out.append(MlflowDataset(
                    dataset_id=d["dataset_id"], name=d["name"], experiment_ids=list(ids),
                    tags={str(k): str(v) for k, v in tags.items()},
                    created_by=d.get("created_by"), records=self._records(d["dataset_id"])))
            token = page.get("next_page_token")
            if not token:
                return out

    def _records(self, dataset_id: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        token = None
        while True:
            params: dict[str, Any] = {"max_results": 1000}
            if token:
                params["page_token"] = token
            page = self._call("GET", f"/api/3.0/mlflow/datasets/{dataset_id}/records",
                              params=params)
            for record in json_column(page.get("records")) or []:
                record["outputs"] = unwrap_outputs(record.get("outputs"))
                records.append(record)
            token = page.get("next_page_token")
            if not token:
                return records

    def not_imported(self) -> dict[str, int]:
        """Runs, and traces of deleted experiments (models, prompts and scorers are
        counted only by the database reader)."""
        out = {}
        active = [e.experiment_id for e in self.experiments()]
        runs = 0
        body: dict[str, Any] = {"experiment_ids": active, "max_results": 1000}
        while active:
            page = self._call("POST", "/api/2.0/mlflow/runs/search", json=body)
            runs += len(page.get("runs") or [])
            if not page.get("next_page_token"):
                break
            body["page_token"] = page["next_page_token"]
        if runs:
            out["runs (evaluation runs, params, metrics)"] = runs
        deleted = sum(self.count_traces(e.experiment_id, None)
                      for e in self.experiments("DELETED_ONLY"))
        if deleted:
            out["traces of deleted experiments"] = deleted
        return out


def _any_value(value: dict[str, Any]) -> Any:
    """An OTLP ``AnyValue`` in proto JSON as the Python value it holds."""
    if "string_value" in value:
        return value["string_value"]
    if "bool_value" in value:
        return bool(value["bool_value"])
    if "int_value" in value:
        return int(value["int_value"])
    if "double_value" in value:
        return float(value["double_value"])
    if "array_value" in value:
        return [_any_value(v) for v in (value["array_value"] or {}).get("values") or []]
    if "kvlist_value" in value:
        return {kv["key"]: _any_value(kv.get("value") or {})
                for kv in (value["kvlist_value"] or {}).get("values") or []}
    if "bytes_value" in value:
        return value["bytes_value"]
    return None


def _attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _any_value(a.get("value") or {}) for a in items or []}


def span_from_otlp(span: dict[str, Any]) -> dict[str, Any]:
    """MLflow span JSON from the OTLP proto JSON span ``batchGet`` answers with, as MLflow's
    own client rebuilds it (``Span.from_otel_proto``): attribute values JSON-encoded,
    event attributes plain, ids in base64."""
    status = span.get("status") or {}
    return {
        "trace_id": span.get("trace_id"), "span_id": span.get("span_id"),
        "parent_span_id": span.get("parent_span_id") or None, "name": span.get("name") or "",
        "start_time_unix_nano": int(span.get("start_time_unix_nano") or 0),
        "end_time_unix_nano": int(span["end_time_unix_nano"])
        if span.get("end_time_unix_nano") is not None else None,
        "events": [{"name": e.get("name") or "",
                    "time_unix_nano": int(e.get("time_unix_nano") or 0),
                    "attributes": _attributes(e.get("attributes"))}
                   for e in span.get("events") or []],
        "status": {"code": status.get("code") or "STATUS_CODE_UNSET",
                   "message": status.get("message") or ""},
        "attributes": {k: json.dumps(v, ensure_ascii=False)
                       for k, v in _attributes(span.get("attributes")).items()},
        "links": [{"trace_id": link.get("trace_id"), "span_id": link.get("span_id"),
                   "attributes": _attributes(link.get("attributes"))}
                  for link in span.get("links") or []],
    }


def _info_cursor(info: dict[str, Any]) -> Cursor:
    return Cursor(rfc3339_to_ms(info.get("request_time")) or 0, info["trace_id"])
