"""``spanscope.langchain.autolog()``: every LangChain run becomes a span (needs the
``langchain`` extra: ``pip install 'spanscope[langchain]'``).

Chains (CHAIN; AGENT for ``AgentExecutor``), chat models (CHAT_MODEL, with the messages
as OpenAI-style dicts, the reply as a ``chat.completion`` and the token usage), LLMs
(LLM), retrievers (RETRIEVER, documents with ``page_content`` and metadata) and tools
(TOOL), with parent/child links kept across threads and asyncio, and LangGraph's node
names kept (``langgraph.node``). The handler is added to every LangChain call through
LangChain's configure hook, so the app passes no ``callbacks=``; ``autolog(disable=True)``
removes it. ``SpanscopeCallbackHandler`` can also be passed explicitly.

    import spanscope.langchain
    spanscope.langchain.autolog()
"""

from __future__ import annotations

from typing import Any

from spanscope.langchain._handler import SpanscopeCallbackHandler

__all__ = ["SpanscopeCallbackHandler", "autolog", "is_autologged"]


class _GlobalHandler:
    """What LangChain's configure hook reads: the handler while autolog is on.

    LangChain calls only ``.get()`` on a hook's variable; a ``ContextVar`` would hold the
    handler only in the context that set it, not in threads started later.
    """

    def __init__(self) -> None:
        self.handler: SpanscopeCallbackHandler | None = None

    def get(self, default: Any = None) -> SpanscopeCallbackHandler | None:
        return self.handler


_HOOK = _GlobalHandler()


def _hooks() -> list[Any]:
    from langchain_core.tracers.context import _configure_hooks

    return _configure_hooks


def autolog(disable: bool = False, log_traces: bool = True) -> None:
    """Trace every LangChain run from now on; ``disable=True`` stops it and unhooks."""
    hooks = _hooks()
    if disable or not log_traces:
        _HOOK.handler = None
        hooks[:] = [hook for hook in hooks if hook[0] is not _HOOK]
        return
    if _HOOK.handler is None:
        _HOOK.handler = SpanscopeCallbackHandler()
    if not any(hook[0] is _HOOK for hook in hooks):
        from langchain_core.tracers.context import register_configure_hook

        register_configure_hook(_HOOK, True)  # type: ignore[arg-type]


def is_autologged() -> bool:
    """Whether ``autolog()`` is in effect now."""
    return _HOOK.handler is not None
