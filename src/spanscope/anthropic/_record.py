"""What an Anthropic call's span records: the message as JSON, the model and token usage.

Anthropic reports ``input_tokens`` without the prompt-cache tokens; the recorded
``input_tokens`` include them (``cache_read_input_tokens`` and
``cache_creation_input_tokens`` are also kept apart), as OpenAI counts and as MLflow
normalises, so totals and cost compare across providers. A streamed message is rebuilt
from its events (``message_start``, content block deltas, ``message_delta``).
"""

from __future__ import annotations

import json
from typing import Any

from spanscope.tracing.autolog import StreamAccumulator

__all__ = ["MessageStream", "message_usage", "read_message"]

Usage = dict[str, int]


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def message_usage(usage: Any) -> Usage | None:
    """``mlflow.chat.tokenUsage`` from an Anthropic ``usage`` (object or dict)."""
    if usage is None:
        return None
    cached, created = _get(usage, "cache_read_input_tokens"), \
        _get(usage, "cache_creation_input_tokens")
    input_tokens = _int(_get(usage, "input_tokens")) + _int(cached) + _int(created)
    output_tokens = _int(_get(usage, "output_tokens"))
    found = {"input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}
    if cached is not None:
        found["cache_read_input_tokens"] = _int(cached)
    if created is not None:
        found["cache_creation_input_tokens"] = _int(created)
    return found


def read_message(response: Any) -> tuple[str | None, str | None, Usage | None]:
    dump = getattr(response, "model_dump_json", None)
    if dump is None:
        return None, None, None  # a raw HTTP response (``with_raw_response``)
    model = _get(response, "model")
    return (dump(exclude_unset=True, warnings=False), model if isinstance(model, str) else None,
            message_usage(_get(response, "usage")))


def _dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_unset=True, warnings=False) if dump is not None else obj


class MessageStream(StreamAccumulator):
    """Anthropic stream events joined into the ``message`` a non-streamed call returns."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial_json: dict[int, list[str]] = {}
        self.usage: dict[str, Any] = {}

    def add(self, event: Any) -> bool:
        kind = _get(event, "type")
        if kind == "message_start":
            message = _dump(_get(event, "message")) or {}
            self.message = {k: v for k, v in message.items() if k not in ("content", "usage")}
            self.usage.update({k: v for k, v in (message.get("usage") or {}).items()
                               if v is not None})
        elif kind == "content_block_start":
            block = _dump(_get(event, "content_block")) or {}
            self.blocks[_get(event, "index") or 0] = dict(block)
        elif kind == "content_block_delta":
            return self._delta(_get(event, "index") or 0, _get(event, "delta"))
        elif kind == "content_block_stop":
            self._close_block(_get(event, "index") or 0)
        elif kind == "message_delta":
            delta = _dump(_get(event, "delta")) or {}
            self.message.update({k: v for k, v in delta.items() if v is not None})
            usage = _dump(_get(event, "usage")) or {}
            self.usage.update({k: v for k, v in usage.items() if v is not None})
        return False

    def _delta(self, index: int, delta: Any) -> bool:
        block = self.blocks.setdefault(index, {"type": "text", "text": ""})
        kind = _get(delta, "type")
        if kind == "text_delta":
            block["text"] = (block.get("text") or "") + (_get(delta, "text") or "")
        elif kind == "input_json_delta":
            self.partial_json.setdefault(index, []).append(_get(delta, "partial_json") or "")
        elif kind == "thinking_delta":
            block["thinking"] = (block.get("thinking") or "") + (_get(delta, "thinking") or "")
        elif kind == "signature_delta":
            block["signature"] = _get(delta, "signature")
        else:
            return False
        return True

    def _close_block(self, index: int) -> None:
        parts = self.partial_json.pop(index, None)
        if parts is None or index not in self.blocks:
            return
        text = "".join(parts)
        try:
            self.blocks[index]["input"] = json.loads(text) if text else {}
        except ValueError:
            self.blocks[index]["input"] = text  # cut off mid-stream: keep what arrived

    def result(self) -> tuple[Any, str | None, Usage | None]:
        for index in list(self.partial_json):
            self._close_block(index)
        if not self.message and not self.blocks:
            return None, None, None
        outputs = {**self.message, "content": [self.blocks[i] for i in sorted(self.blocks)]}
        if self.usage:
            outputs["usage"] = dict(self.usage)
        model = self.message.get("model")
        return (outputs, model if isinstance(model, str) else None,
                message_usage(self.usage) if self.usage else None)
