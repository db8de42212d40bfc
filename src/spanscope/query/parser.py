"""The filter parser: recursive descent over the tokens, into a validated AST.

Grammar (keywords in any case)::

    filter     := expr END
    expr       := and_expr ('OR' and_expr)*
    and_expr   := not_expr ('AND' not_expr)*
    not_expr   := 'NOT' not_expr | primary
    primary    := '(' expr ')' | comparison
    comparison := identifier comparator value
                | identifier 'IS' ['NOT'] 'NULL'
                | identifier ['NOT'] 'IN' '(' value (',' value)* ')'
    comparator := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | '=='
                | ['NOT'] ('LIKE' | 'ILIKE' | 'RLIKE' | 'CONTAINS')
    value      := string | number | 'TRUE' | 'FALSE'

Each comparison is checked as soon as it is read (``validate``), then the tree gets the
same-span rule (``grouping``). Nesting is limited to ``MAX_DEPTH`` parentheses/NOTs, so
no input can exhaust Python's recursion limit.
"""

from __future__ import annotations

from spanscope.exceptions import FilterError
from spanscope.query.ast import And, Comparison, Node, Not, Op, Or
from spanscope.query.errors import did_you_mean, filter_error
from spanscope.query.fields import resolve_identifier
from spanscope.query.grouping import group_spans
from spanscope.query.lexer import Token, TokenKind, tokenize
from spanscope.query.validate import check_comparison

__all__ = ["MAX_DEPTH", "parse_filter"]

MAX_DEPTH = 100

_SYMBOL_OPS = {"=": Op.EQ, "!=": Op.NE, "<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_WORD_OPS = {"LIKE": Op.LIKE, "ILIKE": Op.ILIKE, "RLIKE": Op.RLIKE, "CONTAINS": Op.CONTAINS,
             "IN": Op.IN}
_NEGATED = {Op.LIKE: Op.NOT_LIKE, Op.ILIKE: Op.NOT_ILIKE, Op.RLIKE: Op.NOT_RLIKE,
            Op.CONTAINS: Op.NOT_CONTAINS, Op.IN: Op.NOT_IN}
_COMPARATORS = "=, !=, <, <=, >, >=, LIKE, ILIKE, RLIKE, CONTAINS, IN, NOT IN or IS [NOT] NULL"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # --- token helpers ------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.token.kind is TokenKind.KEYWORD and self.token.value in words

    def fail(self, detail: str, token: Token | None = None) -> FilterError:
        token = token or self.token
        return filter_error(self.text, token.position, detail, token=token.text or None)

    def expected(self, what: str, token: Token | None = None) -> FilterError:
        token = token or self.token
        return self.fail(f"expected {what}, found {token.describe()}", token)

    # --- grammar ------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expr(0)
        if self.token.kind is TokenKind.RPAREN:
            raise self.fail("unbalanced ')': no '(' is open here")
        if self.token.kind is not TokenKind.END:
            error = self.expected("AND, OR or the end of the filter after a complete "
                                  "condition")
            if self.token.kind is TokenKind.IDENT:
                hint = did_you_mean(self.token.text, ("AND", "OR", "NOT"), case=False)
                if hint:
                    raise self.fail(f"{error.args[0].split(': ', 1)[1]}; {hint}")
            raise error
        return node

    def expr(self, depth: int) -> Node:
        children = [self.and_expr(depth)]
        while self.at_keyword("OR"):
            self.advance()
            children.append(self.and_expr(depth))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_expr(self, depth: int) -> Node:
        children = [self.not_expr(depth)]
        while self.at_keyword("AND"):
            self.advance()
            children.append(self.not_expr(depth))
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_expr(self, depth: int) -> Node:
        if self.at_keyword("NOT"):
            self.check_depth(depth)
            self.advance()
            return Not(self.not_expr(depth + 1))
        return self.primary(depth)

    def primary(self, depth: int) -> Node:
        if self.token.kind is TokenKind.LPAREN:
            self.check_depth(depth)
            opening = self.advance()
            node = self.expr(depth + 1)
            if self.token.kind is not TokenKind.RPAREN:
                if self.token.kind is TokenKind.END:
                    raise self.fail("'(' is never closed", opening)
                raise self.expected("')' or AND/OR")
            self.advance()
            return node
        return self.comparison()

    def check_depth(self, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise self.fail(f"the filter nests parentheses and NOTs more than {MAX_DEPTH} "
                            "levels deep")

    def comparison(self) -> Comparison:
        ident = self.token
        if ident.kind is not TokenKind.IDENT:
            raise self.expected("a condition such as tags.env = 'prod' or "
                                "attributes.state = 'OK'")
        self.advance()
        field = resolve_identifier(self.text, ident)
        op, op_token = self.comparator(ident)
        values: list[Token] = []
        if op is Op.IN or op is Op.NOT_IN:
            values = self.value_list(op)
        elif op is not Op.IS_NULL and op is not Op.IS_NOT_NULL:
            values = [self.value(f"a value after {op_token.text!r}")]
        value, compare_as = check_comparison(self.text, field, ident.text, op, op_token,
                                             values)
        return Comparison(field, op, value, compare_as, ident.text, ident.position)

    def comparator(self, ident: Token) -> tuple[Op, Token]:
        token = self.token
        if token.kind is TokenKind.OPERATOR:
            self.advance()
            return _SYMBOL_OPS[str(token.value)], token
        if self.at_keyword(*_WORD_OPS):
            self.advance()
            return _WORD_OPS[str(token.value)], token
        if self.at_keyword("NOT"):
            self.advance()
            if not self.at_keyword(*_WORD_OPS):
                raise self.expected("IN, LIKE, ILIKE, RLIKE or CONTAINS after NOT")
            return _NEGATED[_WORD_OPS[str(self.advance().value)]], token
        if self.at_keyword("IS"):
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            if not self.at_keyword("NULL"):
                raise self.expected("NULL or NOT NULL after IS")
            self.advance()
            return (Op.IS_NOT_NULL if negated else Op.IS_NULL), token
        raise self.expected(f"a comparator ({_COMPARATORS}) after {ident.text!r}")

    def value(self, what: str) -> Token:
        token = self.token
        if token.kind in (TokenKind.STRING, TokenKind.NUMBER) or self.at_keyword("TRUE",
                                                                                  "FALSE"):
            return self.advance()
        if self.at_keyword("NULL"):
            raise self.fail("NULL is not a value; test for a missing value with IS NULL "
                            "or IS NOT NULL")
        if token.kind is TokenKind.IDENT:  # status = ERROR: a text value without quotes
            raise self.fail(f"expected {what}, found identifier {token.text!r}; text values "
                            f"are quoted: '{token.text}'")
        raise self.expected(what)

    def value_list(self, op: Op) -> list[Token]:
        if self.token.kind is not TokenKind.LPAREN:
            raise self.expected(f"'(' after {op}")
        self.advance()
        if self.token.kind is TokenKind.RPAREN:
            raise self.fail(f"{op} needs at least one value in its list")
        values = [self.value("a value in the list")]
        while self.token.kind is TokenKind.COMMA:
            self.advance()
            values.append(self.value("a value after ','"))
        if self.token.kind is not TokenKind.RPAREN:
            raise self.expected("',' or ')' in the list")
        self.advance()
        return values


def parse_filter(text: str | None) -> Node | None:
    """Parse and validate a filter string; None (match everything) for None or blank.

    Raises ``FilterError`` (a ``ValueError``) for anything else that is not a valid
    filter, with ``position`` and ``token`` set; it never raises another exception.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise FilterError(f"a filter must be a string, got {type(text).__name__}")
    if not text.strip():
        return None
    return group_spans(_Parser(text).parse())
