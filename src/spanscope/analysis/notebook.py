"""Traces in Jupyter: the span tree with its timeline, the findings, and each span's
inputs and outputs, as one self-contained HTML fragment (inline style, no script, nothing
fetched), registered with ``spanscope.entities.display`` on import.

It draws the same rows as the web UI's trace page (``trace_view.waterfall_rows``), so a
trace reads the same in a notebook, the UI and the report.
"""

from __future__ import annotations

import json
from typing import Any

from spanscope.analysis.diagnose import diagnose
from spanscope.analysis.report_html import FILTERS
from spanscope.analysis.trace_view import waterfall_rows
from spanscope.entities import PagedList, Trace
from spanscope.entities.display import register_html

__all__ = ["page_html", "trace_html"]

MAX_SPANS = 2_000  # a bigger trace shows its first spans and says how many more there are
MAX_PAYLOAD = 20_000  # characters of a span's inputs or outputs shown inline


def _template(name: str) -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("spanscope.analysis", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(FILTERS)
    return env.get_template(name)


def _payload(value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_PAYLOAD:
        text = text[:MAX_PAYLOAD] + f"\n… [{len(text) - MAX_PAYLOAD:,} more characters]"
    return text


def trace_html(trace: Trace) -> str:
    """One trace as an HTML fragment for a notebook cell."""
    findings = diagnose(trace)
    rows = waterfall_rows(trace, findings)
    spans = {s.span_id: s for s in trace.data.spans}
    shown = rows[:MAX_SPANS]
    payloads = {r.span_id: (_payload(spans[r.span_id].inputs), _payload(spans[r.span_id].outputs))
                for r in shown}
    info = trace.info
    return _template("notebook_trace.html.j2").render(
        info=info, name=info.tags.get("mlflow.traceName") or "-", findings=findings,
        rows=shown, hidden=len(rows) - len(shown), payloads=payloads,
        culprits={f.span_id for f in findings if f.span_id},
        tokens=(info.token_usage or {}).get("total_tokens"))


def page_html(page: PagedList[Any]) -> str | None:
    """A page of traces (``search_traces(return_type="list")``) as a table."""
    if not all(isinstance(item, Trace) for item in page):
        return None
    return _template("notebook_page.html.j2").render(
        infos=[t.info for t in page], token=page.token)


register_html(Trace, trace_html)
register_html(PagedList, page_html)
