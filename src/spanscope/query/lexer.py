"""The one tokenizer of every filter: text to tokens that remember where they start.

Trace filters, run and dataset filters, order-by items and single identifiers all read
their text here, so a string, an escape or a quoted name means the same in each.

Identifiers are read whole, dots included (``tags.`mlflow.traceId` ``), as a tuple of
segments, so quoting a segment (backticks, or double quotes after a dot) is how a key
keeps its dots and spaces; a bare segment may also hold ``-``, ``:`` and ``/`` after its
first character (``metrics.train/loss``, as run keys are written). A one-segment bare
word that is a keyword (``AND``, ``IN``, ``TRUE`` ...) becomes a keyword token, in any
letter case.
"""

from __future__ import annotations

import dataclasses
import math
import re
from enum import Enum

from spanscope.query.errors import filter_error

__all__ = ["KEYWORDS", "Segment", "Token", "TokenKind", "tokenize"]

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "RLIKE",
                      "CONTAINS", "TRUE", "FALSE", "ASC", "DESC"})

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("!=", "<>", "<=", ">=", "==", "=", "<", ">")  # longest first
_OPERATOR_CANONICAL = {"<>": "!=", "==": "="}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`"}
_INT64 = 2**63 - 1
_NAME_PUNCTUATION = "-:/"  # allowed inside a bare name after its first character (run keys)


class TokenKind(Enum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    KEYWORD = "keyword"
    OPERATOR = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    END = "end of input"


@dataclasses.dataclass(frozen=True)
class Segment:
    """One dot-separated part of an identifier; ``quoted`` if written in backticks/quotes."""

    text: str
    quoted: bool
    position: int


@dataclasses.dataclass(frozen=True)
class Token:
    """``text`` is the source slice; ``value`` the decoded string, number or keyword."""

    kind: TokenKind
    text: str
    position: int
    value: str | int | float | None = None
    segments: tuple[Segment, ...] = ()

    def describe(self) -> str:
        """How a message names this token: ``end of input``, ``'AND'``, ``string 'x'``."""
        if self.kind is TokenKind.END:
            return "end of input"
        shown = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        if self.kind is TokenKind.STRING:
            return f"string {shown}"
        if self.kind is TokenKind.NUMBER:
            return f"number {shown}"
        if self.kind is TokenKind.IDENT:
            return f"identifier '{shown}'"
        return f"'{shown}'"


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class _Lexer:
    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.pos = 0

    def error(self, position: int, detail: str, token: str | None = None) -> Exception:
        return filter_error(self.text, position, detail, token=token, what=self.what)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(text):
                out.append(Token(TokenKind.END, "", len(text)))
                return out
            out.append(self._next())

    def _next(self) -> Token:
        text, start = self.text, self.pos
        ch = text[start]
        if ch in "(),":
            self.pos += 1
            kind = {"(": TokenKind.LPAREN, ")": TokenKind.RPAREN, ",": TokenKind.COMMA}[ch]
            return Token(kind, ch, start)
        for op in _OPERATORS:
            if text.startswith(op, start):
                self.pos += len(op)
                return Token(TokenKind.OPERATOR, op, start, _OPERATOR_CANONICAL.get(op, op))
        if ch in "'\"":
            value = self._quoted(ch)
            return Token(TokenKind.STRING, text[start:self.pos], start, value)
        number = _NUMBER.match(text, start)
        if number and (ch.isdigit() or ch in "+-."):
            return self._number(number)
        if _is_word(ch) or ch == "`":
            return self._identifier()
        raise self.error(start, f"unexpected character {ch!r}", ch)

    def _number(self, match: re.Match[str]) -> Token:
        start, end = match.span()
        raw = match.group()
        if end < len(self.text) and (_is_word(self.text[end]) or self.text[end] in ".`"):
            bad = raw + self.text[end]
            raise self.error(start, f"malformed number starting {bad!r}", raw)
        self.pos = end
        value: int | float
        if re.fullmatch(r"[+-]?[0-9]+", raw):
            value = int(raw)
            if abs(value) > _INT64:
                raise self.error(start, f"number {raw} is out of range (64-bit integers)", raw)
        else:
            value = float(raw)
            if not math.isfinite(value):
                raise self.error(start, f"number {raw} is out of range", raw)
        return Token(TokenKind.NUMBER, raw, start, value)

    def _quoted(self, quote: str) -> str:
        """Read a quoted string or segment at ``self.pos``; backslash escapes, doubled quotes.

        Unknown escapes keep their backslash (``'\\d+'`` stays a regex, ``'50\\%'`` a LIKE
        escape).
        """
        text, start = self.text, self.pos
        i = start + 1
        parts: list[str] = []
        while i < len(text):
            ch = text[i]
            if ch == "\\" and quote != "`":
                if i + 1 >= len(text):
                    break
                nxt = text[i + 1]
                parts.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
            elif ch == quote:
                if i + 1 < len(text) and text[i + 1] == quote:
                    parts.append(quote)
                    i += 2
                else:
                    self.pos = i + 1
                    return "".join(parts)
            else:
                parts.append(ch)
                i += 1
        kind = "quoted name" if quote == "`" else "string"
        raise self.error(start, f"unterminated {kind} starting with {quote}", quote)

    def _identifier(self) -> Token:
        text, start = self.text, self.pos
        segments: list[Segment] = []
        while True:
            seg_start = self.pos
            ch = text[seg_start] if seg_start < len(text) else ""
            if ch == "`" or (ch == '"' and segments):
                segments.append(Segment(self._quoted(ch), True, seg_start))
            elif ch and _is_word(ch):
                i = seg_start
                while i < len(text) and (_is_word(text[i]) or text[i] in _NAME_PUNCTUATION):
                    i += 1
                self.pos = i
                segments.append(Segment(text[seg_start:i], False, seg_start))
            else:
                raise self.error(seg_start, f"expected a name after '{text[start:seg_start]}'")
            if self.pos < len(text) and text[self.pos] == ".":
                self.pos += 1
                continue
            break
        raw = text[start:self.pos]
        if len(segments) == 1 and not segments[0].quoted and raw.upper() in KEYWORDS:
            return Token(TokenKind.KEYWORD, raw, start, raw.upper())
        return Token(TokenKind.IDENT, raw, start, raw, tuple(segments))


def tokenize(text: str, *, what: str = "filter") -> list[Token]:
    """The tokens of ``text``, ending with an ``END`` token; ``FilterError`` if it cannot."""
    return _Lexer(text, what).tokens()
