"""``POST /v1/traces``: the OTLP/HTTP trace receiver.

Accepts ``application/x-protobuf`` and ``application/json`` bodies (OTLP/HTTP 1.x),
``Content-Encoding: gzip`` or ``deflate``, and answers in the request's content type:
an empty ``ExportTraceServiceResponse`` when every span was stored, a partial success
(``rejected_spans`` and the reasons) when some were not. Failures follow the OTLP/HTTP
specification: a ``google.rpc.Status`` body, 400 for a body that does not decode, 413
beyond the request limit, 415 for an unknown content type or encoding, 503 with
``Retry-After`` when the writer is saturated (OTLP exporters retry those).

A 2xx means committed: the spans go through the app's ``IngestQueue`` (``app.state.ingest``)
as trace parts, merged there with the parts already stored. The experiment is the
``x-spanscope-experiment-id`` header, else MLflow's ``x-mlflow-experiment-id``, else an
experiment named after the resource's ``service.name`` (created on first use), else the
default experiment ``0``.
"""

from __future__ import annotations

import asyncio
import json
import math
import zlib
from typing import Any

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from spanscope.exceptions import InvalidInputError, NotFoundError, StoreError
from spanscope.lifecycle.capacity import StorageFull
from spanscope.server.ingest import Saturated
from spanscope.server.otlp_convert import (
    OtlpDecodeError,
    Parts,
    parse_json,
    parse_protobuf,
    service_names,
    to_parts,
)

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ExperimentResolver", "count_failure",
           "max_request_bytes", "receive", "router"]

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
EXPERIMENT_HEADERS = ("x-spanscope-experiment-id", "x-mlflow-experiment-id")
DEFAULT_EXPERIMENT = "0"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_MEDIA_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}

router = APIRouter(tags=["otlp"])


class OtlpError(Exception):
    """An OTLP request answered with ``status`` and a ``google.rpc.Status`` body."""

    def __init__(self, status: int, code: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class ExperimentResolver:
    """Experiment ids for OTLP requests: headers checked once, service names created once."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._by_name: dict[str, str] = {}
        self._known: set[str] = {DEFAULT_EXPERIMENT}
        self._lock = asyncio.Lock()

    async def by_id(self, experiment_id: str) -> str:
        experiment_id = experiment_id.strip()
        if experiment_id not in self._known:
            try:
                await asyncio.to_thread(self.store.get_experiment, experiment_id)
            except (NotFoundError, InvalidInputError):
                raise OtlpError(400, code_pb2.INVALID_ARGUMENT,
                                f"experiment {experiment_id!r} (from the experiment id header) "
                                "does not exist") from None
            self._known.add(experiment_id)
        return experiment_id

    async def by_service(self, name: str | None) -> str:
        if name is None:
            return DEFAULT_EXPERIMENT
        found = self._by_name.get(name)
        if found is not None:
            return found
        async with self._lock:  # one creation per name, even under concurrent requests
            found = self._by_name.get(name)
            if found is None:
                found = await asyncio.to_thread(self._get_or_create, name)
                self._by_name[name] = found
        return found

    def _get_or_create(self, name: str) -> str:
        experiment = self.store.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.store.create_experiment(name)
        except InvalidInputError:  # another server process created it meanwhile
            experiment = self.store.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id


class ReceiverStats:
    """Span counts of the OTLP receivers, for ``/metrics``."""

    def __init__(self) -> None:
        self.requests = 0
        self.spans_received = 0
        self.spans_rejected = 0
        self.requests_failed = 0


def max_request_bytes(app: Any) -> int:
    """The app's request limit (``ServerConfig.max_request_bytes``), also for inflated bodies."""
    state = app.state
    limit = getattr(state, "max_request_bytes", None)
    if limit is None:
        limit = getattr(getattr(state, "config", None), "max_request_bytes",
                        DEFAULT_MAX_REQUEST_BYTES)
    return int(limit)


def state_of(app: Any) -> tuple[ExperimentResolver, ReceiverStats]:
    """The receiver's per-app helpers, made on first use."""
    state = app.state
    resolver = getattr(state, "otlp_experiments", None)
    if resolver is None:
        if getattr(state, "otlp_stats", None) is None:
            state.otlp_stats = ReceiverStats()
        store = getattr(state, "store", None)
        if store is None:  # the lifespan has not opened the store yet (or closed it)
            raise OtlpError(503, code_pb2.UNAVAILABLE, "the server is starting; retry shortly",
                            {"Retry-After": "1"})
        resolver = state.otlp_experiments = ExperimentResolver(store)
    return resolver, state.otlp_stats


def count_failure(app: Any) -> None:
    """Count a request answered with an error status (for ``/metrics``)."""
    stats = getattr(app.state, "otlp_stats", None)
    if stats is None:
        stats = app.state.otlp_stats = ReceiverStats()
    stats.requests_failed += 1


async def receive(app: Any, request: Any, header_experiment: str | None) -> Parts:
    """Store one decoded request through the app's ingest queue (HTTP and gRPC share it)."""
    resolver, stats = state_of(app)
    stats.requests += 1
    try:
        if header_experiment:
            experiment = await resolver.by_id(header_experiment)
            mapping: dict[str | None, str] = {name: experiment
                                              for name in service_names(request)}
        else:
            mapping = {name: await resolver.by_service(name)
                       for name in service_names(request)}
    except InvalidInputError as exc:  # e.g. a service.name too long for an experiment name
        raise OtlpError(400, code_pb2.INVALID_ARGUMENT,
                        f"cannot choose the experiment: {exc}") from None
    except StoreError as exc:
        raise OtlpError(503, code_pb2.UNAVAILABLE, f"the store failed: {exc}",
                        {"Retry-After": "5"}) from None
    # in a thread: a large request's conversion must not stall the event loop (/health)
    parts = await asyncio.to_thread(to_parts, request, mapping.__getitem__)
    stats.spans_received += parts.spans
    stats.spans_rejected += parts.rejected
    if parts.traces:
        try:
            await app.state.ingest.write(parts.traces, partial=True)
        except Saturated as exc:
            raise OtlpError(503, code_pb2.UNAVAILABLE, str(exc),
                            {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}) from None
        except StorageFull as exc:
            raise OtlpError(507, code_pb2.RESOURCE_EXHAUSTED, str(exc)) from None
        except InvalidInputError as exc:
            raise OtlpError(400, code_pb2.INVALID_ARGUMENT, str(exc)) from None
        except StoreError as exc:
            raise OtlpError(503, code_pb2.UNAVAILABLE, f"the store failed: {exc}",
                            {"Retry-After": "5"}) from None
    return parts


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON)",
             response_class=Response)
async def export_traces(request: Request) -> Response:
    """Receive an OTLP ``ExportTraceServiceRequest``; 2xx once every accepted span is committed."""
    media = _MEDIA_TYPES.get(request.headers.get("content-type", "").split(";")[0].strip().lower())
    answer_as = media or JSON
    try:
        if media is None:
            raise OtlpError(415, code_pb2.INVALID_ARGUMENT,
                            f"unsupported content type {request.headers.get('content-type')!r}; "
                            f"send {PROTOBUF} or {JSON}")
        limit = max_request_bytes(request.app)
        body = _decoded(await _read(request, limit), request.headers.get("content-encoding"),
                        limit)
        try:
            message = (parse_protobuf(body) if media == PROTOBUF  # C, fast
                       else await asyncio.to_thread(parse_json, body))  # Python, slower
        except OtlpDecodeError as exc:
            raise OtlpError(400, code_pb2.INVALID_ARGUMENT, str(exc)) from None
        header = next((value for name in EXPERIMENT_HEADERS
                       if (value := request.headers.get(name))), None)
        parts = await receive(request.app, message, header)
    except OtlpError as exc:
        count_failure(request.app)
        return _status_response(exc, answer_as)
    response = ExportTraceServiceResponse()
    if parts.rejected:
        response.partial_success.rejected_spans = parts.rejected
        response.partial_success.error_message = parts.error_message
    if answer_as == PROTOBUF:
        return Response(response.SerializeToString(), media_type=PROTOBUF)
    return Response(json.dumps(json_format.MessageToDict(response)), media_type=JSON)


async def _read(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _decoded(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after ``Content-Encoding``, inflated to at most ``limit`` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise OtlpError(415, code_pb2.INVALID_ARGUMENT,
                        f"unsupported content encoding {encoding!r}; use gzip, deflate or none")
    # gzip: a gzip header; deflate: zlib-wrapped as HTTP says, raw deflate also accepted.
    attempts = (31,) if encoding != "deflate" else (15, -15)
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            if wbits == attempts[-1]:
                raise OtlpError(400, code_pb2.INVALID_ARGUMENT,
                                f"the body is not valid {encoding} data ({exc})") from None
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise _too_large(limit, inflated=True)
        return out
    raise AssertionError("unreachable")


def _too_large(limit: int, *, inflated: bool = False) -> OtlpError:
    what = "the decompressed body" if inflated else "the body"
    return OtlpError(413, code_pb2.RESOURCE_EXHAUSTED,
                     f"{what} is larger than the {limit // (1024 * 1024)} MB request limit; "
                     "send smaller batches")


def _status_response(error: OtlpError, media: str) -> Response:
    status = status_pb2.Status(code=error.code, message=error.message)
    if media == PROTOBUF:
        return Response(status.SerializeToString(), status_code=error.status,
                        media_type=PROTOBUF, headers=error.headers)
    return Response(json.dumps(json_format.MessageToDict(status)), status_code=error.status,
                    media_type=JSON, headers=error.headers)
