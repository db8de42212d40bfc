"""Warn when a filter names a tag, metadata key or assessment that no trace has.

``tags.enviroment = 'prod'`` is a valid filter that matches nothing, which reads as "no
such traces" when the truth is "no such tag". Before a search, the keys the filter
compares are looked up among the newest traces (and, if absent there, in the whole
selection); a key that no trace has gets one warning on stderr, with the closest known key.
The search still runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from spanscope.query import AssessmentValue, Metadata, Tag, did_you_mean, parse_filter
from spanscope.query import referenced_fields as _referenced

__all__ = ["warn_unknown_keys"]

SAMPLE = 500  # newest traces whose keys stand for "the keys in use"


def warn_unknown_keys(filter_string: str | None,
                      experiment_ids: Sequence[str] | None) -> list[str]:
    """Print (and return) a warning per compared key that no trace of the selection has."""
    import spanscope
    from spanscope.exceptions import SpanscopeError

    fields = _referenced(parse_filter(filter_string)) if filter_string else []
    if not fields:
        return []
    try:
        infos = [t.info for t in spanscope.search_traces(
            experiment_ids=experiment_ids, max_results=SAMPLE, return_type="list",
            include_spans=False)]
    except SpanscopeError:
        return []  # the search itself will say what is wrong
    known: dict[type, set[str]] = {
        Tag: {k for i in infos for k in i.tags},
        Metadata: {k for i in infos for k in i.trace_metadata},
        AssessmentValue: {a.name for i in infos for a in i.assessments}}
    what = {Tag: "tag", Metadata: "metadata key", AssessmentValue: "assessment"}
    warnings = []
    for ref in fields:
        kind = type(ref.field)
        key = ref.field.name if isinstance(ref.field, AssessmentValue) else ref.field.key
        if key in known[kind] or _exists(ref.written, experiment_ids):
            continue
        hint = did_you_mean(key, known[kind])
        warnings.append(f"Warning: no trace here has the {what[kind]} {key!r}"
                        + (f"; {hint}" if hint else "") + " (the search still runs)")
    for warning in warnings:
        click.echo(warning, err=True)
    return warnings


def _exists(written: str, experiment_ids: Sequence[str] | None) -> bool:
    """Whether any trace of the selection has this field at all (one cheap id lookup)."""
    import spanscope
    from spanscope.exceptions import SpanscopeError

    try:
        return bool(spanscope.search_traces(
            experiment_ids=experiment_ids, filter_string=f"{written} IS NOT NULL",
            max_results=1, return_type="list", include_spans=False))
    except SpanscopeError:
        return True  # cannot tell: stay quiet
