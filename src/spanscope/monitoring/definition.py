"""``define_monitor``: a ``Monitor`` from what a person types, checked before it is stored.

Every rule a monitor must satisfy is here, so the CLI, the REST API and the Python API
reject the same definitions with the same message: a known metric, a filter that parses,
a span metric whose filter names the spans (``span.type = 'RETRIEVER'``), a window no
shorter than the cadence, at least one threshold, a sensible sample minimum.
"""

from __future__ import annotations

from collections.abc import Sequence

from spanscope.entities.monitor import (
    Metric,
    Monitor,
    NoDataPolicy,
    Thresholds,
    Webhook,
    WebhookFormat,
    parse_metric,
)
from spanscope.exceptions import InvalidInputError
from spanscope.query import And as AndNode
from spanscope.query import (
    AnySpan,
    Comparison,
    Node,
    Op,
    SpanProperty,
    SpanPropertyName,
    parse_duration,
    parse_filter,
)

__all__ = ["MIN_CADENCE_MS", "check_monitor", "define_monitor", "span_target"]

MIN_CADENCE_MS = 1_000
DurationLike = str | int


def _millis(value: DurationLike | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a duration such as 5m, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise InvalidInputError(f"{what} must be positive, got {value} ms")
        return value
    millis = parse_duration(value, what=what)
    if millis <= 0:
        raise InvalidInputError(f"{what} must be positive, got {value!r}")
    return millis


def _conjuncts(node: Node) -> tuple[Node, ...]:
    return node.children if isinstance(node, AndNode) else (node,)


def span_target(filter_string: str | None) -> tuple[str, str | None] | None:
    """``(span type, span name or None)`` that a ``span.type = 'X' [AND span.name = 'Y']``
    condition of the filter names (at its top level), or None."""
    if not filter_string or not filter_string.strip():
        return None
    for part in _conjuncts(parse_filter(filter_string)):
        if not isinstance(part, AnySpan):
            continue
        found: dict[SpanPropertyName, str] = {}
        for leaf in _conjuncts(part.condition):
            if isinstance(leaf, Comparison) and isinstance(leaf.field, SpanProperty) \
                    and leaf.op is Op.EQ and isinstance(leaf.value, str) \
                    and leaf.field.name in (SpanPropertyName.TYPE, SpanPropertyName.NAME):
                found.setdefault(leaf.field.name, leaf.value)
        if SpanPropertyName.TYPE in found:
            return found[SpanPropertyName.TYPE], found.get(SpanPropertyName.NAME)
    return None


def check_monitor(monitor: Monitor) -> Monitor:
    """``monitor`` if it is a definition the worker can evaluate; ``InvalidInputError``
    (``FilterError`` for the filter) saying what is wrong otherwise."""
    if monitor.filter_string is not None and monitor.filter_string.strip():
        parse_filter(monitor.filter_string)  # FilterError points at the bad token
    if monitor.metric.on_spans and span_target(monitor.filter_string) is None:
        raise InvalidInputError(
            f"metric {monitor.metric} needs a filter naming the spans it measures, e.g. "
            "--filter \"span.type = 'RETRIEVER'\" (optionally AND span.name = '…')")
    if monitor.cadence_ms < MIN_CADENCE_MS:
        raise InvalidInputError(f"cadence must be at least 1s, got {monitor.cadence_ms} ms")
    if monitor.window_ms < monitor.cadence_ms:
        raise InvalidInputError(
            f"the window ({monitor.window_ms / 1000:g}s) is shorter than the cadence "
            f"({monitor.cadence_ms / 1000:g}s): traces between two evaluations would never "
            "be looked at; use a window at least as long as the cadence")
    if isinstance(monitor.min_samples, bool) or not isinstance(monitor.min_samples, int) \
            or monitor.min_samples < 0:
        raise InvalidInputError(f"min_samples must be an integer >= 0, "
                                f"got {monitor.min_samples!r}")
    if monitor.renotify_ms is not None and monitor.renotify_ms < monitor.cadence_ms:
        raise InvalidInputError("renotify must be at least the cadence (a monitor can only "
                                "notify when it is evaluated)")
    return monitor


def define_monitor(
    name: str,
    metric: str | Metric,
    *,
    filter_string: str | None = None,
    experiment_ids: Sequence[str] | str | None = None,
    window: DurationLike = "1h",
    cadence: DurationLike = "5m",
    warn_above: float | None = None,
    alert_above: float | None = None,
    warn_below: float | None = None,
    alert_below: float | None = None,
    min_samples: int = 1,
    renotify: DurationLike | None = None,
    no_data: str | NoDataPolicy = NoDataPolicy.NO_DATA,
    webhook: str | None = None,
    webhook_secret: str | None = None,
    webhook_format: str | WebhookFormat = WebhookFormat.JSON,
) -> Monitor:
    """A checked ``Monitor``. Durations are text (``"1h"``, ``"5m"``) or milliseconds."""
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    try:
        policy = NoDataPolicy(str(no_data).lower())
    except ValueError:
        raise InvalidInputError(f"no_data must be one of "
                                f"{', '.join(p.value for p in NoDataPolicy)}, "
                                f"got {no_data!r}") from None
    if webhook_secret is not None and webhook is None:
        raise InvalidInputError("a webhook secret needs a webhook URL")
    window_ms = _millis(window, "window")
    cadence_ms = _millis(cadence, "cadence")
    assert window_ms is not None and cadence_ms is not None
    monitor = Monitor(
        name=name,
        metric=metric if isinstance(metric, Metric) else parse_metric(metric),
        window_ms=window_ms, cadence_ms=cadence_ms,
        thresholds=Thresholds(warn_above, alert_above, warn_below, alert_below),
        filter_string=(filter_string.strip() or None) if filter_string else None,
        experiment_ids=None if experiment_ids is None else tuple(
            str(e) for e in experiment_ids),
        min_samples=min_samples, renotify_ms=_millis(renotify, "renotify"), no_data=policy,
        webhook=None if webhook is None else Webhook(
            webhook, webhook_secret or None, webhook_format),  # type: ignore[arg-type]
    )
    return check_monitor(monitor)
