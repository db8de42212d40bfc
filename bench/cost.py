"""Cost accounting at scale: what dated prices and span-type grouping cost the store.

Builds a throw-away SQLite store (the search benchmark's generator, in a temporary
directory: the shared cache under ``~/.cache/spanscope/bench`` is left alone) and fills
``trace_model_usage`` with two rows per trace (a CHAT_MODEL call of gpt-4o or gpt-4o-mini
with cache and reasoning tokens, an EMBEDDING call), then times, median of ``--repeats``
after a warm-up:

- ``model_usage`` unsplit (one price per model) and split at 3 price changes (``periods``);
- ``selection_cost`` with a table of 3 dated price changes (the monitors' call);
- ``summarize`` overall and grouped by ``span_type``, ``user`` and a tag.

    python bench/cost.py [--traces 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa

from search import build, median_ms  # the search benchmark's generator and timer
from spanscope.analysis import summarize
from spanscope.analysis.pricing import load_prices, selection_cost
from spanscope.store.aggregates import Selection
from spanscope.store.sql import SqlStore
from spanscope.store.sql.engine import parse_uri


def fill_usage(uri: str) -> tuple[int, int]:
    """Two usage rows per trace, as ingest writes them; returns the request-time range."""
    engine = sa.create_engine(parse_uri(uri))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO trace_model_usage (trace_id, model, span_type, experiment_id, "
            "request_time, calls, input_tokens, output_tokens, total_tokens, "
            "cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens) "
            "SELECT trace_id, CASE WHEN substr(trace_id, 4, 1) IN ('0', '1', '2', '3') "
            "THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 'CHAT_MODEL', experiment_id, "
            "request_time, 1, coalesce(input_tokens, 0), coalesce(output_tokens, 0), "
            "coalesce(total_tokens, 0), coalesce(input_tokens, 0) / 2, 0, "
            "coalesce(output_tokens, 0) / 4 FROM traces")
        conn.exec_driver_sql(
            "INSERT INTO trace_model_usage (trace_id, model, span_type, experiment_id, "
            "request_time, calls, input_tokens, output_tokens, total_tokens) "
            "SELECT trace_id, 'text-embedding-3-small', 'EMBEDDING', experiment_id, "
            "request_time, 1, 200, 0, 200 FROM traces")
        low, high = conn.exec_driver_sql(
            "SELECT min(request_time), max(request_time) FROM traces").one()
    engine.dispose()
    return int(low), int(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/cost.db"
        experiment_id, seconds = build(uri, args.traces)
        low, high = fill_usage(uri)
        print(f"built {args.traces:,} traces in {seconds:.0f} s")
        cuts = [low + (high - low) * k // 4 for k in (1, 2, 3)]
        dated = load_prices({"models": {
            name: [{"input": 2.5 / k, "output": 10.0 / k, "cached_input": 1.25 / k,
                    **({"effective_from": _iso(cut)} if cut else {})}
                   for k, cut in enumerate([None, *cuts], start=1)]
            for name in ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")}})
        store = SqlStore(uri)
        everything = Selection((experiment_id,))
        operations: list[tuple[str, Callable[[], Any]]] = [
            ("model_usage, one price per model", lambda: store.model_usage(everything)),
            ("model_usage split at 3 price changes",
             lambda: store.model_usage(everything, periods=cuts)),
            ("selection_cost, 3 dated price changes",
             lambda: selection_cost(store, everything, dated)),
            ("summarize (overall)",
             lambda: summarize(experiment_ids=[experiment_id], store=store, prices=dated)),
            ("summarize group_by=span_type", lambda: summarize(
                experiment_ids=[experiment_id], group_by="span_type", store=store,
                prices=dated)),
            ("summarize group_by=tags.team", lambda: summarize(
                experiment_ids=[experiment_id], group_by="tags.team", store=store,
                prices=dated)),
        ]
        print(f"\n{args.traces:,} traces ({2 * args.traces:,} usage rows), SQLite; "
              f"median of {args.repeats} after a warm-up")
        for label, fn in operations:
            print(f"  {label:<44}{median_ms(fn, args.repeats):>10.1f} ms", flush=True)
        total = selection_cost(store, everything, dated)
        print(f"\ncost {total.cost:.2f} {total.currency}, {total.calls:,} calls, "
              f"{total.unpriced_calls:,} unpriced")
        store.close()


def _iso(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()


if __name__ == "__main__":
    main()
