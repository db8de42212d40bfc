"""``spanscope.openai.autolog()``: every call of the official ``openai`` client becomes a span.

Traced: ``chat.completions.create`` and ``.parse`` (CHAT_MODEL), ``responses.create`` and
``.parse`` (CHAT_MODEL) and ``embeddings.create`` (EMBEDDING), sync and async, streamed
or not (the ``stream()`` helpers go through ``create``). Each span records the
request's arguments as inputs (``extra_headers`` left out: they may carry credentials),
the response as outputs, the tool definitions under ``mlflow.chat.tools``, the model
under ``mlflow.llm.model`` and the token usage under ``mlflow.chat.tokenUsage``
(``input_tokens``, ``output_tokens``, ``total_tokens``, plus ``cache_read_input_tokens``
and ``reasoning_tokens`` when the response reports them). Span names are the client
classes' names (``Completions``, ``AsyncResponses`` ...), as MLflow's autolog writes them.

    import spanscope.openai
    spanscope.openai.autolog()            # patch; autolog(disable=True) puts it all back
"""

from __future__ import annotations

from spanscope.entities import SpanType
from spanscope.openai._record import (
    ChatStream,
    ResponsesStream,
    read_chat,
    read_embeddings,
    read_responses,
)
from spanscope.tracing.autolog import CallKind, Patches

__all__ = ["autolog", "is_autologged"]

_PATCHES = Patches("openai")


def _targets() -> list[tuple[type, str, CallKind, bool]]:
    from openai.resources import embeddings
    from openai.resources.chat import completions

    targets: list[tuple[type, str, CallKind, bool]] = []

    def add(owner: type, span_type: str, read: object, stream: object, is_async: bool,
            message_format: str | None = "openai", methods: tuple[str, ...] = ("create",)
            ) -> None:
        kind = CallKind(owner.__name__, span_type, "openai", read,  # type: ignore[arg-type]
                        stream, message_format)  # type: ignore[arg-type]
        targets.extend((owner, method, kind, is_async) for method in methods)

    # ``parse`` (structured outputs) posts without ``create``; ``stream()`` goes through it
    add(completions.Completions, SpanType.CHAT_MODEL, read_chat, ChatStream, False,
        methods=("create", "parse"))
    add(completions.AsyncCompletions, SpanType.CHAT_MODEL, read_chat, ChatStream, True,
        methods=("create", "parse"))
    try:
        from openai.resources import responses
    except ImportError:  # a client older than the Responses API
        pass
    else:
        add(responses.Responses, SpanType.CHAT_MODEL, read_responses, ResponsesStream, False,
            methods=("create", "parse"))
        add(responses.AsyncResponses, SpanType.CHAT_MODEL, read_responses, ResponsesStream,
            True, methods=("create", "parse"))
    add(embeddings.Embeddings, SpanType.EMBEDDING, read_embeddings, None, False, None)
    add(embeddings.AsyncEmbeddings, SpanType.EMBEDDING, read_embeddings, None, True, None)
    return targets


def autolog(disable: bool = False, log_traces: bool = True) -> None:
    """Trace every OpenAI client call from now on; ``disable=True`` undoes it exactly.

    ``log_traces=False`` is the same as ``disable=True`` (traces are all this autolog
    logs). Calling it twice patches once. Tracing switched off (``spanscope.disable()``)
    makes the patched methods call straight through.
    """
    if disable or not log_traces:
        _PATCHES.restore()
        return
    _PATCHES.apply(_targets())


def is_autologged() -> bool:
    """Whether ``autolog()`` is in effect now."""
    return _PATCHES.active
