"""docs/cli.md documents every ``spanscope retention`` command and option, ``spanscope
storage`` and the privacy options of ``traces delete``."""

from __future__ import annotations

from pathlib import Path

from spanscope.cli.curation import delete_command
from spanscope.cli.retention import retention, storage

CLI_MD = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()


def _options(command: object) -> list[str]:
    return [opt for param in command.params  # type: ignore[attr-defined]
            for opt in param.opts if opt.startswith("--")]


def test_every_retention_command_and_option_is_documented() -> None:
    section = CLI_MD[CLI_MD.index("## `spanscope retention`"):]
    section = section[:section.index("\n## ", 5)]
    for name, command in retention.commands.items():
        assert f"spanscope retention {name}" in section, name
        assert f"retention {name}" in CLI_MD.split("## Global options")[0], name
        for option in _options(command):
            assert option in section, (name, option)


def test_storage_and_privacy_options_are_documented() -> None:
    section = CLI_MD[CLI_MD.index("## `spanscope storage`"):]
    for option in _options(storage):
        assert option in section, option
    deletion = CLI_MD[CLI_MD.index("## `spanscope traces delete`"):]
    deletion = deletion[:deletion.index("\n## ", 5)]
    for option in ("--user-id", "--session-id", "--dataset-records"):
        assert option in _options(delete_command) and option in deletion, option
