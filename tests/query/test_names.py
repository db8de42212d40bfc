"""One identifier or one duration on its own, read by the filter language's tokenizer."""

from __future__ import annotations

import pytest

from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.query import (
    AssessmentValue,
    Attribute,
    AttributeName,
    Metadata,
    Segment,
    Tag,
    parse_duration,
    parse_field,
    parse_filter,
    parse_identifier,
)


@pytest.mark.parametrize(("text", "field"), [
    ("tags.env", Tag("env")), ("tag.`a.b`", Tag("a.b")), ('TAGS."x y"', Tag("x y")),
    ("metadata.mlflow.user", Metadata("mlflow.user")), ("timestamp", Attribute(
        AttributeName.REQUEST_TIME)), ("feedback.quality", AssessmentValue("quality",
                                                                          "feedback")),
    ("  tags.env  ", Tag("env")),
])
def test_parse_field_names_what_a_filter_compares(text: str, field: object) -> None:
    assert parse_field(text) == field
    node = parse_filter(f"{text} = '1'")
    assert node.field == field  # type: ignore[union-attr]


def test_parse_identifier_keeps_segments_and_quotes() -> None:
    assert parse_identifier("`my.tool`.outputs.0") == (
        Segment("my.tool", True, 0), Segment("outputs", False, 10), Segment("0", False, 18))


@pytest.mark.parametrize(("text", "fragment", "position"), [
    ("", "found nothing", 0), ("tags.env DESC", "expected the end", 9),
    ("'env'", "found string", 0), ("tags.`env", "unterminated", 5),
    ("tags.env = 1", "expected the end", 9),
])
def test_not_one_identifier_is_a_filter_error(text: str, fragment: str,
                                              position: int) -> None:
    with pytest.raises(FilterError, match=fragment) as info:
        parse_identifier(text, what="group_by")
    assert info.value.position == position
    assert "group_by" in str(info.value)


def test_unknown_field_is_a_filter_error() -> None:
    with pytest.raises(FilterError, match="unknown identifier"):
        parse_field("colour.red")


@pytest.mark.parametrize(("text", "ms"), [
    ("90m", 5_400_000), ("1.5h", 5_400_000), ("1.5H", 5_400_000), (" 2 d ", 172_800_000),
    ("1w", 604_800_000), ("0s", 0), ("0.5s", 500),
])
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "5", "m", "-1d", "1.d", "1 day", "1e3s", "1h30m", None])
def test_bad_durations_name_the_option(text: object) -> None:
    with pytest.raises(InvalidInputError, match=r"--since .* is not a duration"):
        parse_duration(text, what="--since")  # type: ignore[arg-type]


def test_no_layer_reads_text_with_the_query_internals() -> None:
    """Outside ``spanscope.query`` text is parsed through its public functions only."""
    import re
    from pathlib import Path

    import spanscope

    internal = re.compile(r"^\s*(from|import) spanscope\.query\.(lexer|fields|names|"
                          r"durations|entity_filter|order_by|parser)\b", re.MULTILINE)
    src = Path(spanscope.__file__).parent
    offenders = [str(path.relative_to(src)) for path in src.rglob("*.py")
                 if path.parent.name != "query" and internal.search(path.read_text())]
    assert offenders == []
