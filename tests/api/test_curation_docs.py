"""docs/assessments.md and docs/tags-and-deletion.md stay true: their Python runs as is,
and docs/cli.md documents the curation commands of ``spanscope traces``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import spanscope
import spanscope.tracing as tracing
from spanscope.cli.traces import traces

DOCS = Path(__file__).parents[2] / "docs"


@pytest.fixture(autouse=True)
def uri(tmp_path: Path) -> Iterator[str]:
    tracing.reset_for_tests()
    value = f"sqlite:///{tmp_path}/docs.db"
    spanscope.set_tracking_uri(value)
    yield value
    tracing.reset_for_tests()


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("name", ["assessments.md", "tags-and-deletion.md"])
def test_the_python_examples_run(name: str) -> None:
    blocks = python_blocks(name)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:  # one namespace: later blocks use names from earlier ones
        exec(compile(block, f"{name} example", "exec"), namespace)


def test_the_assessment_example_leaves_what_it_says() -> None:
    namespace: dict[str, object] = {}
    for block in python_blocks("assessments.md"):
        exec(compile(block, "assessments.md example", "exec"), namespace)
    trace = spanscope.get_trace(str(namespace["trace_id"]))
    kinds = [(a.name, a.kind, a.valid) for a in trace.info.assessments]
    assert kinds == [("correctness", "feedback", True), ("relevance", "feedback", True),
                     ("safety", "feedback", True), ("expected_response", "expectation", True),
                     ("expected_facts", "expectation", True), ("helpful", "feedback", False),
                     ("helpful", "feedback", True)]
    assert str(trace.info.state) == "OK"  # the failed "safety" judge did not change it


def test_cli_md_documents_the_curation_commands() -> None:
    text = (DOCS / "cli.md").read_text()
    for name in ("tag", "untag", "delete", "feedback", "expectation"):
        assert name in traces.commands
        assert re.search(rf"^## `spanscope traces {name}`|^## `spanscope traces \w+` and "
                         rf"`{name}`", text, flags=re.MULTILINE), name
        assert f"traces {name}" in text.split("## Global options")[0], name
