"""``spanscope.genai.scorers``: the ``@scorer`` decorator, the built-in LLM judges and
``make_judge`` (MLflow's names; see ``docs/evaluation.md``)."""

from spanscope.evaluation.scorers.base import Scorer, scorer
from spanscope.evaluation.scorers.builtin import (
    Correctness,
    ExpectationsGuidelines,
    Guidelines,
    Judge,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    RetrievalSufficiency,
    Safety,
    make_judge,
)

__all__ = [
    "Correctness",
    "ExpectationsGuidelines",
    "Guidelines",
    "Judge",
    "RelevanceToQuery",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "RetrievalSufficiency",
    "Safety",
    "Scorer",
    "make_judge",
    "scorer",
]
