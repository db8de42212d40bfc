"""docs/filter-language.md stays true: its examples parse and its error lines are exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spanscope.exceptions import FilterError
from spanscope.query import parse_filter

DOC = (Path(__file__).parents[2] / "docs" / "filter-language.md").read_text()


def _text_blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", DOC, flags=re.DOTALL)


def test_error_lines_are_what_the_parser_says() -> None:
    blocks = [b for b in _text_blocks() if b.startswith("Invalid filter")]
    lines = [line for block in blocks for line in block.strip().splitlines()]
    assert len(blocks) == 2 and len(lines) >= 9
    for line in lines:
        match = re.match(r'Invalid filter "(.*)" at position \d+: ', line)
        assert match, line
        with pytest.raises(FilterError) as info:
            parse_filter(match.group(1))
        if line.endswith("…"):  # the page shortens the long list of names
            assert str(info.value).startswith(line[:-1]), line
        else:
            assert str(info.value) == line


def test_example_filters_parse() -> None:
    examples = _text_blocks()[0].strip().splitlines()
    (span_block,) = [b for b in _text_blocks() if b.startswith("span.type = 'LLM' AND")]
    span_examples = [line for line in span_block.splitlines()
                     if line.strip() and not line.startswith(" ")]
    assert len(examples) >= 5 and len(span_examples) >= 5
    for text in examples + span_examples:
        assert parse_filter(text) is not None, text
