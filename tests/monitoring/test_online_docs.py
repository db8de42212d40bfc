"""docs/online-evaluation.md's examples leave what they say, and docs/cli.md documents the
``spanscope scorers`` commands and ``spanscope evaluate``.

(``tests/test_docs.py`` runs every page; here the page runs once more to check its end
state, in the same kind of environment: a temporary store and the local judge.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import spanscope
from doc_pages import DOCS, run_page
from spanscope import tracking
from spanscope.cli.scorers import scorers
from spanscope.testing import reset_tracing
from spanscope.testing.fake_openai import FakeOpenAI


def test_the_online_evaluation_page_registers_and_scores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPANSCOPE_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the page adds "." to it
    reset_tracing()
    tracking.reset()
    spanscope.set_tracking_uri(f"sqlite:///{tmp_path}/docs.db")
    with FakeOpenAI() as judge:
        monkeypatch.setenv("OPENAI_BASE_URL", judge.url)
        monkeypatch.setenv("SPANSCOPE_JUDGE_MODEL", "openai:/fake-judge")
        namespace = run_page("online-evaluation.md")
        assert judge.request_count == 0  # no trace matches safety; tone and concise are off
    reset_tracing()
    report = namespace["report"]
    assert (report.scored, report.assessments, report.judge_calls) == (3, 3, 0)
    listed = {s.name: s for s in spanscope.genai.scorers.list_scorers()}
    assert sorted(listed) == ["answer_length", "safety", "tone"]
    assert listed["safety"].sample_rate == 0.2 and not listed["tone"].active
    assert listed["tone"].spec["options"]["guidelines"] == "The response is polite."
    for trace in spanscope.search_traces(return_type="list"):
        (assessment,) = trace.info.assessments
        assert assessment.name == "answer_length"
        assert assessment.value == len("Paris is the capital of France.")


def test_cli_md_documents_the_scorers_commands_and_evaluate() -> None:
    text = (DOCS / "cli.md").read_text()
    overview = text.split("## Global options")[0]
    assert "## `spanscope scorers`" in text and "## `spanscope evaluate`" in text
    assert "  evaluate " in overview
    for name in scorers.commands:
        assert f"scorers {name}" in overview, name
        assert f"spanscope scorers {name}" in text, name
