"""Every Python example in ``docs/`` and ``README.md`` runs, so no example can rot.

The rule (``tests/doc_pages.py``): each page's ```` ```python ```` blocks run in page order
in one namespace, in a fresh temporary directory, with a temporary SQLite tracking URI
(also in ``SPANSCOPE_TRACKING_URI``) and a local OpenAI-compatible judge server for the
LLM-judge examples. A block that cannot run here (it needs a server, the network, a real
API key, or blocks) is written ```` ```python no-run ````; GitHub still highlights it.
A page with no Python simply has nothing to run. Pages whose examples leave something to
check afterwards have a check in ``AFTER``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import spanscope
from doc_pages import NO_RUN, pages, python_blocks, run_page
from spanscope import tracking
from spanscope.testing import reset_tracing
from spanscope.testing.fake_openai import FakeOpenAI

PAGES = {page.name: page for page in pages()}


def _judge(body: dict[str, Any]) -> str:
    """The local judge's verdict: a number when the prompt asks for one, else "yes"."""
    prompt = body["messages"][-1]["content"]
    result: Any = 4 if '"result": <a number>' in prompt else "yes"
    return json.dumps({"result": result, "rationale": "scripted"})


@pytest.fixture
def page_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A temporary directory and tracking URI, and a judge server, for one page."""
    monkeypatch.chdir(tmp_path)
    for name in ("SPANSCOPE_EXPERIMENT_ID", "SPANSCOPE_ARTIFACT_ROOT", "OPENAI_API_KEY",
                 "SPANSCOPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path}/docs.db"
    monkeypatch.setenv("SPANSCOPE_TRACKING_URI", uri)
    reset_tracing()
    tracking.reset()
    spanscope.set_tracking_uri(uri)
    with FakeOpenAI() as judge:
        judge.responder = _judge
        monkeypatch.setenv("OPENAI_BASE_URL", judge.url)
        monkeypatch.setenv("SPANSCOPE_JUDGE_MODEL", "openai:/fake-judge")
        monkeypatch.setenv("SPANSCOPE_JUDGE_TIMEOUT", "5")
        monkeypatch.setenv("SPANSCOPE_JUDGE_MAX_RETRIES", "3")
        monkeypatch.setenv("SPANSCOPE_JUDGE_RETRY_BACKOFF", "0.01")
        yield uri
        while spanscope.active_run() is not None:
            spanscope.end_run()
        reset_tracing()


def _assessments(namespace: dict[str, Any]) -> None:
    trace = spanscope.get_trace(str(namespace["trace_id"]))
    kinds = [(a.name, a.kind, a.valid) for a in trace.info.assessments]
    assert kinds == [("correctness", "feedback", True), ("relevance", "feedback", True),
                     ("safety", "feedback", True), ("expected_response", "expectation", True),
                     ("expected_facts", "expectation", True), ("helpful", "feedback", False),
                     ("helpful", "feedback", True)]
    assert str(trace.info.state) == "OK"  # the failed "safety" judge did not change it


def _evaluation(namespace: dict[str, Any]) -> None:
    assert namespace["result"].metrics["safety/mean"] == 1.0
    assert namespace["judged"].metrics["helpfulness/mean"] == 4
    assert namespace["diff"].rows["changed"].any()
    assert sorted(namespace["offline"].result_df["safety/value"]) == ["no", "yes"]
    trace = spanscope.get_trace(namespace["new_version"].result_df["trace_id"][0])
    assert {a.name for a in trace.info.assessments} == {"exact_match", "safety"}


AFTER: dict[str, Callable[[dict[str, Any]], None]] = {
    "assessments.md": _assessments,
    "evaluation.md": _evaluation,
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_python_examples_run(name: str, page_env: str) -> None:
    namespace = run_page(PAGES[name])
    if name in AFTER:
        AFTER[name](namespace)


def test_fence_info_is_python_or_python_no_run() -> None:
    """A typo such as ``python norun`` would silently run (or skip) a block: refuse it."""
    for page in PAGES.values():
        for block in python_blocks(page):
            words = page.read_text().splitlines()[block.line - 2].strip("`").split()
            assert words in (["python"], ["python", NO_RUN]), (page.name, block.line)


def test_the_pages_that_teach_have_examples_that_run() -> None:
    """Each page with Python keeps most of it runnable: no-run is for the exceptions."""
    for name in ("README.md", "tracing.md", "analysis.md", "assessments.md", "runs.md",
                 "datasets.md", "evaluation.md", "tags-and-deletion.md"):
        blocks = python_blocks(PAGES[name])
        assert sum(block.runs for block in blocks) >= max(1, len(blocks) // 2), name


def test_after_checks_name_real_pages() -> None:
    assert set(AFTER) <= set(PAGES)


def test_the_readme_layout_lists_every_package_and_module() -> None:
    """A new package gets its line in the README's Layout, so the map stays whole."""
    readme = PAGES["README.md"].read_text()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n```\n", layout.index("```") + 3)]
    package = Path(spanscope.__file__).parent
    names = sorted(f"{p.name}/" for p in package.iterdir()
                   if p.is_dir() and (p / "__init__.py").exists())
    names += sorted(p.name for p in package.glob("*.py") if p.name != "__main__.py")
    listed = {line.split()[0] for line in layout.splitlines() if line.startswith("  ")}
    assert [name for name in names if name not in listed] == []


def test_the_readme_links_every_docs_page() -> None:
    readme = PAGES["README.md"].read_text()
    unlinked = [name for name in PAGES if name != "README.md" and f"(docs/{name})" not in readme]
    assert unlinked == []
