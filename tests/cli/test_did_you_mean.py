"""Names that can be mistyped get a pointer to the right one, not a bare error."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from spanscope.cli.main import cli


@pytest.mark.parametrize("args", [["traces", "list", "--tracking-uri", "sqlite:///x.db"],
                                  ["report", "--tracking-uri", "sqlite:///x.db"]])
def test_a_global_option_after_the_command_says_where_it_goes(runner: CliRunner,
                                                              args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "--tracking-uri is a global option: it goes before" in result.stderr
    assert f"spanscope --tracking-uri … {' '.join(args[:args.index('--tracking-uri')])}" \
        in result.stderr


def test_other_unknown_options_keep_clicks_message(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["traces", "list", "--bogus"])
    assert result.exit_code == 2 and "No such option '--bogus'" in result.stderr
