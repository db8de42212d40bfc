"""The store's write rules under their first name; they now live by concern.

``trace_rules`` (experiments, traces, tags, deletion) and ``assessment_rules`` (fields,
overrides and their undo, updates). This module re-exports both so existing imports
(``from spanscope.store.mutations import UNSET``) keep working.
"""

from __future__ import annotations

from spanscope.store.assessment_rules import *  # noqa: F403
from spanscope.store.assessment_rules import __all__ as _assessment_names
from spanscope.store.trace_rules import *  # noqa: F403
from spanscope.store.trace_rules import __all__ as _trace_names

__all__ = sorted(set(_trace_names) | set(_assessment_names))
