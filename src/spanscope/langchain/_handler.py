"""The LangChain callback handler that turns runs into Spanscope spans.

Each run (chain, chat model, LLM, retriever, tool) opens a span when it starts and ends it
when it ends or fails. The parent is the span of the run's parent run, found by run id, so
links survive threads, asyncio tasks and LangGraph's executors; a run whose parent is not
traced (the top of the app's LangChain call) nests under whatever Spanscope span is
current (a ``@spanscope.trace`` function), else starts a trace. Runs LangChain marks
``langsmith:hidden`` (its plumbing: channel writes, routing) are skipped and their
children hang off the nearest traced ancestor. LangGraph's node name and step are kept
as attributes. The handler never raises into LangChain: its own failures are logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry.trace import set_span_in_context

from spanscope.entities import SpanAttributeKey, SpanType
from spanscope.langchain._convert import chat_completion, document, jsonable, message, usage
from spanscope.tracing._state import STATE, get_tracer, log_once
from spanscope.tracing.autolog import (
    FIRST_TOKEN_EVENT,
    MODEL_ATTRIBUTE,
    PROVIDER_ATTRIBUTE,
    TOOLS_ATTRIBUTE,
)
from spanscope.tracing.live_span import encode, record_exception

__all__ = ["SpanscopeCallbackHandler"]

logger = logging.getLogger(__name__)

HIDDEN_TAG = "langsmith:hidden"
_LANGGRAPH_KEYS = {"langgraph_node": "langgraph.node", "langgraph_step": "langgraph.step",
                   "langgraph_path": "langgraph.path", "thread_id": "langgraph.thread_id"}


class _Run:
    __slots__ = ("model", "seen_token", "span")

    def __init__(self, span: Any, model: str | None = None) -> None:
        self.span, self.model, self.seen_token = span, model, False


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    serialized = serialized or {}
    if isinstance(serialized.get("name"), str) and serialized["name"]:
        return serialized["name"]
    ids = serialized.get("id")
    if isinstance(ids, list) and ids:
        return str(ids[-1])
    return default


class SpanscopeCallbackHandler(BaseCallbackHandler):
    """Records LangChain runs as spans (see the module docstring)."""

    run_inline = True  # called in the run's own thread or task, in order
    raise_error = False

    def __init__(self) -> None:
        self._runs: dict[UUID, _Run] = {}
        self._hidden_parent: dict[UUID, UUID | None] = {}  # skipped run -> its parent
        self._lock = threading.Lock()

    # --- bookkeeping --------------------------------------------------------------------
    def _parent(self, parent_run_id: UUID | None) -> _Run | None:
        with self._lock:
            while parent_run_id is not None:
                run = self._runs.get(parent_run_id)
                if run is not None:
                    return run
                if parent_run_id not in self._hidden_parent:
                    return None
                parent_run_id = self._hidden_parent[parent_run_id]
        return None

    def _start(self, run_id: UUID, parent_run_id: UUID | None, name: str, span_type: str,
               inputs: Any, *, tags: list[str] | None = None,
               metadata: dict[str, Any] | None = None,
               attributes: dict[str, Any] | None = None, model: str | None = None) -> None:
        if not STATE.enabled:
            return
        if tags and HIDDEN_TAG in tags:
            with self._lock:
                self._hidden_parent[run_id] = parent_run_id
            return
        try:
            parent = self._parent(parent_run_id)
            context = None if parent is None else set_span_in_context(parent.span)
            span = get_tracer().start_span(name, context=context)
            values = {SpanAttributeKey.SPAN_TYPE: encode(span_type),
                      SpanAttributeKey.INPUTS: encode(jsonable(inputs))}
            for key, target in _LANGGRAPH_KEYS.items():
                if metadata and metadata.get(key) is not None:
                    values[target] = encode(jsonable(metadata[key]))
            for key, value in (attributes or {}).items():
                if value is not None:
                    values[key] = encode(jsonable(value))
            if model:
                values[MODEL_ATTRIBUTE] = encode(model)
            span.set_attributes(values)
            with self._lock:
                self._runs[run_id] = _Run(span, model)
        except Exception:
            log_once(logger, "langchain.start", "Spanscope could not start a span for a "
                     "LangChain run")

    def _end(self, run_id: UUID, outputs: Any = None, *, error: BaseException | None = None,
             attributes: dict[str, Any] | None = None, raw_outputs: bool = False) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
            self._hidden_parent.pop(run_id, None)
        if run is None:
            return
        try:
            values = {}
            if outputs is not None:
                values[SpanAttributeKey.OUTPUTS] = encode(outputs if raw_outputs
                                                          else jsonable(outputs))
            for key, value in (attributes or {}).items():
                if value is not None:
                    values[key] = encode(value)
            if values:
                run.span.set_attributes(values)
            if error is not None:
                record_exception(run.span, error)
        except Exception:
            log_once(logger, "langchain.end", "Spanscope could not record a LangChain run")
        try:
            run.span.end()
        except Exception:
            log_once(logger, "langchain.end_span", "Spanscope could not end a span")

    # --- chains and agents --------------------------------------------------------------
    def on_chain_start(self, serialized: dict[str, Any], inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, tags: list[str] | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        name = _name(serialized, kwargs, "chain")
        ids = (serialized or {}).get("id") or []
        agent = "AgentExecutor" in ids or name == "AgentExecutor"
        self._start(run_id, parent_run_id, name, SpanType.AGENT if agent else SpanType.CHAIN,
                    inputs, tags=tags, metadata=metadata)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event(run_id, "agent_action", {"tool": getattr(action, "tool", None),
                                             "tool_input": getattr(action, "tool_input", None),
                                             "log": getattr(action, "log", None)})

    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._event(run_id, "agent_finish", {"return_values":
                                             getattr(finish, "return_values", None)})

    def _event(self, run_id: UUID, name: str, attributes: dict[str, Any]) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        try:
            run.span.add_event(name, {k: encode(jsonable(v)) for k, v in attributes.items()
                                      if v is not None})
        except Exception:
            log_once(logger, "langchain.event", "Spanscope could not record an agent event")

    # --- models -------------------------------------------------------------------------
    def _model_attributes(self, kwargs: dict[str, Any], metadata: dict[str, Any] | None
                          ) -> tuple[str | None, dict[str, Any]]:
        params = kwargs.get("invocation_params") or {}
        model = next((v for v in (params.get("model"), params.get("model_name"),
                                  (metadata or {}).get("ls_model_name"))
                      if isinstance(v, str) and v), None)
        return model, {"invocation_params": params or None,
                       TOOLS_ATTRIBUTE: params.get("tools"),
                       PROVIDER_ATTRIBUTE: (metadata or {}).get("ls_provider")}

    def on_chat_model_start(self, serialized: dict[str, Any],
                            messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        model, attributes = self._model_attributes(kwargs, metadata)
        batches = [[message(m) for m in batch] for batch in messages]
        inputs = {"messages": batches[0] if len(batches) == 1 else batches}
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "chat_model"),
                    SpanType.CHAT_MODEL, inputs, tags=tags, metadata=metadata,
                    attributes={**attributes, "mlflow.message.format": "langchain"},
                    model=model)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None, tags: list[str] | None = None,
                     metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        model, attributes = self._model_attributes(kwargs, metadata)
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "llm"), SpanType.LLM,
                    {"prompts": prompts} if len(prompts) != 1 else {"prompt": prompts[0]},
                    tags=tags, metadata=metadata, attributes=attributes, model=model)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is None or run.seen_token or not token:
            return
        run.seen_token = True
        try:
            now = time.time_ns()
            run.span.add_event(FIRST_TOKEN_EVENT, {"time_to_first_token_ms": round(
                (now - (run.span.start_time or now)) / 1e6, 3)}, now)
        except Exception:
            log_once(logger, "langchain.token", "Spanscope could not record a first token")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        try:
            found = usage(response)
            generations = getattr(response, "generations", None) or [[]]
            is_chat = any(hasattr(g, "message") for g in generations[0])
            if is_chat:
                outputs: Any = chat_completion(response, run.model)
            else:
                outputs = {"object": "text_completion", "choices": [
                    {"index": i, "text": g.text,
                     "finish_reason": (g.generation_info or {}).get("finish_reason")}
                    for i, g in enumerate(generations[0])]}
        except Exception:
            log_once(logger, "langchain.llm_end", "Spanscope could not read a model result")
            outputs, found = None, None
        self._end(run_id, outputs, attributes={SpanAttributeKey.CHAT_USAGE: found},
                  raw_outputs=True)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    # --- retrievers and tools -----------------------------------------------------------
    def on_retriever_start(self, serialized: dict[str, Any], query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, tags: list[str] | None = None,
                           metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "retriever"),
                    SpanType.RETRIEVER, {"query": query}, tags=tags, metadata=metadata)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID,
                         **kwargs: Any) -> None:
        self._end(run_id, [document(d) for d in documents], raw_outputs=True)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)

    def on_tool_start(self, serialized: dict[str, Any], input_str: str, *, run_id: UUID,
                      parent_run_id: UUID | None = None, tags: list[str] | None = None,
                      metadata: dict[str, Any] | None = None,
                      inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "tool"), SpanType.TOOL,
                    inputs if inputs is not None else input_str, tags=tags,
                    metadata=metadata)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if type(output).__name__ == "ToolMessage":  # the tool's result, not the envelope
            output = getattr(output, "artifact", None) or output.content
        self._end(run_id, output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error=error)
