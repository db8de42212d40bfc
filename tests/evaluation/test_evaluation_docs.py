"""docs/evaluation.md stays true: its Python runs as is, against the local judge server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import spanscope
from spanscope.testing.fake_openai import FakeOpenAI

DOC = Path(__file__).parents[2] / "docs" / "evaluation.md"


def judge(body: dict[str, Any]) -> str:
    """A number when the prompt asks for one, else "yes"."""
    prompt = body["messages"][-1]["content"]
    result: Any = 4 if '"result": <a number>' in prompt else "yes"
    return json.dumps({"result": result, "rationale": "scripted"})


def test_the_python_examples_run(judge_server: FakeOpenAI, tracking_uri: str) -> None:
    judge_server.responder = judge
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 8
    namespace: dict[str, Any] = {}
    for i, block in enumerate(blocks):  # one namespace: later blocks use earlier names
        exec(compile(block, f"evaluation.md example {i + 1}", "exec"), namespace)
    assert namespace["result"].metrics["safety/mean"] == 1.0
    assert namespace["judged"].metrics["helpfulness/mean"] == 4
    assert namespace["diff"].rows["changed"].any()
    assert sorted(namespace["offline"].result_df["safety/value"]) == ["no", "yes"]
    trace = spanscope.get_trace(namespace["new_version"].result_df["trace_id"][0])
    assert {a.name for a in trace.info.assessments} == {"exact_match", "safety"}
