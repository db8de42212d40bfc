"""The fluent run API (``spanscope.start_run`` …), defined in ``spanscope.runs``."""

from spanscope.runs.fluent import *  # noqa: F403
from spanscope.runs.fluent import __all__ as __all__
