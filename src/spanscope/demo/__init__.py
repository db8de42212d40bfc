"""The demo app: a simulated customer-support agent that fills a store with real traces.

``run_demo(n_traces, seed)`` runs it in-process (``spanscope demo`` on the command line).
Nothing here calls a network or a real model; the same seed gives the same requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanscope.demo.runner import DemoRecord, DemoResult, run_demo

__all__ = ["DemoRecord", "DemoResult", "run_demo"]


def __getattr__(name: str) -> Any:
    # Lazy, so the knowledge base or workload can be imported without the tracing SDK.
    if name in __all__:
        from spanscope.demo import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'spanscope.demo' has no attribute {name!r}")
