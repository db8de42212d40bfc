"""``spanscope.genai.scorers``: the ``@scorer`` decorator, the built-in LLM judges and
``make_judge`` (MLflow's names; see ``docs/evaluation.md``)."""

from spanscope.evaluation.scorers import *  # noqa: F403
from spanscope.evaluation.scorers import __all__ as __all__
