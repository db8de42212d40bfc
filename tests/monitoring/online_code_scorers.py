"""Code scorers the online tests register by import path (``online_code_scorers:NAME``)."""

from __future__ import annotations

from typing import Any

import spanscope
from spanscope.genai.scorers import scorer


@scorer
def span_count(trace: Any) -> int:
    """How many spans the trace has when it is scored (late spans included)."""
    return len(trace.data.spans)


@spanscope.trace(name="helper_inside_scorer")
def _traced_helper(text: str) -> int:
    return len(text)


@scorer
def calls_traced_code(outputs: Any) -> int:
    """Calls a traced function: the online worker must not record it as a trace."""
    return _traced_helper(str(outputs))


@scorer
def broken(outputs: Any) -> bool:
    raise ValueError("this scorer always fails")


@scorer
def slow_span_count(trace: Any) -> int:
    """``span_count``, taking 20 ms: long enough for a test to kill its worker mid-pass."""
    import time

    time.sleep(0.02)
    return len(trace.data.spans)


@scorer
def asks_a_model(outputs: Any) -> str:
    """Calls the (autologged) OpenAI client itself, as an LLM-backed code scorer would."""
    import openai

    client = openai.OpenAI(api_key="local", max_retries=0)
    reply = client.chat.completions.create(
        model="fake-judge", messages=[{"role": "user", "content": str(outputs)}])
    return str(reply.choices[0].message.content)[:20]
