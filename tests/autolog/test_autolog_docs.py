"""docs/autolog.md stays true: its Python runs as is, against the local fake providers."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).parents[2] / "docs" / "autolog.md"


def test_the_python_examples_run_and_print_what_they_say(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write ./autolog-demo.db
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 7
    namespace: dict[str, Any] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for i, block in enumerate(blocks):  # one namespace: later blocks use earlier names
            exec(compile(block, f"autolog.md example {i + 1}", "exec"), namespace)
    out = printed.getvalue().splitlines()
    assert out[0] == "Completions True"
    assert "{'input_tokens': 10, 'output_tokens': 5, 'total_tokens': 15}" in out
    for line in ("15", "True", "search_knowledge_base", "Responses Embeddings EMBEDDING",
                 "429", "ERROR RateLimitError", "['text', 'tool_use']",
                 "Refunds are accepted within 30 days."):
        assert line in out, (line, out)
    assert any("'cache_read_input_tokens': 300" in line for line in out)
    assert "True" in out[out.index("search_knowledge_base") + 1]  # the tools attribute
    assert out.count("True") == 4  # streamed text, first token, tools attribute, restore
    assert out[-3:] == ["['CHAIN', 'CHAT_MODEL', 'RETRIEVER']", "51", "KnowledgeBase"]

