"""FilterError messages: one line that quotes the filter and names the offending token.

The CLI prints ``str(error)`` as one line; ``caret_view`` renders the two-line picture
(filter, then a caret under the offending position) for people at a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable

from spanscope.exceptions import FilterError

__all__ = ["caret_view", "filter_error"]

_WINDOW = 60  # characters shown either side of the position in a long filter


def _printable(text: str) -> str:
    """One display character per input character, so a caret lines up under it."""
    return "".join(" " if ch in "\r\n\t\v\f" or not ch.isprintable() else ch for ch in text)


def _one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``), so a message stays one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def _window(text: str, position: int) -> tuple[str, int]:
    """A slice of ``text`` around ``position`` (whole if short) and the position in it."""
    if len(text) <= 2 * _WINDOW + 20:
        return _printable(text), position
    start = max(0, position - _WINDOW)
    end = min(len(text), position + _WINDOW)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + _printable(text[start:end]) + suffix, position - start + len(prefix)


def did_you_mean(written: str, known: Iterable[str], *, case: bool = True) -> str:
    """``did you mean 'x'?`` for the known name closest to ``written``, or ``""``."""
    import difflib

    choices = {(k if case else k.upper()): k for k in known}
    close = difflib.get_close_matches(written if case else written.upper(), list(choices),
                                      n=1, cutoff=0.75)
    return f"did you mean '{choices[close[0]]}'?" if close else ""


def filter_error(text: str, position: int, detail: str, *, token: str | None = None,
                 what: str = "filter") -> FilterError:
    """A ``FilterError`` saying ``Invalid filter "<text>" at position N: <detail>``."""
    shown, _ = _window(text, position)
    return FilterError(f'Invalid {what} "{shown}" at position {position}: {_one_line(detail)}',
                       filter_string=text, position=position, token=token)


def caret_view(error: FilterError) -> str:
    """The filter on one line and a caret under the offending token on the next.

    Falls back to the message alone when the error carries no position.
    """
    if error.position is None:
        return str(error)
    shown, offset = _window(error.filter_string, error.position)
    width = max(1, len(error.token or "")) if error.token else 1
    width = min(width, max(1, len(shown) - offset))
    return f"{shown}\n{' ' * offset}{'^' * width}"
