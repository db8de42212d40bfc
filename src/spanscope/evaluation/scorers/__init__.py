"""Scorers for ``evaluate()``: the ``@scorer`` decorator and the built-in LLM judges.

The public names are re-exported by ``spanscope.genai.scorers``.
"""

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
