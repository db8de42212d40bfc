"""The "Remote tracking" section of docs/server.md runs as written against a real
``spanscope server --auth`` (only the port and the key are filled in)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from remote_server import ServerProcess, child_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "server.md"
MARKER = "<!-- test: remote session"


def _section() -> str:
    text = DOC.read_text()
    start = text.index("## Remote tracking")
    return text[start:text.index("\n## ", start + 1)]


def test_the_remote_session_runs(tmp_path: Path) -> None:
    section = _section()
    setup, session = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)[:2]
    assert section.index(MARKER) < section.index(session)
    assert "spanscope server --auth --backend-store-uri sqlite:///team.db" in setup
    server = ServerProcess("sqlite:///team.db", tmp_path, args=("--auth",)).start()
    try:
        make_key = setup.splitlines()[1].split("#")[0]
        created = subprocess.run(["bash", "-c", make_key], cwd=tmp_path, env=child_env(),
                                 capture_output=True, text=True, timeout=60, check=True)
        key = created.stdout.splitlines()[0].strip()
        script = (session.replace("127.0.0.1:5000", f"127.0.0.1:{server.port}")
                  .replace("sk-your-key", key))
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path,
                              env=child_env(), capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1"  # the experiment id the session then exports
    assert re.fullmatch(r"bad filter at position \d+", lines[1])
    assert "tr-" in done.stdout  # the tagged trace, found by the CLI
    assert lines[-1] == "1"  # the report counts the one trace
