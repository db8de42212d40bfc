"""docs/cli.md documents the curation commands of ``spanscope traces``.

The Python of docs/assessments.md and docs/tags-and-deletion.md runs in ``tests/test_docs.py``
(which also checks what the assessments example leaves behind).
"""

from __future__ import annotations

import re
from pathlib import Path

from spanscope.cli.traces import traces

DOCS = Path(__file__).parents[2] / "docs"


def test_cli_md_documents_the_curation_commands() -> None:
    text = (DOCS / "cli.md").read_text()
    for name in ("tag", "untag", "delete", "feedback", "expectation"):
        assert name in traces.commands
        assert re.search(rf"^## `spanscope traces {name}`|^## `spanscope traces \w+` and "
                         rf"`{name}`", text, flags=re.MULTILINE), name
        assert f"traces {name}" in text.split("## Global options")[0], name
