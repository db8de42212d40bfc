"""Rich display in notebooks: ``Trace._repr_html_`` and friends call ``html_of``.

Entities know no templates. The drawing lives in ``spanscope.analysis.notebook``, which
registers its renderers here when imported; ``html_of`` imports it on the first display
(by name, so importing the entities stays cheap and nothing imports upward at load time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["RENDERERS_MODULE", "html_of", "register_html"]

RENDERERS_MODULE = "spanscope.analysis.notebook"
_renderers: dict[type, Callable[[Any], str]] = {}


def register_html(kind: type, render: Callable[[Any], str]) -> None:
    """Draw objects of ``kind`` with ``render`` in notebooks."""
    _renderers[kind] = render


def html_of(obj: Any) -> str | None:
    """The object's HTML for a notebook, or None (the notebook falls back to repr)."""
    if not _renderers:
        try:
            importlib.import_module(RENDERERS_MODULE)
        except ImportError:  # a slimmed install: plain repr is still fine
            return None
    render = next((r for kind, r in _renderers.items() if isinstance(obj, kind)), None)
    return None if render is None else render(obj)
