"""Lay out a table for a terminal width without cutting an id, a number or a time.

Rich shrinks whatever is widest when a table does not fit, which is usually the trace id;
an id cut to ``tr-b3aff0e6…`` or a number cut to ``329,0…`` cannot be copied or trusted.
Here every column is either *whole* (ids, numbers, states, times: shown in full or, if
optional, left out) or *free text* (names, previews, messages: cut with an ellipsis to the
room left, or left out below a minimum). Free text gives way first, in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich import box
from rich.table import Table
from rich.text import Text

from spanscope.entities.text import one_line

__all__ = ["Column", "fit_table", "table_width"]


@dataclass
class Column:
    """One column: its header, its cells (already formatted) and how it may give way.

    ``short`` is a narrower form of every cell (e.g. a time without its year), used when
    the whole columns do not fit at full width.
    """

    header: str
    cells: list[str | Text]
    whole: bool = True
    numeric: bool = False
    max_width: int | None = None  # free text: never wider than this
    min_width: int = 10  # free text: left out when less room than this remains
    optional: bool = False  # a whole column that may be left out to make room
    keep: int = 0  # free text: a higher one is left out later (asked-for columns)
    short: list[str | Text] | None = None
    style: str = ""
    _width: int = field(default=0, init=False, repr=False)

    def natural(self) -> int:
        return max([len(self.header), *(len(_plain(c)) for c in self.cells)])


def _plain(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


_GAP = 2  # spaces between two columns (see ``_table``)


def table_width(widths: Sequence[int]) -> int:
    """The width of a table made by ``fit_table`` with columns this wide."""
    return sum(widths) + _GAP * max(len(widths) - 1, 0)


def _layout(columns: list[Column], width: int, *, drop_kept: bool) -> list[Column] | None:
    """The columns that fit ``width`` with their widths set, or None if they do not fit
    without leaving out a kept free-text column (``drop_kept=False``) or at all."""
    shown = list(columns)
    whole = [c for c in shown if c.whole]
    for c in whole:
        c._width = c.natural()
    while True:
        text = [c for c in shown if not c.whole]
        room = width - table_width([0] * len(shown)) - sum(c._width for c in whole)
        if room < sum(min(c.min_width, c.natural()) for c in text):
            if not text:
                return None
            weakest = min(reversed(text), key=lambda c: c.keep)  # ties: the rightmost
            if weakest.keep > 0 and not drop_kept:
                return None
            shown.remove(weakest)
            continue
        for i, c in enumerate(text):
            later = sum(min(o.min_width, o.natural()) for o in text[i + 1:])
            c._width = min(c.natural(), c.max_width or c.natural(), room - later)
            room -= c._width
        return shown


def fit_table(columns: Sequence[Column], *, width: int, title: str | None = None,
              caption: str | None = None) -> Table:
    """A Rich table of ``columns`` that fits ``width`` without cutting a whole column.

    In turn: free-text columns are cut with an ellipsis, and those not kept left out;
    whole columns take their ``short`` forms; optional whole columns are left out, right
    to left; kept free text is left out. If even that is too wide, whole columns fold onto
    a second line rather than lose characters.
    """
    candidates = list(columns)
    attempts = [candidates, [_shortened(c) for c in candidates]]
    while any(c.optional for c in attempts[-1]):
        fewer = list(attempts[-1])
        fewer.remove(next(c for c in reversed(fewer) if c.optional))
        attempts.append(fewer)
    shown = next((s for a in attempts if (s := _layout(a, width, drop_kept=False))), None)
    shown = shown or _layout(attempts[-1], width, drop_kept=True)
    folding = shown is None
    if shown is None:
        shown = [c for c in attempts[-1] if c.whole]
    table = Table(title=title, caption=caption, caption_justify="left", title_justify="left",
                  title_style="bold", header_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True)
    for c in shown:
        justify = "right" if c.numeric else "left"
        if c.whole:
            table.add_column(c.header, justify=justify, style=c.style,
                             no_wrap=not folding, overflow="fold",
                             min_width=None if folding else c._width)
        else:
            table.add_column(c.header, justify=justify, style=c.style, no_wrap=True,
                             overflow="ellipsis", width=c._width)
    for i in range(len(shown[0].cells) if shown else 0):
        table.add_row(*(_cell(c, i) for c in shown))
    return table


def _cell(column: Column, i: int) -> Text:
    cell = column.cells[i]
    text = cell if isinstance(cell, Text) else Text(cell)  # Text: values may hold [brackets]
    if not column.whole and column._width and len(text.plain) > column._width:
        text = Text(one_line(text.plain, column._width), style=text.style)
    return text


def _shortened(column: Column) -> Column:
    if column.short is None:
        return column
    return Column(column.header, column.short, whole=column.whole, numeric=column.numeric,
                  max_width=column.max_width, min_width=column.min_width,
                  optional=column.optional, keep=column.keep, style=column.style)

