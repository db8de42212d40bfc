"""Runs: the lineage layer (params, metrics, tags, artifacts of one piece of work).

It sits beside ``tracing``, above the store, so capabilities such as evaluation can log
runs without reaching up into the fluent API; ``spanscope.api.runs`` re-exports it.
"""

from spanscope.runs.fluent import *  # noqa: F403
from spanscope.runs.fluent import __all__ as __all__
