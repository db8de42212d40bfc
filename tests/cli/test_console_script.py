"""The installed ``spanscope`` console script, run as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _script() -> str:
    beside = Path(sys.executable).with_name("spanscope")
    found = str(beside) if beside.exists() else shutil.which("spanscope")
    if not found:
        pytest.fail("the spanscope console script is not installed (pip install -e .)")
    return found


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_script(), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_demo_then_list_and_get_through_the_console_script(
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    uri = f"sqlite:///{tmp_path}/proc.db"
    demo = _run("--tracking-uri", uri, "demo", "--traces", "20", "--seed", "3",
                env=cli_env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Traces" in demo.stdout and "What to run next" in demo.stdout
    assert "Traceback" not in demo.stderr

    listed = _run("--tracking-uri", uri, "traces", "list", "-o", "json", "-n", "50",
                  env=cli_env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) == 20

    trace_id = items[0]["trace_id"]
    got = _run("--tracking-uri", uri, "traces", "get", "--trace-id", trace_id,
               env=cli_env, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert data["info"]["trace_id"] == trace_id
    assert any(s["parent_span_id"] is None for s in data["data"]["spans"])

    table = _run("--tracking-uri", uri, "traces", "list", env=cli_env, cwd=tmp_path)
    assert table.returncode == 0 and trace_id in table.stdout


def test_errors_from_the_console_script_are_one_line(tmp_path: Path,
                                                     cli_env: dict[str, str]) -> None:
    uri = f"sqlite:///{tmp_path}/none.db"
    unknown = _run("--tracking-uri", uri, "traces", "get", "tr-" + "f" * 32, env=cli_env,
                   cwd=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stdout == "" and len(unknown.stderr.splitlines()) == 1
    assert unknown.stderr.startswith("Error: ") and "Traceback" not in unknown.stderr

    bad = _run("--tracking-uri", "foo://x", "traces", "list", env=cli_env, cwd=tmp_path)
    assert bad.returncode == 5
    assert len(bad.stderr.splitlines()) == 1 and "foo://x" in bad.stderr

    env = {**cli_env, "SPANSCOPE_TRACKING_URI": "foo://from-env"}
    from_env = _run("traces", "list", env=env, cwd=tmp_path)
    assert from_env.returncode == 5 and "foo://from-env" in from_env.stderr


def test_help_imports_no_heavy_modules(tmp_path: Path) -> None:
    """``spanscope --help`` and ``traces --help`` load neither Rich, SQLAlchemy nor pandas."""
    code = (
        "import sys\n"
        "from spanscope.cli.main import cli\n"
        "for args in (['--help'], ['traces', '--help'], ['demo', '--help']):\n"
        "    try:\n"
        "        cli(args, prog_name='spanscope')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('rich', 'sqlalchemy', 'pandas', 'opentelemetry.sdk')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, check=True)
    assert done.stderr.strip() == "[]", done.stderr
    assert "Usage: spanscope" in done.stdout
