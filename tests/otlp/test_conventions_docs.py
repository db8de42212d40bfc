"""docs/conventions.md stays true: its Python runs, and every attribute its tables name is
one that ``spanscope.tracing.conventions`` really maps (and the reverse)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import spanscope.entities.token_usage as token_usage
import spanscope.tracing.conventions as conventions

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "conventions.md"


def test_the_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) == 2
    for i, block in enumerate(blocks):
        namespace: dict[str, Any] = {}
        exec(compile(block, f"conventions.md example {i + 1}", "exec"), namespace)


def _keys(text: str) -> set[str]:
    """Dotted attribute names in backticks (``gen_ai.prompt.N.role`` style kept as is)."""
    names = set(re.findall(r"`([a-z_]+(?:\.[A-Za-z_N]+)+)`", text))
    return {n for n in names if not n.startswith(("mlflow.", "spanscope.", "tracing.", "span."))}


def test_the_tables_name_what_the_module_maps() -> None:
    doc = _keys(DOC.read_text().split("## Trying a mapping")[0])
    # the cache and reasoning attributes are read by entities.token_usage, which translate calls
    source = Path(conventions.__file__).read_text() + Path(token_usage.__file__).read_text()
    missing_in_code = sorted(k for k in doc if k.replace(".N.", ".") not in source
                             and k.split(".N.")[0] not in source
                             and not k.startswith(("document.", "message.")))
    assert missing_in_code == []
    quoted = set(re.findall(r'"((?:gen_ai|llm|openinference|input|output|traceloop|session|'
                            r'user|enduser|tool|retrieval)\.[a-z_.]+)"', source))
    undocumented = sorted(k for k in quoted if k not in doc and not any(
        d.startswith(k) for d in doc))
    assert undocumented == []
