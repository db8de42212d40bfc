"""``spanscope.genai.scorers``: the ``@scorer`` decorator, the built-in LLM judges and
``make_judge`` (MLflow's names; see ``docs/evaluation.md``), and registering scorers for
online evaluation of production traces (``register``, ``list_scorers``, ``get_scorer``,
``update_scorer``, ``delete_scorer``; see ``docs/online-evaluation.md``)."""

from spanscope.evaluation.scorers import *  # noqa: F403
from spanscope.evaluation.scorers import __all__ as _evaluation_names
from spanscope.monitoring.registry import (
    delete_scorer,
    get_scorer,
    list_scorers,
    register,
    update_scorer,
)

__all__ = [*_evaluation_names, "delete_scorer", "get_scorer", "list_scorers", "register",
           "update_scorer"]
