"""``correlate``: does one number of a trace move with another?

Fields (per trace): ``latency_ms`` (also ``execution_time_ms``), ``tokens.total`` /
``tokens.input`` / ``tokens.output``, ``span_count``, ``request_time``, ``tags.KEY`` and
``metadata.KEY`` values that read as numbers, and assessment values (``feedback.NAME``,
``expectation.NAME``, ``assessments.NAME.value``: the latest valid one of that name;
booleans count as 1 and 0). The store returns the pairs of traces that have both as
numbers; Pearson's r, Spearman's rho and their two-sided p-values are computed here
(``spanscope.analysis.stats``). A field none of whose values is a number is an
``InvalidInputError`` that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spanscope.analysis.selection import (
    TimeLike,
    describe,
    make_selection,
    no_traces,
    store_for,
)
from spanscope.analysis.stats import pearson, spearman
from spanscope.exceptions import FilterError, InvalidInputError
from spanscope.store.aggregates import FieldCoverage, NumericField, Selection, as_dict

if TYPE_CHECKING:
    from spanscope.store.base import AnalyticsStore

__all__ = ["Correlation", "correlate", "parse_numeric_field"]

_ATTRIBUTE_ALIASES = {
    "latency_ms": "latency_ms", "latency": "latency_ms", "duration_ms": "latency_ms",
    "execution_time_ms": "latency_ms", "execution_time": "latency_ms",
    "execution_duration": "latency_ms", "execution_duration_ms": "latency_ms",
    "tokens.total": "total_tokens", "tokens.input": "input_tokens",
    "tokens.output": "output_tokens", "total_tokens": "total_tokens",
    "input_tokens": "input_tokens", "output_tokens": "output_tokens",
    "span_count": "span_count", "spans": "span_count",
    "request_time": "request_time", "timestamp_ms": "request_time", "timestamp": "request_time",
}
FIELDS_HELP = ("numeric fields are latency_ms, tokens.total, tokens.input, tokens.output, "
               "span_count, request_time, tags.KEY, metadata.KEY, feedback.NAME, "
               "expectation.NAME or assessments.NAME.value")


def parse_numeric_field(text: str) -> NumericField:
    """A field name as written (``tag.quality_score``) to the store's ``NumericField``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"a field must be a non-empty string, got {text!r}; "
                                f"{FIELDS_HELP}")
    plain = text.strip()
    lowered = plain.lower()
    for prefix in ("attributes.", "attribute.", "trace."):
        if lowered.startswith(prefix) and lowered[len(prefix):] in _ATTRIBUTE_ALIASES:
            lowered = lowered[len(prefix):]
    if lowered in _ATTRIBUTE_ALIASES:
        return NumericField("attribute", _ATTRIBUTE_ALIASES[lowered])
    from spanscope.query import (
        AssessmentValue,
        Attribute,
        AttributeName,
        Metadata,
        Tag,
        parse_field,
    )

    try:
        field = parse_field(plain, what="field")
    except FilterError as exc:
        raise InvalidInputError(f"unknown field {plain!r}; {FIELDS_HELP}") from exc
    if isinstance(field, Tag):
        return NumericField("tag", field.key)
    if isinstance(field, Metadata):
        return NumericField("metadata", field.key)
    if isinstance(field, AssessmentValue):
        return NumericField("assessment", field.name)
    if isinstance(field, Attribute):
        if field.name is AttributeName.EXECUTION_DURATION:
            return NumericField("attribute", "latency_ms")
        if field.name is AttributeName.REQUEST_TIME:
            return NumericField("attribute", "request_time")
        raise InvalidInputError(f"{plain!r} is not a numeric field; {FIELDS_HELP}")
    raise InvalidInputError(f"cannot correlate {plain!r}; {FIELDS_HELP}")


@dataclass
class Correlation:
    """Pearson and Spearman coefficients of ``x`` and ``y`` over ``n`` traces.

    Coefficients and p-values are None when undefined (fewer than 3 pairs, or a field
    that does not vary). ``x_coverage``/``y_coverage`` say how many selected traces had
    the field and how many of those as a number.
    """

    x: str
    y: str
    n: int
    pearson: float | None
    pearson_p: float | None
    spearman: float | None
    spearman_p: float | None
    x_coverage: FieldCoverage
    y_coverage: FieldCoverage
    selection: Selection

    @property
    def summary(self) -> str:
        if self.pearson is None or self.spearman is None:
            return (f"{self.x} and {self.y}: not enough varying pairs to correlate "
                    f"(n={self.n})")
        strength = abs(self.spearman)
        word = ("no" if strength < 0.1 else "a weak" if strength < 0.3
                else "a moderate" if strength < 0.6 else "a strong")
        sign = "" if word == "no" else (" positive" if self.spearman > 0 else " negative")
        return (f"{self.x} and {self.y}: {word}{sign} relationship over {self.n:,} traces "
                f"(Spearman {self.spearman:+.3f}, {_p(self.spearman_p)}; "
                f"Pearson {self.pearson:+.3f}, {_p(self.pearson_p)})")

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "n": self.n, "pearson": self.pearson,
                "pearson_p": self.pearson_p, "spearman": self.spearman,
                "spearman_p": self.spearman_p, "x_coverage": as_dict(self.x_coverage),
                "y_coverage": as_dict(self.y_coverage), "summary": self.summary,
                "selection": as_dict(self.selection)}


def _p(value: float | None) -> str:
    if value is None:
        return "p undefined"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _check_numeric(name: str, coverage: FieldCoverage, selection: Selection) -> None:
    if coverage.present == 0:
        raise InvalidInputError(f"no selected trace has {name} ({describe(selection)})")
    if coverage.numeric == 0:
        example = f" (e.g. {coverage.example!r})" if coverage.example is not None else ""
        raise InvalidInputError(f"{name} is not numeric: none of its {coverage.present:,} "
                                f"values reads as a number{example}")


def correlate(
    x: str,
    y: str,
    filter_string: str | None = None,
    *,
    experiment_ids: Sequence[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    store: AnalyticsStore | None = None,
) -> Correlation:
    """Correlation of two numeric fields over the traces matching ``filter_string``
    (default: every trace of the active experiment), e.g.
    ``correlate("tag.quality_score", "tokens.total")``."""
    x_field, y_field = parse_numeric_field(x), parse_numeric_field(y)
    selection = make_selection(filter_string, experiment_ids, start, end)
    reader = store_for(store)
    pairs = reader.numeric_pairs(selection, x_field, y_field)
    if pairs.x_coverage.present == 0 and pairs.y_coverage.present == 0 and not \
            reader.trace_stats(selection, quantiles=()):
        raise no_traces(selection)
    _check_numeric(x, pairs.x_coverage, selection)
    _check_numeric(y, pairs.y_coverage, selection)
    r, r_p = pearson(pairs.x, pairs.y)
    rho, rho_p = spearman(pairs.x, pairs.y)
    if len(pairs.x) < 3:
        r_p = rho_p = None
    return Correlation(x=x, y=y, n=len(pairs.x), pearson=r, pearson_p=r_p, spearman=rho,
                       spearman_p=rho_p, x_coverage=pairs.x_coverage,
                       y_coverage=pairs.y_coverage, selection=selection)
