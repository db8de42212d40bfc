"""docs/runs.md and docs/datasets.md stay true: their Python runs as is, and docs/cli.md
documents every ``spanscope runs`` and ``spanscope datasets`` command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import spanscope
import spanscope.tracing as tracing
from spanscope.cli.datasets import datasets
from spanscope.cli.runs import runs

DOCS = Path(__file__).parents[2] / "docs"


@pytest.fixture(autouse=True)
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPANSCOPE_ARTIFACT_ROOT", raising=False)
    tracing.reset_for_tests()
    value = f"sqlite:///{tmp_path}/docs.db"
    spanscope.set_tracking_uri(value)
    yield value
    while spanscope.active_run() is not None:
        spanscope.end_run()
    tracing.reset_for_tests()


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("name", ["runs.md", "datasets.md"])
def test_the_python_examples_run(name: str) -> None:
    blocks = python_blocks(name)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {}
    for block in blocks:  # one namespace: later blocks use names from earlier ones
        exec(compile(block, f"{name} example", "exec"), namespace)


def test_cli_md_documents_the_runs_and_datasets_commands() -> None:
    text = (DOCS / "cli.md").read_text()
    for group, commands in (("runs", runs.commands), ("datasets", datasets.commands)):
        for name in commands:
            assert f"## `spanscope {group} {name}`" in text, (group, name)
            assert f"{group} {name}" in text.split("## Global options")[0], (group, name)
