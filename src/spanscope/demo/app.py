"""The demo app: a customer-support agent instrumented with Spanscope.

Each call of ``SupportAgent.answer`` is one trace::

    support_agent (AGENT)
    ├── plan (CHAT_MODEL)               the LLM decides which tools to call
    ├── search_knowledge_base (RETRIEVER)
    ├── lookup_order (TOOL)             when the question names an order
    ├── check_account (TOOL)            for billing and plan questions
    └── chat (CHAT_MODEL)               the LLM writes the answer from the tool results

A rate-limited LLM call is retried with backoff, so a trace may hold several sibling
``plan``/``chat`` spans, the earlier ones in ERROR. Timeouts, exhausted retries and order
lookup failures propagate and end the trace in ERROR; an unavailable account service is
handled and leaves an ERROR span inside an OK trace. This module is ordinary application
code: the only Spanscope calls are the public ``trace``, ``start_span`` and
``update_current_trace``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import spanscope
from spanscope.demo.latency import SimulatedLatency
from spanscope.demo.profiles import PROFILES, TIME_SCALE
from spanscope.demo.simulated_llm import MODEL_NAME, RateLimitError, SimulatedChatModel
from spanscope.demo.tools import SupportTools

__all__ = ["MAX_ATTEMPTS", "TOOL_SCHEMAS", "RequestContext", "SupportAgent"]

MAX_ATTEMPTS = 3  # LLM calls per step before a rate limit is given up on
PLANNER_PROMPT = ("You are the planner of Acme's customer-support assistant. Decide which "
                  "tools to call to answer the customer's last message. Always search the "
                  "knowledge base; look up orders and accounts only when needed.")
ANSWER_PROMPT = ("You are Acme's customer-support assistant. The customer is on the "
                 "{tier} plan. Answer in a friendly tone using only the tool results; if "
                 "they do not cover the question, hand over to a human agent.")


def _function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties,
                       "required": sorted(properties)}}}


TOOL_SCHEMAS: list[dict[str, Any]] = [
    _function("search_knowledge_base", "Search the help-center FAQ.",
              {"query": {"type": "string"}}),
    _function("lookup_order", "Status, carrier and ETA of an order.",
              {"order_id": {"type": "string"}}),
    _function("check_account", "Plan and billing status of the current customer.", {}),
]


@dataclass(frozen=True)
class RequestContext:
    """What the serving layer knows about a request before the agent runs."""

    client_request_id: str
    session_id: str
    user_id: str
    user_tier: str
    environment: str
    app_version: str
    extra_tags: dict[str, str] = field(default_factory=dict)


class SupportAgent:
    """Answers one customer message (one instance per request, like a request handler)."""

    def __init__(self, context: RequestContext, *, rng: random.Random,
                 time_scale: float = TIME_SCALE,
                 sleep: Callable[[float], None] = time.sleep, outage: float = 0.0) -> None:
        self.context = context
        profile = PROFILES[context.app_version]
        if outage:  # a provider outage: LLM calls time out at least this often
            profile = dataclasses.replace(
                profile, llm_timeout_rate=max(profile.llm_timeout_rate, outage))
        latency = SimulatedLatency(rng, profile, time_scale=time_scale, sleep=sleep)
        self.latency = latency
        self.llm = SimulatedChatModel(latency)
        self.tools = SupportTools(latency, user_id=context.user_id, user_tier=context.user_tier)

    @spanscope.trace(name="support_agent", span_type="AGENT")
    def answer(self, question: str, user_tier: str,
               history: list[dict[str, str]] | None = None) -> str:
        """The reply to ``question``, given the earlier turns of the conversation."""
        ctx = self.context
        spanscope.update_current_trace(
            tags={"environment": ctx.environment, "app_version": ctx.app_version,
                  "user_tier": ctx.user_tier, **ctx.extra_tags},
            client_request_id=ctx.client_request_id,
            session_id=ctx.session_id,
            user_id=ctx.user_id,
        )
        turns = [*(history or []), {"role": "user", "content": question}]
        plan = self._chat("plan", [{"role": "system", "content": PLANNER_PROMPT}, *turns],
                          tools=TOOL_SCHEMAS, temperature=0.0)
        decision = plan["choices"][0]["message"]
        results = [self._run_tool(call) for call in decision.get("tool_calls") or ()]
        system = {"role": "system", "content": ANSWER_PROMPT.format(tier=user_tier)}
        completion = self._chat("chat", [system, *turns, decision, *results])
        return str(completion["choices"][0]["message"]["content"])

    def _chat(self, name: str, messages: list[dict[str, Any]], *,
              tools: list[dict[str, Any]] | None = None,
              temperature: float = 0.2) -> dict[str, Any]:
        """One LLM step, retried with exponential backoff while rate limited."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._chat_once(name, messages, tools, temperature, attempt)
            except RateLimitError:
                if attempt == MAX_ATTEMPTS:
                    raise
                self.latency.spend(500 * 2 ** (attempt - 1), sigma=0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    def _chat_once(self, name: str, messages: list[dict[str, Any]],
                   tools: list[dict[str, Any]] | None, temperature: float,
                   attempt: int) -> dict[str, Any]:
        with spanscope.start_span(name, span_type="CHAT_MODEL") as span:
            inputs: dict[str, Any] = {"model": MODEL_NAME, "messages": messages,
                                      "temperature": temperature}
            if tools:
                inputs["tools"] = tools
            span.set_inputs(inputs)
            span.set_attributes({"llm.provider": "simulated", "llm.model": MODEL_NAME,
                                 "attempt": attempt})
            completion = self.llm.create(messages, tools=tools, temperature=temperature)
            span.set_outputs(completion)
            return completion

    def _run_tool(self, call: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call and wrap its result as a ``tool`` message."""
        name = call["function"]["name"]
        args = json.loads(call["function"]["arguments"] or "{}")
        result: Any
        if name == "search_knowledge_base":
            result = self.tools.search_knowledge_base(args["query"])
        elif name == "lookup_order":
            result = self.tools.lookup_order(args["order_id"])  # failures end the request
        elif name == "check_account":
            try:
                result = self.tools.check_account(self.context.user_id)
            except ConnectionError as exc:  # nice to have: answer without account details
                result = {"error": str(exc)}
        else:
            result = {"error": f"unknown tool {name!r}"}
        return {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
