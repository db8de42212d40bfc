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


def test_a_key_no_trace_has_is_warned_about(demo_db: tuple[str, str],
                                            runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", "-f",
                                 "tags.app_versoin = '1.4.0' OR feedback.helpfull = true "
                                 "OR metadata.`mlflow.trace.user` = 'u-1'"])
    assert result.exit_code == 0, result.output
    assert ("Warning: no trace here has the tag 'app_versoin'; did you mean 'app_version'?"
            in result.stderr)
    assert "the assessment 'helpfull'" in result.stderr
    assert "mlflow.trace.user" not in result.stderr  # a key the traces have: no warning
    assert "No traces match." in result.stdout  # the search still ran


def test_keys_that_exist_give_no_warning(demo_db: tuple[str, str], runner: CliRunner) -> None:
    uri, _ = demo_db
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "search", "-f",
                                 "tags.app_version = '1.4.0'", "-n", "1"])
    assert result.exit_code == 0 and "Warning" not in result.stderr
