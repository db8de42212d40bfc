"""What the UI's pages show, built from entities: pure functions, no I/O, no HTML.

The page handlers (``pages.py``) fetch; the templates draw; in between, these decide what a
payload is (a chat, retrieved documents, or plain JSON), which columns a list has and how
a filter is built from the quick filters, so each can be tested without a browser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spanscope.analysis.pricing import format_money
from spanscope.entities import Trace, TraceInfo

__all__ = [
    "QUICK_SINCE",
    "EvaluationTable",
    "ListRow",
    "Message",
    "Payload",
    "combine_filters",
    "compact_json",
    "comparison_rows",
    "cost_text",
    "evaluation_table",
    "first_findings",
    "list_filter",
    "list_from_back",
    "list_row",
    "payload_view",
]

QUICK_SINCE = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}
_TEXT_KEYS = ("page_content", "content", "doc", "text")


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    tool_calls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Payload:
    """A span's inputs or outputs, as people read them: ``kind`` is ``chat``,
    ``documents``, ``text`` or ``json`` (the JSON text is always there to copy)."""

    kind: str
    json: str
    messages: list[Message] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    text: str | None = None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI/Anthropic content parts
        parts = [p.get("text") or p.get("content") or "" for p in content if isinstance(p, dict)]
        return "\n".join(str(p) for p in parts if p) or json.dumps(content, default=str)
    return "" if content is None else json.dumps(content, default=str)


def _tool_calls(message: Mapping[str, Any]) -> list[str]:
    calls = []
    for call in message.get("tool_calls") or []:
        if isinstance(call, Mapping):
            function = call.get("function") or call
            calls.append(f"{function.get('name', '?')}({function.get('arguments', '')})")
    return calls


def _messages(value: Any) -> list[Message] | None:
    """Chat messages in the common shapes: ``{"messages": [...]}``, a list of messages,
    an OpenAI chat completion (``choices[].message``) or an Anthropic message."""
    if isinstance(value, Mapping):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("choices"), list):
            value = [c.get("message") for c in value["choices"] if isinstance(c, Mapping)]
        elif value.get("role") and "content" in value:
            value = [value]
        else:
            return None
    if not isinstance(value, list) or not value:
        return None
    out = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("role"), str):
            return None
        out.append(Message(item["role"], _content_text(item.get("content")), _tool_calls(item)))
    return out


def _documents(value: Any) -> list[dict[str, Any]] | None:
    """Retrieved documents: a list of dicts each with a text field (``page_content``,
    ``content``, ``doc`` or ``text``), with their score, id and metadata when present."""
    if isinstance(value, Mapping) and isinstance(value.get("documents"), list):
        value = value["documents"]
    if not isinstance(value, list) or not value:
        return None
    docs = []
    for item in value:
        if not isinstance(item, Mapping):
            return None
        text = next((item[k] for k in _TEXT_KEYS if isinstance(item.get(k), str)), None)
        if text is None:
            return None
        metadata = item.get("metadata") if isinstance(item.get("metadata"), Mapping) else {}
        docs.append({"text": text, "score": item.get("score"),
                     "id": item.get("id") or metadata.get("doc_uri") or metadata.get("id")})
    return docs


def payload_view(value: Any) -> Payload | None:
    """How to show a span's inputs or outputs; None when there are none."""
    if value is None:
        return None
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if (messages := _messages(value)) is not None:
        return Payload("chat", text, messages=messages)
    if (documents := _documents(value)) is not None:
        return Payload("documents", text, documents=documents)
    if isinstance(value, str):
        return Payload("text", text, text=value)
    return Payload("json", text)


@dataclass(frozen=True)
class ListRow:
    """One row of the trace list."""

    trace_id: str
    name: str
    state: str
    request_time: int
    duration_ms: int | None
    tokens: int | None
    request: str
    response: str
    user: str | None
    session: str | None
    tags: dict[str, str]
    assessments: dict[str, str]


def list_row(info: TraceInfo) -> ListRow:
    usage = info.token_usage or {}
    latest: dict[str, str] = {}
    for assessment in info.assessments:
        if assessment.valid is False:
            continue
        if getattr(assessment, "error", None) is not None:
            latest[assessment.name] = "error"
        else:
            value = assessment.value
            latest[assessment.name] = (json.dumps(value) if not isinstance(value, str)
                                       else value)
    metadata = info.trace_metadata
    return ListRow(
        trace_id=info.trace_id, name=info.tags.get("mlflow.traceName") or "-",
        state=str(info.state), request_time=info.request_time,
        duration_ms=info.execution_duration, tokens=usage.get("total_tokens"),
        request=info.request_preview or "", response=info.response_preview or "",
        user=metadata.get("mlflow.trace.user"), session=metadata.get("mlflow.trace.session"),
        tags={k: v for k, v in info.tags.items() if not k.startswith("mlflow.")},
        assessments=latest)


def first_findings(findings: Sequence[Any], limit: int, per_kind: int = 5,
                   ) -> tuple[list[Any], list[tuple[str, int]]]:
    """The findings a trace page lists first: in their order (most severe first), at most
    ``per_kind`` of a kind so that one repeated kind does not hide the others, ``limit`` in
    all; and how many of each kind are left out, most first."""
    from collections import Counter

    shown, seen = [], Counter[str]()
    for finding in findings:
        if len(shown) < limit and seen[finding.kind] < per_kind:
            shown.append(finding)
            seen[finding.kind] += 1
    left = Counter(f.kind for f in findings) - seen
    return shown, left.most_common()


def assessment_columns(rows: Sequence[ListRow]) -> list[str]:
    """One column per assessment name on the page, in first-seen order."""
    return list(dict.fromkeys(name for row in rows for name in row.assessments))


def quote_text(value: str) -> str:
    """``value`` as a string literal of the filter language (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def combine_filters(text: str | None, *, state: str | None = None, since: str | None = None,
                    span_type: str | None = None, now_ms: int, start_ms: int | None = None,
                    end_ms: int | None = None) -> str | None:
    """The filter a list page runs: the typed filter AND the quick filters (a custom
    range is ``trace.timestamp`` from ``start_ms`` inclusive to ``end_ms`` exclusive)."""
    parts = [f"({text.strip()})"] if text and text.strip() else []
    if state in ("OK", "ERROR", "IN_PROGRESS"):
        parts.append(f"attributes.status = '{state}'")
    if since in QUICK_SINCE:
        parts.append(f"attributes.timestamp_ms >= {now_ms - QUICK_SINCE[since]}")
    if start_ms is not None:
        parts.append(f"trace.timestamp >= {start_ms}")
    if end_ms is not None:
        parts.append(f"trace.timestamp < {end_ms}")
    if span_type and span_type.replace("_", "").isalnum():
        parts.append(f"span.type = '{span_type}'")
    return " AND ".join(parts) or None


def range_end(text: str, what: str) -> int | None:
    """One end of a custom range as the form sends it (``2026-12-04T10:30``, a browser's
    ``datetime-local``; a date alone is its midnight) in epoch ms, read as UTC as the
    filter language reads dates (``trace.timestamp >= '2026-12-04T10:30'``); None when
    empty."""
    from spanscope.exceptions import InvalidInputError
    from spanscope.query.values import parse_timestamp

    if not text.strip():
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        raise InvalidInputError(f"{what}: {text!r} is not a date and time such as "
                                "2026-12-04T10:30") from None


def list_filter(params: Mapping[str, str], now_ms: int) -> str | None:
    """``combine_filters`` of a list's parameters (``LIST_KEYS``), as the list page and
    the trace page's previous/next links read them; ``InvalidInputError`` for a bad
    custom range."""
    from spanscope.exceptions import InvalidInputError

    start = range_end(params.get("from", ""), "From")
    end = range_end(params.get("to", ""), "To")
    if start is not None and end is not None and end <= start:
        raise InvalidInputError("the custom range ends before it starts: To must be "
                                "after From")
    return combine_filters(params.get("filter"), state=params.get("state"),
                           since=params.get("since"), span_type=params.get("span_type"),
                           now_ms=now_ms, start_ms=start, end_ms=end)


def cost_text(total: Any | None) -> tuple[str, str | None]:
    """A trace's cost for the list (``pricing.CostTotal``; None: no model calls) and a
    note on what was left out. Calls without a price read "unpriced", never $0."""
    if total is None or not total.calls:
        return "", None
    unpriced = None
    if total.unpriced_calls:
        unpriced = (f"{total.unpriced_calls} call{'s' if total.unpriced_calls != 1 else ''} "
                    f"without a price ({', '.join(total.unpriced_models)}, "
                    f"{total.unpriced_tokens:,} tokens)")
    if total.cost is None:
        return "unpriced", unpriced
    money = format_money(total.cost, total.currency)
    return (money + " + unpriced" if unpriced else money), unpriced


# The parameters of a list page's address (its filter, quick filters and order).
LIST_KEYS = ("experiment_id", "filter", "state", "since", "from", "to", "span_type", "order")
ORDERS = {"time": None, "duration": ["execution_time DESC"]}
# The same orders walked backwards (the previous trace is the next one in these).
REVERSED = {"time": ["timestamp_ms ASC", "trace_id DESC"],
            "duration": ["execution_time ASC", "timestamp_ms ASC", "trace_id DESC"]}


def list_from_back(back: str) -> dict[str, str] | None:
    """The list parameters in a trace page's ``back`` address (``/?experiment_id=…``);
    None when the page was not opened from a list."""
    from urllib.parse import parse_qs, urlsplit

    if not back.startswith("/?"):
        return None
    query = parse_qs(urlsplit(back).query)
    params = {k: (query.get(k) or [""])[0] for k in LIST_KEYS}
    if params["order"] not in ORDERS:
        params["order"] = "time"
    return params


def trace_facts(trace: Trace) -> dict[str, Any]:
    """The header facts of a trace page."""
    info = trace.info
    usage = info.token_usage or {}
    metadata = info.trace_metadata
    return {"trace_id": info.trace_id, "name": info.tags.get("mlflow.traceName") or "-",
            "state": str(info.state), "duration_ms": info.execution_duration,
            "request_time": info.request_time, "tokens": usage.get("total_tokens"),
            "input_tokens": usage.get("input_tokens"),
            "output_tokens": usage.get("output_tokens"),
            "user": metadata.get("mlflow.trace.user"),
            "session": metadata.get("mlflow.trace.session"),
            "tags": {k: v for k, v in info.tags.items() if not k.startswith("mlflow.")},
            "experiment_id": info.experiment_id}


def filter_keys(infos: Sequence[TraceInfo]) -> list[str]:
    """Filter identifiers for the tag, metadata and assessment keys these traces carry."""
    keys: dict[str, None] = {}
    for info in infos:
        for key in info.tags:
            if not key.startswith("mlflow."):
                keys[f"tags.{_key(key)}"] = None
        for key in info.trace_metadata:
            keys[f"metadata.{_key(key)}"] = None
        for assessment in info.assessments:
            keys[f"feedback.{_key(assessment.name)}"] = None
    return sorted(keys)


def _key(key: str) -> str:
    """A key as the filter language writes it: backticked unless a plain dotted name."""
    plain = all(part.replace("_", "").replace("-", "").isalnum() for part in key.split("."))
    return key if plain and key and key[0].isalpha() else "`" + key.replace("`", "") + "`"


def review_filter(text: str | None, name: str, skipped: Sequence[str]) -> str:
    """The review queue's filter: the typed one, no feedback ``name`` yet, not skipped."""
    parts = [f"({text.strip()})"] if text and text.strip() else []
    parts.append(f"feedback.{_key(name)} IS NULL")
    if skipped:
        parts.append("attributes.trace_id NOT IN ("
                     + ", ".join(quote_text(s) for s in skipped) + ")")
    return " AND ".join(parts)


def review_context(review: str, trace_id: str) -> dict[str, str] | None:
    """What the trace page needs in the review queue: the feedback name, the query that
    fetches the next trace, and the query that skips this one."""
    if not review:
        return None
    from urllib.parse import parse_qs, urlencode

    query = parse_qs(review)
    if not query.get("name"):
        return None
    skip = urlencode({**{k: v for k, v in query.items()},
                      "skip": [*query.get("skip", []), trace_id]}, doseq=True)
    return {"name": query["name"][0], "query": review, "skip": skip,
            "filter": (query.get("filter") or [""])[0]}


def compact_json(value: Any, limit: int = 300) -> str:
    """A JSON value on one line, cut at ``limit`` characters, for table cells."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                            default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class EvaluationTable:
    """The per-row table of an evaluation run (``eval_results_table.json``), as the run
    page shows it: the base columns and, per scorer name, its value and rationale."""

    scores: list[str]
    rows: list[dict[str, Any]]
    total: int
    columns: list[str] = field(default_factory=list)
    raw: list[list[Any]] = field(default_factory=list)


def evaluation_table(body: Mapping[str, Any], limit: int | None = 500) -> EvaluationTable:
    """MLflow's table JSON ``{"columns": [...], "data": [[...]]}`` read into rows; the
    scorer names are the ``NAME/value`` columns, in their order."""
    columns = [str(c) for c in body.get("columns") or []]
    data = [r for r in body.get("data") or [] if isinstance(r, list)]
    limit = len(data) if limit is None else limit
    scores = [c[:-len("/value")] for c in columns if c.endswith("/value")]
    rows = []
    for raw in data[:limit]:
        cells = dict(zip(columns, raw, strict=False))
        rows.append({"inputs": cells.get("inputs"), "outputs": cells.get("outputs"),
                     "expectations": cells.get("expectations"),
                     "trace_id": cells.get("trace_id"), "error": cells.get("error"),
                     "scores": {name: {"value": cells.get(f"{name}/value"),
                                       "rationale": cells.get(f"{name}/rationale"),
                                       "error": cells.get(f"{name}/error")}
                                for name in scores}})
    return EvaluationTable(scores, rows, len(data), columns, data)


def comparison_rows(rows: Any) -> dict[str, Any]:
    """The rows of ``compare_evaluations`` for the page: each with its scores on both
    sides and a verdict (regressed, improved, mixed, changed, same, only in a or b),
    regressions first."""
    names = [c[:-2] for c in rows.columns if c.endswith("/a") and c != "outputs/a"]
    order = {"regressed": 0, "mixed": 1, "improved": 2, "changed": 3, "only in A": 4,
             "only in B": 5, "same": 6}
    out = []
    for row in rows.to_dict(orient="records"):
        deltas = [row.get(f"{n}/delta") for n in names]
        deltas = [d for d in deltas if d is not None and d == d]
        if not row["in_b"]:
            verdict = "only in A"
        elif not row["in_a"]:
            verdict = "only in B"
        elif any(d < 0 for d in deltas):
            verdict = "mixed" if any(d > 0 for d in deltas) else "regressed"
        elif any(d > 0 for d in deltas):
            verdict = "improved"
        else:
            verdict = "changed" if row["changed"] else "same"
        out.append({"inputs": row["inputs"], "verdict": verdict,
                    "scores": {n: (row.get(f"{n}/a"), row.get(f"{n}/b")) for n in names},
                    "outputs": (row.get("outputs/a"), row.get("outputs/b"))})
    out.sort(key=lambda r: order[r["verdict"]])
    counts = {v: sum(r["verdict"] == v for r in out) for v in order}
    return {"scores": names, "rows": out, "counts": {k: v for k, v in counts.items() if v}}
