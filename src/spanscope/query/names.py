"""One identifier on its own: ``tags.app_version``, ```my.tool`.outputs.0``.

Analyses name a field to group by or correlate, ``search_traces`` names extract fields, and
order-by items name a sort key; each reads it with the filter language's own tokenizer, so a
backticked key, a doubled quote or an escape means the same everywhere. ``parse_identifier``
gives the dotted segments (for callers with their own vocabulary); ``parse_field`` resolves
them to the trace field a filter would compare.
"""

from __future__ import annotations

from spanscope.exceptions import FilterError
from spanscope.query.ast import Field
from spanscope.query.errors import filter_error
from spanscope.query.fields import resolve_identifier
from spanscope.query.lexer import Segment, Token, TokenKind, tokenize

__all__ = ["identifier_token", "parse_field", "parse_identifier"]


def identifier_token(text: str, *, what: str = "identifier") -> Token:
    """The one identifier token ``text`` holds; ``FilterError`` if it holds anything else."""
    if not isinstance(text, str):
        raise FilterError(f"{what} must be a string, got {type(text).__name__}")
    tokens = tokenize(text, what=what)
    first = tokens[0]
    if first.kind is not TokenKind.IDENT:
        found = "nothing" if first.kind is TokenKind.END else first.describe()
        raise filter_error(text, first.position, f"expected a name such as tags.KEY, found "
                           f"{found}", token=first.text or None, what=what)
    extra = tokens[1]
    if extra.kind is not TokenKind.END:
        raise filter_error(text, extra.position, f"expected the end after the name, found "
                           f"{extra.describe()}", token=extra.text, what=what)
    return first


def parse_identifier(text: str, *, what: str = "identifier") -> tuple[Segment, ...]:
    """The dot-separated segments of one identifier (quotes removed, ``quoted`` marked).

    ``FilterError`` (a ``ValueError``) when ``text`` is not exactly one identifier.
    """
    return identifier_token(text, what=what).segments


def parse_field(text: str, *, what: str = "identifier") -> Field:
    """The trace field one identifier names (``tag.env`` is ``Tag("env")``), as in a filter.

    ``FilterError`` when ``text`` is not one identifier or names no field.
    """
    return resolve_identifier(text, identifier_token(text, what=what), what=what)
