"""Shortening text for people: one line, cut at a word, the cut marked with an ellipsis."""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(text: str | None, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters: cut at a word boundary when one
    lies in the second half, and marked with ``…`` so a cut is never silent."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: max(limit - 1, 1)]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"
