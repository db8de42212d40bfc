"""Hypothesis strategies: random traces and random valid filters that hit them.

Values come from small shared pools, so generated filters often match some traces and
often do not: a compiler that disagrees with the reference evaluator shows up quickly.
The store's compiler tests can reuse these (``from filter_strategies import traces,
filters`` once ``tests/query`` is on ``sys.path``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from spanscope.entities import (
    AssessmentError,
    Expectation,
    Feedback,
    Span,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    Trace,
    TraceData,
    TraceInfo,
)

__all__ = ["filters", "leaf_filters", "quote", "traces"]

T0 = 1_688_169_600_000  # 2023-07-01T00:00:00Z
TIMES = [T0 - 86_400_000, T0 - 1, T0, T0 + 1, T0 + 3_600_000]
TEXTS = ["prod", "Prod", "dev", "0.55", "0.9", "10", "1e3", "true", "True", "false", "high",
         "", "agent", "LLM", "Paris", "it's", "é", "a_b", "a%b", "back\\slash"]
TAG_KEYS = ["env", "quality_score", "a.b", "my key", "flag"]
METADATA_KEYS = ["mlflow.trace.session", "mlflow.trace.user", "team", "version"]
SPAN_NAMES = ["agent", "llm", "retrieve", "Tool_1", "a%b"]
SPAN_TYPES = ["LLM", "TOOL", "RETRIEVER", "AGENT", "custom"]
ASSESSMENT_NAMES = ["correct", "relevance", "tone"]
NUMBERS = [0, 0.5, 0.55, 0.7, 1, 3, 10, 500, 750, -1, 1e3]
STRING_PATTERNS = ["%", "prod", "Pro%", "%o%", "_", "a\\_b", "0.%", "%é", "Paris", "%s"]
REGEXES = ["^p", "d$", "[0-9]+", "a|b", ".*", "^$", "(?i)paris"]


json_scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(NUMBERS),
                         st.sampled_from(TEXTS))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["q", "a", "0", "content"]),
                                            inner, max_size=3)),
    max_leaves=6)
payloads = st.one_of(
    st.none(), json_values,
    st.builds(lambda q: {"question": q}, st.sampled_from(TEXTS)),
    st.builds(lambda c: {"messages": [{"role": "user", "content": c}]},
              st.sampled_from(TEXTS)))


@st.composite
def _span(draw: st.DrawFn, trace_id: str, index: int, parent: str | None) -> Span:
    start = T0 * 1_000_000 + index * 1_000_000
    duration_ms = draw(st.sampled_from([None, 0, 1, 499.999999, 500, 750, 1500]))
    end = None if duration_ms is None else start + round(duration_ms * 1_000_000)
    attributes = draw(st.dictionaries(
        st.sampled_from(["retries", "model", "mlflow.llm.model", "flag"]), json_scalars,
        max_size=3))
    return Span.build(
        trace_id=trace_id, span_id=f"{index + 1:016x}", parent_id=parent,
        name=draw(st.sampled_from(SPAN_NAMES)), start_time_ns=start, end_time_ns=end,
        span_type=draw(st.sampled_from(SPAN_TYPES)),
        inputs=draw(payloads) if parent is None else None,
        outputs=draw(payloads) if parent is None else draw(st.none() | json_scalars),
        attributes=attributes,
        status=SpanStatus(draw(st.sampled_from(list(SpanStatusCode)))),
        events=draw(st.lists(st.builds(
            lambda name, message: SpanEvent(name, start, {"exception.message": message}),
            st.sampled_from(["exception", "exception", "retry"]),
            st.sampled_from(TEXTS) | json_scalars), max_size=2)))


@st.composite
def _assessment(draw: st.DrawFn, index: int) -> Feedback | Expectation:
    common = {"name": draw(st.sampled_from(ASSESSMENT_NAMES)),
              "create_time_ms": draw(st.sampled_from([1, 2, 3])),
              "assessment_id": f"a-{draw(st.integers(0, 3))}{index}",
              "valid": draw(st.booleans())}
    if draw(st.booleans()):
        if draw(st.integers(0, 5)) == 0:
            return Feedback(error=AssessmentError("TIMEOUT", "judge timed out"), **common)
        return Feedback(value=draw(json_values), **common)
    return Expectation(value=draw(json_values), **common)


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """A random trace: 0-4 spans (root first), tags, metadata, assessments."""
    trace_id = "tr-" + draw(st.sampled_from(["0" * 32, "1" * 32, "abc" + "0" * 29]))
    root = "0000000000000001"
    n_spans = draw(st.integers(0, 4))
    spans = [draw(_span(trace_id, i, None if i == 0 else root)) for i in range(n_spans)]
    info = TraceInfo(
        trace_id=trace_id,
        request_time=draw(st.sampled_from(TIMES)),
        execution_duration=draw(st.sampled_from([None, 0, 5, 500, 1500])),
        state=draw(st.sampled_from(["OK", "ERROR", "IN_PROGRESS"])),
        client_request_id=draw(st.sampled_from([None, "req-1", "req-2"])),
        tags=draw(st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TEXTS),
                                  max_size=4)),
        trace_metadata=draw(st.dictionaries(st.sampled_from(METADATA_KEYS),
                                            st.sampled_from(TEXTS), max_size=3)),
        assessments=[draw(_assessment(i)) for i in range(draw(st.integers(0, 4)))],
    )
    if draw(st.booleans()):
        info.tags["mlflow.traceName"] = draw(st.sampled_from(SPAN_NAMES))
    return Trace(info, TraceData(spans))


def quote(value: str) -> str:
    """A filter string literal for ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(value)


_strings = st.sampled_from(TEXTS).map(quote)
_numbers = st.sampled_from(NUMBERS).map(_number)
_booleans = st.sampled_from(["TRUE", "false"])

_TEXT_OPS = ["=", "!=", "<>", "CONTAINS", "NOT CONTAINS"]
_PATTERN_OPS = ["LIKE", "NOT LIKE", "ILIKE", "not ilike"]
_REGEX_OPS = ["RLIKE", "NOT RLIKE"]
_NUMBER_OPS = ["=", "!=", "<", "<=", ">", ">="]


def _list(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(values, min_size=1, max_size=3).map(lambda vs: "(" + ", ".join(vs) + ")")


def _text_conditions(ident: st.SearchStrategy[str],
                     strings: st.SearchStrategy[str] = _strings) -> st.SearchStrategy[str]:
    op_value = st.one_of(
        st.tuples(st.sampled_from(_TEXT_OPS), strings),
        st.tuples(st.sampled_from(_PATTERN_OPS), st.sampled_from(STRING_PATTERNS).map(quote)),
        st.tuples(st.sampled_from(_REGEX_OPS), st.sampled_from(REGEXES).map(quote)),
        st.tuples(st.sampled_from(["IN", "NOT IN"]), _list(strings)),
        st.tuples(st.sampled_from(["IS NULL", "IS NOT NULL"]), st.just("")),
    )
    return st.builds(lambda i, ov: f"{i} {ov[0]} {ov[1]}".rstrip(), ident, op_value)


def _number_conditions(ident: st.SearchStrategy[str],
                       numbers: st.SearchStrategy[str] = _numbers) -> st.SearchStrategy[str]:
    op_value = st.one_of(
        st.tuples(st.sampled_from(_NUMBER_OPS), numbers),
        st.tuples(st.sampled_from(["IN", "NOT IN"]), _list(numbers)),
        st.tuples(st.sampled_from(["IS NULL", "IS NOT NULL"]), st.just("")),
    )
    return st.builds(lambda i, ov: f"{i} {ov[0]} {ov[1]}".rstrip(), ident, op_value)


def _dynamic_conditions(ident: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        _text_conditions(ident), _number_conditions(ident),
        st.builds(lambda i, op, b: f"{i} {op} {b}", ident, st.sampled_from(["=", "!="]),
                  _booleans),
        st.builds(lambda i, op, n: f"{i} {op} '{n}'", ident, st.sampled_from(["<", ">="]),
                  st.sampled_from(["0.6", "5"])),
    )


def leaf_filters() -> st.SearchStrategy[str]:
    """One comparison on any kind of identifier."""
    states = st.sampled_from(["'OK'", "'error'", "'IN_PROGRESS'"])
    statuses = st.sampled_from(["'OK'", "'ERROR'", "'unset'"])
    enum_ops = st.sampled_from(["=", "!="])
    times = st.one_of(st.sampled_from(TIMES).map(str),
                      st.sampled_from(["'2023-07-01'", "'2023-07-01T00:00:00.001Z'",
                                       "'2023-07-01T02:00:00+02:00'", "'2023-06-30'"]))
    return st.one_of(
        _text_conditions(st.sampled_from([
            "attributes.name", "trace.client_request_id", "attributes.session_id",
            "attributes.user_id", "attributes.trace_id", "request_id",
            "tags.`mlflow.traceId`"]), st.one_of(_strings, st.just(quote("tr-" + "0" * 32)))),
        st.builds(lambda i, op, v: f"{i} {op} {v}",
                  st.sampled_from(["attributes.status", "trace.state"]), enum_ops, states),
        st.builds(lambda i, op, v: f"{i} {op} ({v})", st.just("attributes.state"),
                  st.sampled_from(["IN", "NOT IN"]), states),
        _number_conditions(st.sampled_from(["attributes.execution_time_ms",
                                            "trace.execution_duration"])),
        _number_conditions(st.just("trace.timestamp"), times),
        _dynamic_conditions(st.sampled_from([
            "tags.env", "tag.quality_score", "tags.`a.b`", 'tags."my key"', "tags.flag",
            "metadata.team", "request_metadata.`mlflow.trace.user`", "metadata.version",
            "feedback.correct", "expectation.relevance", "assessments.tone.value",
            "inputs.question", "inputs.messages.0.content", "inputs.`0`", "outputs.q",
            "request", "response", "outputs.0"])),
        # the trace's whole text (text_index, query/text.py)
        st.builds(lambda i, op, v: f"{i} {op} {v}",
                  st.sampled_from(["text", "span.content", "trace.text"]),
                  st.sampled_from(["CONTAINS", "LIKE", "ILIKE", "RLIKE"]),
                  st.sampled_from(TEXTS + STRING_PATTERNS + ["%Paris%", "%PROD%", "%it's%",
                                                             "%agent", "%ques%"]).map(quote)),
        st.builds(lambda op: f"text {op}", st.sampled_from(["IS NULL", "IS NOT NULL"])),
        # span conditions
        _text_conditions(st.sampled_from(["span.name", "span.type"]),
                         st.sampled_from(SPAN_NAMES + SPAN_TYPES).map(quote)),
        st.builds(lambda op, v: f"span.status {op} {v}", enum_ops, statuses),
        _number_conditions(st.just("span.duration_ms")),
        _dynamic_conditions(st.sampled_from(["span.attributes.retries", "span.attributes.model",
                                             "span.attributes.mlflow.llm.model",
                                             "span.attributes.`flag`"])),
    )


def filters(max_leaves: int = 8) -> st.SearchStrategy[str]:
    """Valid filters: comparisons joined by AND/OR/NOT and parentheses, keywords any case."""
    def combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda a, b, op: f"{a} {op} {b}", inner, inner,
                      st.sampled_from(["AND", "OR", "and", "Or"])),
            inner.map(lambda a: f"NOT {a}"),
            inner.map(lambda a: f"({a})"),
        )
    return st.recursive(leaf_filters(), combine, max_leaves=max_leaves)
