"""docs/cli.md documents every ``spanscope runs`` and ``spanscope datasets`` command.

The Python of docs/runs.md and docs/datasets.md runs in ``tests/test_docs.py``.
"""

from __future__ import annotations

from pathlib import Path

from spanscope.cli.datasets import datasets
from spanscope.cli.runs import runs

DOCS = Path(__file__).parents[2] / "docs"


def test_cli_md_documents_the_runs_and_datasets_commands() -> None:
    text = (DOCS / "cli.md").read_text()
    for group, commands in (("runs", runs.commands), ("datasets", datasets.commands)):
        for name in commands:
            assert f"## `spanscope {group} {name}`" in text, (group, name)
            assert f"{group} {name}" in text.split("## Global options")[0], (group, name)
