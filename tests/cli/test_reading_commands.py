"""Reading commands never create a store, and name the path they looked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spanscope.cli.main import cli

TRACE = "tr-" + "0" * 32
LISTING = [["traces", "list"], ["traces", "search", "-f", "attributes.status = 'OK'"],
           ["runs", "list"], ["datasets", "list"]]
NEEDING = [["traces", "get", TRACE], ["traces", "analyze", TRACE], ["report"],
           ["runs", "show", "abc"], ["datasets", "show", "faq"],
           ["datasets", "export", "faq", "out.csv"]]


@pytest.mark.parametrize("args", LISTING, ids=lambda a: " ".join(a[:2]))
def test_listing_commands_say_there_is_no_store(tmp_path: Path, runner: CliRunner,
                                                args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"No Spanscope store at {tmp_path / 'spanscope.db'}" in result.stderr
    assert "spanscope demo" in result.stderr and result.stdout == ""  # pipes read nothing
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", NEEDING, ids=lambda a: " ".join(a[:2]))
def test_commands_needing_data_fail_with_the_path(tmp_path: Path, runner: CliRunner,
                                                  args: list[str]) -> None:
    result = runner.invoke(cli, ["--tracking-uri", "sqlite:///other.db", *args])
    assert result.exit_code == 1, result.output
    assert f"No Spanscope store at {tmp_path / 'other.db'}" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["traces", "list"], ["demo", "--traces", "1"]],
                         ids=["read", "write"])
def test_a_missing_directory_is_named(tmp_path: Path, runner: CliRunner,
                                      args: list[str]) -> None:
    result = runner.invoke(cli, ["--tracking-uri", "sqlite:///no/such/dir/x.db", *args])
    assert result.exit_code == 5, result.output
    assert f"the directory {tmp_path / 'no/such/dir'}" in result.stderr
    assert "three slashes" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_store_is_read(demo_db: tuple[str, str], runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "list", "-n", "1"])
    assert result.exit_code == 0 and "No Spanscope store" not in result.stdout
