"""Fixtures for the CLI and demo tests: a Click runner and an isolated working directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

if TYPE_CHECKING:
    from spanscope.entities import Trace


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in an empty directory with no tracking settings from the environment, and no
    terminal size (pytest-xdist's workers set ``COLUMNS=80``; tables honour it when piped).

    After the test, drain the SDK's export queue so no trace from this test lands in the
    next test's store (the shared ``_reset_tracking`` fixture then closes the stores).
    """
    monkeypatch.chdir(tmp_path)
    for name in ("SPANSCOPE_TRACKING_URI", "SPANSCOPE_EXPERIMENT_ID", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    yield
    import spanscope

    spanscope.flush(timeout=30)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for subprocess runs: the caller's, minus tracking settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPANSCOPE_TRACKING_URI", "SPANSCOPE_EXPERIMENT_ID")}
    env["COLUMNS"] = "200"
    return env


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A SQLite file holding one ``spanscope demo --traces 40 --seed 1`` run (read only).

    Returns ``(uri, demo stdout)``.
    """
    from spanscope.cli.main import cli

    uri = f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.db"
    result = CliRunner().invoke(
        cli, ["--tracking-uri", uri, "demo", "--traces", "40", "--seed", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    return uri, result.stdout


@pytest.fixture
def read_traces() -> Callable[..., list[Trace]]:
    """``read_traces(uri, include_spans=True)``: every trace in ``uri``, newest first."""
    import spanscope

    def read(uri: str, *, include_spans: bool = True) -> list[Trace]:
        spanscope.set_tracking_uri(uri)
        return list(spanscope.search_traces(max_results=10_000, return_type="list",
                                            include_spans=include_spans))

    return read
