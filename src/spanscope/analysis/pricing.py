"""Model prices, for the estimated cost of traces.

A price table ships with the package (``model_prices.json``: USD per million input and
output tokens). ``SPANSCOPE_MODEL_PRICES=path.json`` (read once, on first use) and
``set_model_prices({...})`` add or replace entries; ``set_model_prices(None)`` goes back
to the shipped table plus the file. A model name matches its exact entry, else the
longest entry it starts with followed by ``-``, ``:`` or ``@`` (so ``gpt-4o-2024-08-06``
is priced as ``gpt-4o`` and ``gpt-4o-mini-2024-07-18`` as ``gpt-4o-mini``), after a
provider prefix such as ``openai:/`` or ``anthropic/`` is dropped. Case is ignored.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from spanscope.exceptions import InvalidInputError

__all__ = ["PRICES_ENV", "ModelPrice", "cost_usd", "get_model_prices", "price_for",
           "set_model_prices"]

PRICES_ENV = "SPANSCOPE_MODEL_PRICES"
_lock = threading.Lock()
_table: dict[str, ModelPrice] | None = None
_overrides: dict[str, ModelPrice] = {}


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000

    def to_dict(self) -> dict[str, float]:
        return {"input": self.input, "output": self.output}


def _price(name: str, value: Any, source: str) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, Mapping):
        pair = (value.get("input"), value.get("output"))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (value[0], value[1])
    else:
        pair = (None, None)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
               for v in pair):
        raise InvalidInputError(f"price of {name!r} in {source} must be "
                                "{'input': USD_per_1M, 'output': USD_per_1M} with numbers >= 0, "
                                f"got {value!r}")
    return ModelPrice(float(pair[0]), float(pair[1]))  # type: ignore[arg-type]


def _parse(data: Any, source: str) -> dict[str, ModelPrice]:
    models = data.get("models", data) if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping):
        raise InvalidInputError(f"{source} must map model names to prices")
    return {str(name).lower(): _price(str(name), value, source)
            for name, value in models.items() if not str(name).startswith("_")}


def _load() -> dict[str, ModelPrice]:
    shipped = resources.files("spanscope.analysis").joinpath("model_prices.json").read_text(
        encoding="utf-8")
    table = _parse(json.loads(shipped), "the shipped price table")
    path = os.environ.get(PRICES_ENV)
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{PRICES_ENV}={path}: cannot read a JSON price table "
                                    f"({exc})") from None
        table.update(_parse(data, f"{PRICES_ENV}={path}"))
    return table


def get_model_prices() -> dict[str, ModelPrice]:
    """The effective table: shipped, then the environment's file, then ``set_model_prices``."""
    global _table
    with _lock:
        if _table is None:
            _table = _load()
        return {**_table, **_overrides}


def set_model_prices(prices: Mapping[str, Any] | None) -> None:
    """Add or replace prices (``{name: {"input": usd, "output": usd}}``, per 1M tokens);
    ``None`` removes everything set here."""
    global _overrides
    parsed = {} if prices is None else _parse(prices, "set_model_prices")
    with _lock:
        _overrides = {} if prices is None else {**_overrides, **parsed}


def _reset_for_tests() -> None:
    """Forget the loaded table (so a changed environment variable is read again)."""
    global _table, _overrides
    with _lock:
        _table, _overrides = None, {}


def _normalise(model: str) -> str:
    name = model.strip().lower()
    for separator in (":/", "/"):
        if separator in name:
            name = name.rsplit(separator, 1)[1]
    return name


def price_for(model: str | None, prices: Mapping[str, ModelPrice] | None = None,
              ) -> ModelPrice | None:
    """The price of ``model`` (see the module docstring for matching), or None."""
    if not model:
        return None
    table = get_model_prices() if prices is None else prices
    name = _normalise(model)
    if name in table:
        return table[name]
    best = None
    for key in table:
        if name.startswith(key) and name[len(key)] in "-:@" and (
                best is None or len(key) > len(best)):
            best = key
    return None if best is None else table[best]


def cost_usd(model: str | None, input_tokens: int, output_tokens: int,
             prices: Mapping[str, ModelPrice] | None = None) -> float | None:
    """Estimated USD cost of the tokens, or None when the model has no price."""
    price = price_for(model, prices)
    return None if price is None else price.cost(input_tokens, output_tokens)
