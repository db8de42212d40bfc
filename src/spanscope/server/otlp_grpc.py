"""OTLP over gRPC (``TraceService/Export``) on a second port, feeding the same ingest queue.

Optional: needs ``grpcio`` (``pip install 'spanscope[grpc]'``); ``spanscope server
--otlp-grpc-port 4317`` turns it on. The gRPC server runs its handlers on its own thread
pool; each handler hands the decoded request to the app's event loop
(``otlp.receive``, exactly what ``POST /v1/traces`` does) and waits for the commit, so an
OK reply means committed here too. Errors map onto the gRPC codes OTLP exporters expect:
``INVALID_ARGUMENT`` for bad data (not retried), ``UNAVAILABLE`` when the writer is
saturated (retried, with the delay in the message).

    receiver = await start_grpc_receiver(app, host="127.0.0.1", port=4317)
    ...
    await receiver.stop()
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.rpc import code_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spanscope.server.otlp import (
    EXPERIMENT_HEADERS,
    OtlpError,
    max_request_bytes,
    receive,
    state_of,
)

__all__ = ["GrpcReceiver", "start_grpc_receiver"]

HANDLER_THREADS = 16
COMMIT_TIMEOUT = 120.0
_CODES = {code_pb2.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
          code_pb2.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
          code_pb2.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED}


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    def Export(self, request: ExportTraceServiceRequest,
               context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        metadata = dict(context.invocation_metadata())
        header = next((str(metadata[name]) for name in EXPERIMENT_HEADERS if metadata.get(name)),
                      None)
        future = asyncio.run_coroutine_threadsafe(receive(self.app, request, header), self.loop)
        try:
            parts = future.result(COMMIT_TIMEOUT)
        except OtlpError as exc:
            state_of(self.app)[1].requests_failed += 1
            retry = exc.headers.get("Retry-After")
            message = exc.message + (f" (retry after {retry} s)" if retry else "")
            context.abort(_CODES.get(exc.code, grpc.StatusCode.INTERNAL), message)
        except TimeoutError:
            future.cancel()
            context.abort(grpc.StatusCode.UNAVAILABLE, "the commit took too long; retry later")
        response = ExportTraceServiceResponse()
        if parts.rejected:
            response.partial_success.rejected_spans = parts.rejected
            response.partial_success.error_message = parts.error_message
        return response


class GrpcReceiver:
    """A running gRPC OTLP receiver; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, server: grpc.Server, port: int) -> None:
        self._server = server
        self.port = port

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls and let in-flight exports finish within ``grace`` seconds."""
        stopped = self._server.stop(grace)
        await asyncio.to_thread(stopped.wait, grace + 1)


async def start_grpc_receiver(app: Any, *, host: str = "127.0.0.1",
                              port: int = 4317) -> GrpcReceiver:
    """Serve OTLP/gRPC for ``app`` (its ``state.store`` and ``state.ingest``) on host:port.

    Call from the app's event loop (the lifespan), after the ingest queue has started.
    """
    limit = max_request_bytes(app)
    server = grpc.server(ThreadPoolExecutor(HANDLER_THREADS,
                                            thread_name_prefix="spanscope-otlp-grpc"),
                         options=[("grpc.max_receive_message_length", limit)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
        _TraceService(app, asyncio.get_running_loop()), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {address}")
    server.start()
    return GrpcReceiver(server, bound)
