"""``traces delete --older-than`` and ``report --since`` read durations the same way.

Both go through ``spanscope.query.parse_duration``: for each duration the traces older
than it (a dry-run delete counts them) and the traces since it (the report counts them)
split the stored traces in two, and the same texts are refused by both.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from factories import make_trace
from spanscope.analysis.selection import parse_time
from spanscope.cli.main import cli
from spanscope.exceptions import InvalidInputError
from spanscope.query import parse_duration
from spanscope.store.sql import SqlStore

HOURS_AGO = (0.5, 1.4, 1.6, 2.5, 30)
HOUR_MS = 3_600_000


@pytest.fixture
def uri(tmp_path: Path) -> str:
    value = f"sqlite:///{tmp_path}/durations.db"
    now = int(time.time() * 1000)
    with SqlStore(value) as store:
        store.log_traces([make_trace(2, request_time=now - int(h * HOUR_MS))
                          for h in HOURS_AGO])
    return value


def _older(runner: CliRunner, uri: str, duration: str) -> int:
    result = runner.invoke(cli, ["--tracking-uri", uri, "traces", "delete", "--older-than",
                                 duration, "--dry-run"])
    assert result.exit_code == 0, result.output
    match = re.match(r"Would delete (\d+) traces?", result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def _since(runner: CliRunner, uri: str, duration: str) -> int:
    result = runner.invoke(cli, ["--tracking-uri", uri, "report", "--since", duration,
                                 "--json"])
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["summary"]["traces"])


@pytest.mark.parametrize(("duration", "hours"), [
    ("90m", 1.5), ("1.5h", 1.5), ("1.5H", 1.5), (" 90 M ", 1.5), ("5400s", 1.5),
    ("2h", 2), ("1d", 24), ("2D", 48), ("1w", 168),
])
def test_older_than_and_since_split_the_traces_alike(runner: CliRunner, uri: str,
                                                     duration: str, hours: float) -> None:
    older = sum(1 for h in HOURS_AGO if h > hours)
    assert _older(runner, uri, duration) == older
    assert _since(runner, uri, duration) == len(HOURS_AGO) - older


@pytest.mark.parametrize("duration", ["30 days", "-3d", "3x", "d", "1.5.2h", "h1", "1e3s"])
def test_both_options_refuse_the_same_texts(runner: CliRunner, uri: str,
                                            duration: str) -> None:
    older = runner.invoke(cli, ["--tracking-uri", uri, "traces", "delete", "--older-than",
                                duration, "--dry-run"])
    assert older.exit_code == 2 and "is not a duration" in older.output, older.output
    since = runner.invoke(cli, ["--tracking-uri", uri, "report", "--since", duration])
    assert since.exit_code != 0 and "is not a time" in since.output, since.output
    with pytest.raises(InvalidInputError, match="is not a duration"):
        parse_duration(duration)


def test_a_time_ago_is_now_minus_the_duration() -> None:
    for text in ("90m", "1.5h", "7d", "2w", "0s"):
        assert parse_time(text, now_ms=10**13) == 10**13 - parse_duration(text)
    with pytest.raises(InvalidInputError, match="10,000 years"):
        parse_duration("99999999999999999w")
