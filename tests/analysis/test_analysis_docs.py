"""docs/analysis.md and docs/cli.md stay true to the code: kinds, thresholds, options."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from spanscope.analysis.diagnose import Thresholds
from spanscope.analysis.findings import KIND_PRIORITY
from spanscope.cli.analyze import analyze_command

DOCS = Path(__file__).parents[2] / "docs"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^#{1,4} ", text[start + len(heading):], re.MULTILINE)
    return text[start: start + len(heading) + following.start()] if following else text[start:]


def test_the_kinds_table_lists_every_kind_in_ranking_order() -> None:
    text = (DOCS / "analysis.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| (?:high|medium|low)", text, re.MULTILINE)
    assert rows == list(KIND_PRIORITY)


def test_every_threshold_is_documented_with_its_default() -> None:
    table = _section((DOCS / "analysis.md").read_text(), "#### Thresholds")
    documented = dict(re.findall(r"^\| `(\w+)` \| ([\d.]+) \|", table, re.MULTILINE))
    defaults = {f.name: f.default for f in dataclasses.fields(Thresholds)}
    assert set(documented) == set(defaults)
    for name, default in defaults.items():
        assert float(documented[name]) == float(default), name  # type: ignore[arg-type]


def test_both_sections_exist() -> None:
    text = (DOCS / "analysis.md").read_text()
    assert "\n## One trace\n" in text and "\n## Many traces\n" in text


def test_cli_md_documents_every_analyze_option() -> None:
    section = _section((DOCS / "cli.md").read_text(), "## `spanscope traces analyze`")
    for param in analyze_command.params:
        for option in getattr(param, "opts", []):
            if option.startswith("--"):
                assert f"`{option}" in section, option
