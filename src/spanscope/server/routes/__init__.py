"""The REST API's routers, one module per resource; ``ROUTERS`` in the order served."""

from __future__ import annotations

from spanscope.server.routes import (
    aggregates,
    analysis,
    assessments,
    datasets,
    experiments,
    export,
    health,
    keys,
    monitors,
    runs,
    traces,
)

__all__ = ["ROUTERS"]

ROUTERS = (health.router, experiments.router, traces.router, assessments.router,
           aggregates.router, runs.router, datasets.router, analysis.router, keys.router,
           monitors.router, export.router)
