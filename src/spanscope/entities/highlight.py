"""Where a text search matched: a snippet of one span's text, for people to read.

``search_traces(..., highlight=True)`` returns, per trace, the ``Highlight`` list of each
text comparison of the filter (``text``, ``request``, ``inputs.PATH`` ... with
``CONTAINS``, ``LIKE``, ``ILIKE``, ``RLIKE``), so a list view or a terminal can show
where the words were found without reading the whole trace.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Highlight"]


@dataclasses.dataclass(frozen=True)
class Highlight:
    """``snippet[start:end]`` is the matched text; the snippet is the span's text around it,
    cut with ``…`` at either end where the text goes on.

    ``kind`` is ``inputs``, ``outputs`` or ``exception`` (an exception event's message);
    ``field`` the filter's identifier as written (``text``, ``request`` ...).
    """

    span_id: str
    span_name: str
    kind: str
    field: str
    snippet: str
    start: int
    end: int

    @property
    def match(self) -> str:
        return self.snippet[self.start:self.end]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Highlight:
        return cls(str(data["span_id"]), str(data["span_name"]), str(data["kind"]),
                   str(data["field"]), str(data["snippet"]), int(data["start"]),
                   int(data["end"]))
