"""Reading a judge model's answer: the first JSON object in the text, then its result.

Models wrap JSON in code fences, add prose before or after it, use single quotes or
Python's ``True``; none of that should turn a clear verdict into an error. What cannot
be read is a ``JudgeParseError`` whose message quotes the start of the answer, so the
assessment error says what the judge actually wrote.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from typing import Any, Literal

__all__ = [
    "JudgeParseError",
    "ResultKind",
    "extract_json_object",
    "normalise_pass_fail",
    "parse_judgement",
]

ResultKind = Literal["pass_fail", "numeric", "bool", "text"]

_RESULT_KEYS = ("result", "score", "value", "verdict", "answer", "rating", "label")
_RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation", "justification")
_YES = {"yes", "y", "true", "pass", "passed", "correct", "safe", "1"}
_NO = {"no", "n", "false", "fail", "failed", "incorrect", "unsafe", "0"}
_PY_LITERALS = re.compile(r"\b(true|false|null)\b")


class JudgeParseError(ValueError):
    """The judge's answer holds no usable ``{"result": ..., "rationale": ...}`` object."""


def _preview(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start`` (quotes respected)."""
    depth = 0
    quote: str | None = None
    escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _load(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    try:  # single quotes, Python literals, trailing commas
        return ast.literal_eval(_PY_LITERALS.sub(
            lambda m: {"true": "True", "false": "False", "null": "None"}[m.group(1)],
            candidate))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every top-level ``{...}`` in ``text`` that parses as an object, in order."""
    start = text.find("{")
    while start != -1:
        end = _balanced_end(text, start)
        value = None if end is None else _load(text[start:end])
        if isinstance(value, dict):
            yield value
            start = text.find("{", end)
        else:
            start = text.find("{", start + 1)


def extract_json_object(text: str) -> dict[str, Any]:
    """The first ``{...}`` in ``text`` that parses as an object (fences and prose skipped)."""
    for value in _json_objects(text):
        return value
    raise JudgeParseError(f"the judge's answer contains no JSON object: {_preview(text)}")


def _pick(data: dict[str, Any], keys: tuple[str, ...]) -> tuple[bool, Any]:
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    for key in keys:
        if key in lowered:
            return True, lowered[key]
    return False, None


def normalise_pass_fail(value: Any) -> str:
    """``"yes"`` or ``"no"`` from the many ways a model says it; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and value in (0, 1):
        return "yes" if value == 1 else "no"
    if isinstance(value, str):
        word = value.strip().strip(".!\"'`*").strip().lower()
        if word in _YES:
            return "yes"
        if word in _NO:
            return "no"
    raise ValueError(f"result {value!r} is not yes or no")


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError(f"result {value!r} is not a number")
    if isinstance(value, (int, float)):
        number: float | int = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"result {value!r} is not a number") from None
    else:
        raise ValueError(f"result {value!r} is not a number")
    if isinstance(number, float):
        if not math.isfinite(number):
            raise ValueError(f"result {value!r} is not a finite number")
        if number.is_integer() and not (isinstance(value, float)):
            number = int(number)
    return number


def parse_judgement(text: str, kind: ResultKind = "pass_fail") -> tuple[Any, str | None]:
    """``(value, rationale)`` from a judge's answer; ``JudgeParseError`` when unusable.

    ``pass_fail`` gives ``"yes"``/``"no"``, ``bool`` gives True/False, ``numeric`` a
    number, ``text`` the result as written.
    """
    found, raw, data = False, None, extract_json_object(text)
    for candidate in _json_objects(text):  # the first object that carries a result
        found, raw = _pick(candidate, _RESULT_KEYS)
        if found:
            data = candidate
            break
    if not found:
        raise JudgeParseError(f"the judge's JSON has no \"result\" field: {_preview(text)}")
    _, rationale = _pick(data, _RATIONALE_KEYS)
    rationale = None if rationale is None else str(rationale)
    try:
        if kind == "pass_fail":
            value: Any = normalise_pass_fail(raw)
        elif kind == "bool":
            value = normalise_pass_fail(raw) == "yes"
        elif kind == "numeric":
            value = _number(raw)
        else:
            value = raw if isinstance(raw, (str, int, float, bool)) else json.dumps(raw)
    except ValueError as exc:
        raise JudgeParseError(f"{exc}: {_preview(text)}") from None
    return value, rationale
