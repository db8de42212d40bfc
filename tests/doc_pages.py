"""The documentation's Python examples, read and run the one way every doc test uses.

A page's examples are its fenced blocks whose info string starts with ``python``. They run
in page order, in one namespace (a later block may use names from an earlier one), so a
page reads like a session. A block that cannot run in a test (it needs a server, a
network, a real API key, or it blocks) says so in its info string, which GitHub still
renders as Python::

    ```python no-run
    spanscope.set_tracking_uri("http://tracking.example:5000")
    ```

``tests/test_docs.py`` runs every page of ``docs/`` and ``README.md``; other tests call
``run_page`` to check what a page's examples leave behind.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
NO_RUN = "no-run"

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced Python block: where it starts, its code, whether it is marked no-run."""

    page: str
    line: int
    code: str
    runs: bool


def pages() -> list[Path]:
    """Every page whose examples must run: ``README.md`` and ``docs/*.md``."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def python_blocks(page: Path) -> list[Block]:
    """The page's ``python`` blocks in order (marked ``no-run`` ones included)."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        words = match.group("info").split()
        if not words or words[0] != "python":
            continue
        line = text.count("\n", 0, match.start()) + 2  # the first line of code
        found.append(Block(page.name, line, match.group("body"), NO_RUN not in words[1:]))
    return found


def run_page(page: Path | str) -> dict[str, Any]:
    """Run the page's runnable blocks in order in one namespace; return the namespace.

    The caller provides the environment (working directory, tracking URI). A failing
    block's traceback names the page and the block's first line.
    """
    path = page if isinstance(page, Path) else DOCS / page
    namespace: dict[str, Any] = {"__name__": f"docs.{path.stem}"}
    for block in python_blocks(path):
        if block.runs:
            # leading newlines so traceback line numbers are the page's own
            code = "\n" * (block.line - 1) + block.code
            exec(compile(code, str(path.relative_to(ROOT)), "exec"), namespace)
    return namespace
