"""A deterministic stand-in for a chat-completion API: no network, no real model.

``SimulatedChatModel.create`` takes OpenAI-style ``messages`` (and ``tools``) and returns
a dict shaped like an OpenAI chat completion, ``usage`` included, so anything that
understands OpenAI responses (Spanscope's token-usage recognition among them) reads it
unchanged. What it says is decided by reading the prompt: with tools it plans tool calls,
without them it answers from the tool results in the conversation. It fails the way real
providers fail: bursts of 429 rate-limit errors and requests that hang until the timeout.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from spanscope.demo.knowledge_base import tokenize
from spanscope.demo.latency import SimulatedLatency

__all__ = ["LLMTimeoutError", "RateLimitError", "SimulatedChatModel", "count_tokens"]

MODEL_NAME = "sim-chat-1"
_ORDER_ID = re.compile(r"\b(?i:order)\s+#?(A[0-9O]{4,6})\b")  # as users type them
_REFUND = re.compile(r"refund|money back", re.IGNORECASE)
_ACCOUNT = re.compile(r"bill|charge|invoice|card|payment|plan|upgrade|enterprise|account",
                      re.IGNORECASE)
_MISREAD_QUERY = "order delivery status tracking shipment"
# 429 bursts: how many consecutive calls get rate limited once a burst starts.
_BURSTS = ((1, 0.55), (2, 0.30), (3, 0.10), (4, 0.05))


class RateLimitError(Exception):
    """HTTP 429 from the (simulated) provider; retrying after a pause may succeed."""

    status_code = 429


class LLMTimeoutError(TimeoutError):
    """The (simulated) provider did not answer before the client's timeout."""


def count_tokens(text: str) -> int:
    """About four characters per token, as English text averages with GPT tokenizers."""
    return max(1, math.ceil(len(text) / 4))


def _prompt_tokens(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    total = 3
    for message in messages:
        total += 4 + count_tokens(str(message.get("content") or ""))
        if message.get("tool_calls"):
            total += count_tokens(json.dumps(message["tool_calls"]))
    if tools:
        total += count_tokens(json.dumps(tools))
    return total


class SimulatedChatModel:
    """One request's view of the provider: its latency stream, faults and rate-limit state."""

    def __init__(self, latency: SimulatedLatency, *, timeout_s: float = 30.0) -> None:
        self.latency = latency
        self.rng = latency.rng
        self.profile = latency.profile
        self.timeout_s = timeout_s
        self._burst_left = 0  # 429s still to come in the current burst

    def create(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
               temperature: float = 0.2) -> dict[str, Any]:
        """A chat completion for ``messages``; raises ``RateLimitError``/``LLMTimeoutError``."""
        if self._burst_left == 0 and self.rng.random() < self.profile.rate_limit_rate:
            self._burst_left = self.rng.choices([n for n, _ in _BURSTS],
                                                [w for _, w in _BURSTS])[0]
        if self._burst_left:
            self._burst_left -= 1
            self.latency.spend(40)
            raise RateLimitError("Error code: 429 - Rate limit reached for requests per minute "
                                 f"on {MODEL_NAME}. Please try again in 1s.")
        if self.rng.random() < self.profile.llm_timeout_rate:
            self.latency.wait(self.timeout_s * 1000)
            raise LLMTimeoutError(f"Request timed out after {self.timeout_s:.0f}s.")
        if tools:
            message, finish_reason = self._plan(messages, tools), "tool_calls"
            completion_text = json.dumps(message["tool_calls"])
        else:
            message, finish_reason = self._answer(messages), "stop"
            completion_text = message["content"]
        prompt_tokens = _prompt_tokens(messages, tools)
        completion_tokens = count_tokens(completion_text)
        # time to first token, then ~80 tokens/s; both slow down with the version's factor
        self.latency.spend(350 + 12 * completion_tokens)
        return {
            "id": f"chatcmpl-{self.rng.getrandbits(96):024x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL_NAME,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    # --- what the model "says" --------------------------------------------------------
    def _plan(self, messages: list[dict[str, Any]],
              tools: list[dict[str, Any]]) -> dict[str, Any]:
        """Tool calls: always search the FAQ; look up orders and accounts when relevant."""
        available = {tool["function"]["name"] for tool in tools}
        user_turns = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
        question = user_turns[-1] if user_turns else ""
        calls: list[tuple[str, dict[str, Any]]] = []
        if "search_knowledge_base" in available:
            calls.append(("search_knowledge_base", {"query": self._rewrite(user_turns)}))
        match = _ORDER_ID.search(question)
        if match and "lookup_order" in available:
            calls.append(("lookup_order", {"order_id": match.group(1)}))
        if _ACCOUNT.search(question) and "check_account" in available:
            calls.append(("check_account", {}))
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": f"call_{self.rng.getrandbits(64):016x}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for name, args in calls
            ],
        }

    def _rewrite(self, user_turns: list[str]) -> str:
        """A keyword search query for the conversation; sometimes a misreading.

        The misreading is the demo's scripted retrieval fault: a refund question read as a
        delivery problem, so the retriever (correctly, for that query) returns the
        shipping FAQ and the answer talks about shipping instead of refunds.
        """
        question = user_turns[-1] if user_turns else ""
        if _REFUND.search(question) and self.rng.random() < self.profile.wrong_query_rate:
            return _MISREAD_QUERY
        words = tokenize(_ORDER_ID.sub("order status", question))
        if len(user_turns) > 1:  # a follow-up: carry the topic of the previous question
            words += [w for w in tokenize(_ORDER_ID.sub("", user_turns[-2])) if w not in words]
        return " ".join(words)

    def _answer(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """An answer grounded in whatever the tools returned earlier in the conversation."""
        call_names = {call["id"]: call["function"]["name"]
                      for m in messages for call in m.get("tool_calls") or ()}
        user_turns = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
        question = user_turns[-1] if user_turns else ""
        parts = ["Thanks for reaching out!"]
        found_docs = False
        for message in messages:
            if message.get("role") != "tool":
                continue
            name = call_names.get(message.get("tool_call_id", ""))
            result = json.loads(message.get("content") or "null")
            if name == "search_knowledge_base" and result:
                found_docs = True
                parts.append(_relevant_sentences(result[0]["page_content"], question, 2))
            elif name == "lookup_order" and isinstance(result, dict) and "status" in result:
                parts.append(f"Your order {result['order_id']} is {result['status']}"
                             f" with {result['carrier']} ({result['eta']}).")
            elif name == "check_account" and isinstance(result, dict) and "plan" in result:
                parts.append(f"I can see you are on the {result['plan']} plan.")
        if not found_docs:
            parts.append("I could not find this in our help center, so I have passed your "
                         "question to a human agent.")
        parts.append("Is there anything else I can help with?")
        return {"role": "assistant", "content": " ".join(parts)}


def _relevant_sentences(text: str, question: str, n: int) -> str:
    """The ``n`` sentences of ``text`` sharing most words with ``question``, in text order."""
    body = text.split(": ", 1)[1] if ": " in text[:40] else text
    sentences = re.split(r"(?<=[.!?])\s+", body)
    wanted = set(tokenize(question))
    ranked = sorted(range(len(sentences)),
                    key=lambda i: (-len(wanted & set(tokenize(sentences[i]))), i))
    answer = " ".join(sentences[i] for i in sorted(ranked[:n]))
    return answer[:1].upper() + answer[1:]
