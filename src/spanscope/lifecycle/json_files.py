"""The JSON formats on disk: JSONL and the MLflow ``{"traces": [...]}`` document, streamed.

Writing appends one trace at a time. Reading never holds more than the trace being read
plus a read buffer: JSONL line by line, the document through ``_Scanner``, which decodes
one element of the ``traces`` list at a time with ``json.JSONDecoder.raw_decode`` and
reads more of the file (doubling) when an element runs past the buffer. Also read: a
bare JSON list of traces and a single trace object (``spanscope traces get`` output).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any

from spanscope.entities import Trace
from spanscope.exceptions import InvalidInputError
from spanscope.lifecycle.formats import is_gzip, trace_from_object, trace_json
from spanscope.store.stored import StoredTrace

__all__ = ["JsonTraceWriter", "open_text", "read_json_document", "read_jsonl"]

_CHUNK = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def open_text(path: str | os.PathLike[str], mode: str, *,
              compressed: bool | None = None) -> IO[str]:
    """A UTF-8 text file, gzipped when ``compressed`` (default: its name ends in ``.gz``)."""
    if is_gzip(path) if compressed is None else compressed:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


class JsonTraceWriter:
    """Writes traces as JSONL or as the MLflow document, on a text stream it does not own."""

    def __init__(self, out: IO[str], kind: str) -> None:
        self._out = out
        self._document = kind == "mlflow-json"
        self._count = 0
        if self._document:
            out.write('{"traces": [\n')

    def write(self, items: Sequence[tuple[StoredTrace, str | None]]) -> None:
        if not items:
            return
        texts = [trace_json(trace, name) for trace, name in items]
        if self._document:
            self._out.write((",\n" if self._count else "") + ",\n".join(texts))
        else:
            self._out.write("\n".join(texts) + "\n")
        self._count += len(items)

    def close(self) -> None:
        """End the document (the stream stays open)."""
        if self._document:
            self._out.write(("\n" if self._count else "") + '], "next_page_token": null}\n')


def read_jsonl(lines: IO[str], name: str) -> Iterator[tuple[Trace, str | None]]:
    """Traces of a JSONL file, one per non-blank line; errors name the line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except RecursionError:
            raise InvalidInputError(f"{name}: line {number} is nested too deeply") from None
        except ValueError as exc:
            raise InvalidInputError(f"{name}: line {number} is not JSON ({exc})") from None
        yield trace_from_object(value, f"{name}: line {number}")


def read_json_document(stream: IO[str], name: str) -> Iterator[tuple[Trace, str | None]]:
    """Traces of ``{"traces": [...], ...}``, of a JSON list of traces, or of one trace."""
    scanner = _Scanner(stream, name)
    first = scanner.peek()
    if first == "[":
        yield from _elements(scanner, name)
        scanner.expect_end()
        return
    scanner.take("{", "a JSON object with a traces list")
    others: dict[str, Any] = {}
    found = False
    while scanner.peek() != "}":
        key = scanner.value()
        if not isinstance(key, str):
            raise scanner.error("expected a key")
        scanner.take(":", "':' after a key")
        if key == "traces" and scanner.peek() == "[":
            found = True
            yield from _elements(scanner, name)
        else:
            others[key] = scanner.value()
        if scanner.peek() == ",":
            scanner.take(",", "','")
        elif scanner.peek() != "}":
            raise scanner.error("expected ',' or '}'")
    scanner.take("}", "'}'")
    scanner.expect_end()
    if not found:
        if "info" not in others:
            raise InvalidInputError(f"{name}: no \"traces\" list (expected the output of "
                                    "`mlflow traces search --output json`, a list of "
                                    "traces or one trace)")
        yield trace_from_object(others, f"{name}: trace 1")


def _elements(scanner: _Scanner, name: str) -> Iterator[tuple[Trace, str | None]]:
    scanner.take("[", "'['")
    if scanner.peek() == "]":
        scanner.take("]", "']'")
        return
    number = 0
    while True:
        number += 1
        yield trace_from_object(scanner.value(), f"{name}: trace {number}")
        following = scanner.peek()
        scanner.take(following if following in ",]" else ",", "',' or ']' after a trace")
        if following == "]":
            return


class _Scanner:
    """Just enough of a streaming JSON reader: whole values, one at a time."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream = stream
        self._name = name
        self._buffer = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the buffer's front, for messages
        self._eof = False

    def _more(self, at_least: int = _CHUNK) -> bool:
        if self._eof:
            return False
        data = self._stream.read(max(_CHUNK, at_least))
        if not data:
            self._eof = True
            return False
        self._offset += self._pos
        self._buffer = self._buffer[self._pos:] + data
        self._pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end)."""
        while True:
            self._pos = _WHITESPACE.match(self._buffer, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._more():
                return ""

    def take(self, char: str, what: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {what}")
        self._pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._pos)
            except RecursionError:
                raise self.error("a value is nested too deeply") from None
            except json.JSONDecodeError as exc:
                if self._more(len(self._buffer)):
                    continue  # the value runs past the buffer: read more and decode again
                raise self.error(f"not JSON ({exc.msg})") from None
            if end == len(self._buffer) and self._more():
                continue  # a number may go on in the next chunk
            self._pos = end
            return value

    def expect_end(self) -> None:
        if self.peek():
            raise self.error("unexpected text after the end of the document")

    def error(self, message: str) -> InvalidInputError:
        return InvalidInputError(f"{self._name}: {message} at character "
                                 f"{self._offset + self._pos}")
