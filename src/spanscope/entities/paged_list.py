"""A list with the token of the next page, as search results are returned."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from spanscope.entities.highlight import Highlight

__all__ = ["PagedList"]

T = TypeVar("T")


class PagedList(list[T]):
    """A page of results; ``token`` fetches the next page, None on the last one.

    ``highlights`` maps a trace id to where a text search matched in it (``Highlight``),
    filled by ``search_traces(..., highlight=True)``; empty otherwise.
    """

    def __init__(self, items: Iterable[T] = (), token: str | None = None, *,
                 highlights: dict[str, list[Highlight]] | None = None) -> None:
        super().__init__(items)
        self.token = token
        self.highlights: dict[str, list[Highlight]] = highlights or {}

    def _repr_html_(self) -> str | None:
        """A page of traces as a table in Jupyter (``entities.display``)."""
        from spanscope.entities.display import html_of

        return html_of(self)
