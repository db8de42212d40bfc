"""``spanscope.genai``: evaluate GenAI apps (MLflow's ``mlflow.genai`` names).

Submodules: ``spanscope.genai.datasets`` (versioned evaluation datasets) and
``spanscope.genai.scorers`` (scorers and LLM judges); ``evaluate`` and
``compare_evaluations`` score an app against data (``docs/evaluation.md``). Names load
lazily, so importing this package imports neither pandas nor the evaluation code until a
name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "EvaluationComparison",
    "EvaluationResult",
    "build_dataset_from_traces",
    "compare_evaluations",
    "create_dataset",
    "datasets",
    "delete_dataset",
    "evaluate",
    "get_dataset",
    "scorers",
    "search_datasets",
]

# name -> module that defines it (submodules map to themselves)
_LAZY = {
    "datasets": "spanscope.genai.datasets",
    "scorers": "spanscope.genai.scorers",
    "build_dataset_from_traces": "spanscope.genai.datasets",
    "create_dataset": "spanscope.genai.datasets",
    "delete_dataset": "spanscope.genai.datasets",
    "get_dataset": "spanscope.genai.datasets",
    "search_datasets": "spanscope.genai.datasets",
    "evaluate": "spanscope.evaluation.evaluate",
    "EvaluationResult": "spanscope.evaluation.results",
    "compare_evaluations": "spanscope.evaluation.compare",
    "EvaluationComparison": "spanscope.evaluation.compare",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spanscope.genai' has no attribute {name!r}")
    loaded = import_module(module)
    value = loaded if module == f"{__name__}.{name}" else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
