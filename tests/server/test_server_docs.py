"""docs/server.md runs: its curl session against a real ``spanscope server --auth``, and its
Python examples, exactly as written (only the port is changed to a free one)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.server.conftest import ServerProcess, server_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"
MARKER = "<!-- test: runs against the server above"


def _blocks(language: str) -> list[tuple[int, str]]:
    """(offset, code) of every fenced block of ``language``."""
    text = DOC.read_text()
    return [(m.start(), m.group(1)) for m in
            re.finditer(rf"```{language}\n(.*?)```", text, re.DOTALL)]


def test_the_curl_session_runs_against_a_server(tmp_path: Path) -> None:
    text = DOC.read_text()
    start = text.index(MARKER)
    session = next(code for offset, code in _blocks("bash") if offset > start)
    assert "--auth --backend-store-uri sqlite:///team.db" in text[:start]
    with ServerProcess("sqlite:///team.db", "--auth", cwd=tmp_path) as server:
        script = session.replace("127.0.0.1:5000", f"127.0.0.1:{server.port}")
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path,
                                env=server_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = _json_values(result.stdout)  # curl prints bodies back to back
    assert outputs[0] == {"status": "ok"}
    assert outputs[1] == {"trace_ids": ["tr-5f1c0e6a0d6c4f2b9a1e3c7d8b2a4f60"]}
    assert outputs[2]["info"]["tags"]["env"] == "prod"
    assert len(outputs) == 10
    bad_filter = outputs[-1]
    documented = json.loads(re.search(r"```json\n(.*?)```", text, re.DOTALL).group(1))
    assert bad_filter["error_code"] == documented["error_code"] == "BAD_FILTER"
    for key in ("filter_string", "position", "token"):
        assert bad_filter[key] == documented[key], key
    assert f"at position {bad_filter['position']}" in documented["message"]


def _json_values(text: str) -> list[Any]:
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def test_the_python_examples_run(tmp_path: Path) -> None:
    for _, code in _blocks("python"):
        exec(compile(code, str(DOC), "exec"), {"__name__": "docs"})
