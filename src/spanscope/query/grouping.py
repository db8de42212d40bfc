"""The same-span rule: which span conditions must hold on one span.

MLflow reads ``span.type = 'LLM' AND span.duration_ms > 500`` as "one span is an LLM span
and slow", and so do we. The rule, applied to the parsed tree:

- A *span-only* expression is a span comparison, or an ``And``/``Or`` whose operands are
  all span-only. ``Not`` is never span-only.
- In each ``And``/``Or`` chain (the operands written at one parenthesis level), the
  span-only operands are joined with the chain's operator into one condition, wrapped in
  ``AnySpan``: some span satisfies all of it. A whole filter that is span-only is one
  ``AnySpan``.
- ``Not f`` matches exactly the traces ``f`` does not match: ``NOT span.status = 'ERROR'``
  means no span failed. Inside one span, negate with ``!=``, ``NOT IN``, ``NOT LIKE``.
- Span conditions in different chains (one inside a parenthesised group that also holds
  trace conditions, or under a ``NOT``) are independent: different spans may satisfy them.
"""

from __future__ import annotations

from spanscope.query.ast import And, AnySpan, Comparison, Node, Not, Or

__all__ = ["group_spans", "is_span_only"]


def is_span_only(node: Node) -> bool:
    if isinstance(node, Comparison):
        return node.on_span
    if isinstance(node, (And, Or)):
        return all(is_span_only(child) for child in node.children)
    return False


def _flatten(node: Node) -> Node:
    """Inside one span condition, ``(a AND b) AND c`` is ``a AND b AND c``."""
    if not isinstance(node, (And, Or)):
        return node
    children: list[Node] = []
    for child in node.children:
        child = _flatten(child)
        if type(child) is type(node):
            children.extend(child.children)  # type: ignore[union-attr]
        else:
            children.append(child)
    return type(node)(tuple(children))


def group_spans(node: Node) -> Node:
    """Wrap span conditions in ``AnySpan`` nodes following the rule above."""
    if is_span_only(node):
        return AnySpan(_flatten(node))
    if isinstance(node, Not):
        return Not(group_spans(node.child))
    if isinstance(node, (And, Or)):
        op = type(node)
        span_operands = [child for child in node.children if is_span_only(child)]
        out: list[Node] = []
        placed = False
        for child in node.children:
            if not is_span_only(child):
                out.append(group_spans(child))
            elif not placed:  # the merged span condition takes the first one's place
                merged = span_operands[0] if len(span_operands) == 1 else op(
                    tuple(span_operands))
                out.append(AnySpan(_flatten(merged)))
                placed = True
        return out[0] if len(out) == 1 else op(tuple(out))
    return node
