"""Model prices with effective dates, and the cost of model usage priced by them.

A price table maps model names to dated price entries: per million tokens, ``input``,
``output`` and, where the provider prices them apart, ``cached_input`` (cache reads),
``cache_write`` (cache creation) and ``reasoning`` (unset: the input, input and output
price). A call is priced by the latest entry whose ``effective_from`` is at or before its
trace's request time (an entry without a date applies from the beginning), so a price
change applies from its date on and older traces keep their price.

The table ships with the package (``model_prices.json``); ``SPANSCOPE_MODEL_PRICES=path``
(a deployment's file, read once on first use) and ``set_model_prices({...})`` are merged
over it: an entry replaces the one of the same model and date, other dates are added. A
model name matches its exact entry, else the longest entry it starts with followed by
``-``, ``:`` or ``@`` (so ``gpt-4o-2024-08-06`` is priced as ``gpt-4o``), after a provider
prefix such as ``openai:/`` or ``anthropic/`` is dropped. Case is ignored.

A call with no price (no entry for its model, none in effect yet, no model name, or only a
total token count) is *unpriced*: ``cost_of`` counts its calls and tokens apart and never
as zero; a cost is None when nothing at all was priced.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from spanscope.entities.model_usage import USAGE_COUNTS, trace_usage_by_model_and_type
from spanscope.exceptions import InvalidInputError
from spanscope.store.aggregates import GroupKey, ModelUsageRow, Selection

if TYPE_CHECKING:
    from spanscope.entities import Trace
    from spanscope.store.base import AnalyticsStore

__all__ = ["CURRENCY_SYMBOLS", "PRICES_ENV", "CostTotal", "ModelPrice", "PriceTable",
           "as_table", "cost_by", "cost_of", "cost_usd", "format_money", "get_model_prices",
           "load_price_file", "load_prices",
           "price_for", "selection_cost", "set_model_prices", "trace_cost",
           "usage_for_pricing"]

PRICES_ENV = "SPANSCOPE_MODEL_PRICES"
# How summaries write an amount: these currencies by symbol, any other by its ISO code.
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3"}
UNNAMED_MODEL = "(unnamed model)"
_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
_ENTRY_FIELDS = (*_PRICE_FIELDS, "effective_from", "currency")
_lock = threading.Lock()
_table: PriceTable | None = None
_overrides: PriceTable | None = None
K = TypeVar("K", bound=Hashable)


def format_money(value: float, currency: str = "USD") -> str:
    """An estimated cost as summaries print it, in the price table's currency: ``$1.23``,
    ``\u20ac0.0042``, ``\u00a31,204.50``, and for other currencies ``12.50 CHF``. Four
    decimals under one unit, where per-call costs live."""
    amount = f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"
    code = str(currency or "USD").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol is None:
        return f"{amount} {code}"
    return f"-{symbol}{amount[1:]}" if amount.startswith("-") else f"{symbol}{amount}"


@dataclass(frozen=True)
class ModelPrice:
    """Prices per million tokens, in effect from ``effective_from`` (epoch ms, UTC; None:
    always). ``cached_input``, ``cache_write`` and ``reasoning`` default to the input,
    input and output price."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    effective_from: int | None = None
    currency: str = "USD"

    def parts(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0,
              cache_write_tokens: int = 0, reasoning_tokens: int = 0) -> tuple[float, float]:
        """(input cost, output cost). Cache tokens are part of ``input_tokens`` and
        reasoning tokens part of ``output_tokens``, as every source reports them."""
        plain_in = max(0, input_tokens - cached_input_tokens - cache_write_tokens)
        plain_out = max(0, output_tokens - reasoning_tokens)
        cached = self.input if self.cached_input is None else self.cached_input
        write = self.input if self.cache_write is None else self.cache_write
        reasoning = self.output if self.reasoning is None else self.reasoning
        return ((plain_in * self.input + cached_input_tokens * cached
                 + cache_write_tokens * write) / 1_000_000,
                (plain_out * self.output + reasoning_tokens * reasoning) / 1_000_000)

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0,
             cache_write_tokens: int = 0, reasoning_tokens: int = 0) -> float:
        return sum(self.parts(input_tokens, output_tokens, cached_input_tokens,
                              cache_write_tokens, reasoning_tokens))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _PRICE_FIELDS
                               if getattr(self, name) is not None}
        if self.effective_from is not None:
            out["effective_from"] = _iso(self.effective_from)
        out["currency"] = self.currency
        return out


class PriceTable(Mapping[str, ModelPrice]):
    """Model name (lower case) → its price entries, oldest first.

    As a mapping it gives each model's latest entry, so ``name in table`` and
    ``table[name]`` read as a plain price list; ``price_at`` chooses by date.
    """

    def __init__(self, entries: Mapping[str, Iterable[ModelPrice]] | None = None,
                 currency: str = "USD") -> None:
        self.currency = currency
        self._entries: dict[str, tuple[ModelPrice, ...]] = {}
        for name, prices in (entries or {}).items():
            history = sorted(prices, key=_date_key)
            for price in history:
                if price.currency != currency:
                    raise InvalidInputError(
                        f"price of {name!r} is in {price.currency}, the table in {currency}: "
                        "one table holds one currency")
            dates = [p.effective_from for p in history]
            if len(set(dates)) != len(dates):
                raise InvalidInputError(f"price of {name!r}: two entries with the same "
                                        "effective_from")
            if history:
                self._entries[name.lower()] = tuple(history)

    def __getitem__(self, name: str) -> ModelPrice:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._entries[name.lower()][-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} models, {self.currency})"

    def history(self, name: str) -> tuple[ModelPrice, ...]:
        """Every entry of one table name, oldest first (empty when it has none)."""
        return self._entries.get(name.lower(), ())

    def match(self, model: str | None) -> str | None:
        """The table name that prices ``model`` (see the module docstring), or None."""
        if not model:
            return None
        name = _normalise(model)
        if name in self._entries:
            return name
        best = None
        for key in self._entries:
            if name.startswith(key) and name[len(key)] in "-:@" and (
                    best is None or len(key) > len(best)):
                best = key
        return best

    def price_at(self, model: str | None, at_ms: int | None = None) -> ModelPrice | None:
        """The entry in effect for ``model`` at ``at_ms`` (epoch ms; None: now), or None."""
        name = self.match(model)
        if name is None:
            return None
        at = int(time.time() * 1000) if at_ms is None else at_ms
        found = None
        for price in self._entries[name]:
            if price.effective_from is not None and price.effective_from > at:
                break
            found = price
        return found

    def boundaries(self) -> tuple[int, ...]:
        """Every ``effective_from`` of the table (epoch ms, sorted): the ``periods`` to
        split ``AnalyticsStore.model_usage`` by, so no row straddles a price change."""
        return tuple(sorted({p.effective_from for history in self._entries.values()
                             for p in history if p.effective_from is not None}))

    def merged(self, other: PriceTable) -> PriceTable:
        """``other`` over this table: its entries replace those of the same model and date.
        A table in another currency replaces this one whole."""
        if other.currency != self.currency:
            return other
        entries = {name: {p.effective_from: p for p in history}
                   for name, history in self._entries.items()}
        for name, history in other._entries.items():
            entries.setdefault(name, {}).update({p.effective_from: p for p in history})
        return PriceTable({n: list(e.values()) for n, e in entries.items()}, self.currency)

    def to_dict(self) -> dict[str, Any]:
        """The table in the file format ``load_prices`` reads."""
        return {"currency": self.currency,
                "models": {name: [p.to_dict() for p in history]
                           for name, history in self._entries.items()}}


@dataclass
class CostTotal:
    """The cost of some model usage and what could not be priced.

    ``cost`` is None when no call was priced (never 0 for "unknown"); ``unpriced_calls``
    and ``unpriced_tokens`` count the calls left out of it, ``unpriced_models`` their
    model names (``"(unnamed model)"`` when the spans named none).
    """

    cost: float | None = None
    currency: str = "USD"
    input_cost: float = 0.0  # cache reads and writes included
    output_cost: float = 0.0  # reasoning included
    calls: int = 0
    tokens: int = 0
    unpriced_calls: int = 0
    unpriced_tokens: int = 0
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def priced(self) -> bool:
        return self.cost is not None

    def to_dict(self) -> dict[str, Any]:
        return {"cost": self.cost, "currency": self.currency, "input_cost": self.input_cost,
                "output_cost": self.output_cost, "calls": self.calls, "tokens": self.tokens,
                "unpriced_calls": self.unpriced_calls, "unpriced_tokens": self.unpriced_tokens,
                "unpriced_models": list(self.unpriced_models)}


def cost_of(rows: Iterable[ModelUsageRow], prices: PriceTable | Mapping[str, Any] | None = None,
            ) -> CostTotal:
    """The cost of ``AnalyticsStore.model_usage`` rows, each priced by the entry in effect
    at its traces' request time.

    Ask the store with ``periods=prices.boundaries()`` (``usage_for_pricing`` does) when
    the table has dated entries: a row whose traces straddle a price change raises
    ``InvalidInputError`` rather than guessing. ``prices`` defaults to the effective table
    (``get_model_prices()``); a plain ``{model: {"input": .., "output": ..}}`` works too.
    """
    return _total(rows, as_table(prices))


def cost_by(rows: Iterable[ModelUsageRow], key: Callable[[ModelUsageRow], K],
            prices: PriceTable | Mapping[str, Any] | None = None) -> dict[K, CostTotal]:
    """``cost_of`` per ``key(row)`` (e.g. ``lambda r: (r.bucket_ms, r.group)``)."""
    table = as_table(prices)
    grouped: dict[K, list[ModelUsageRow]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return {k: _total(members, table) for k, members in grouped.items()}


def _total(rows: Iterable[ModelUsageRow], table: PriceTable) -> CostTotal:
    total = CostTotal(currency=table.currency)
    unpriced: set[str] = set()
    cost_in = cost_out = 0.0
    priced_any = False
    for row in rows:
        tokens = row.total_tokens or row.input_tokens + row.output_tokens
        total.calls += row.calls
        total.tokens += tokens
        price = _row_price(row, table)
        if price is None or (row.input_tokens == 0 and row.output_tokens == 0 and tokens):
            total.unpriced_calls += row.calls
            total.unpriced_tokens += tokens
            unpriced.add(row.model or UNNAMED_MODEL)
            continue
        part_in, part_out = price.parts(row.input_tokens, row.output_tokens,
                                        row.cache_read_input_tokens,
                                        row.cache_creation_input_tokens, row.reasoning_tokens)
        cost_in, cost_out, priced_any = cost_in + part_in, cost_out + part_out, True
    if priced_any:
        total.cost, total.input_cost, total.output_cost = cost_in + cost_out, cost_in, cost_out
    total.unpriced_models = sorted(unpriced)
    return total


def _row_price(row: ModelUsageRow, table: PriceTable) -> ModelPrice | None:
    if not row.model:
        return None
    price = table.price_at(row.model, row.first_ms)
    if (row.first_ms is not None and row.last_ms is not None and row.last_ms != row.first_ms
            and table.price_at(row.model, row.last_ms) != price):
        raise InvalidInputError(
            f"usage of {row.model!r} spans a price change; ask model_usage with "
            "periods=prices.boundaries() so each row falls within one price period")
    return price


# --- the table: files, the shipped one, overrides -----------------------------------------
def _number(name: str, key: str, value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"price of {name!r} in {source}: {key} must be a number >= 0 "
                                f"(per million tokens), got {value!r}")
    return float(value)


def _when(name: str, value: Any, source: str) -> int | None:
    """``effective_from`` as epoch ms: a date (UTC midnight) or an ISO 8601 time."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                day = date.fromisoformat(value.strip())
                moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            else:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
            return int(moment.timestamp() * 1000)
        except ValueError:
            pass
    raise InvalidInputError(f"price of {name!r} in {source}: effective_from must be a date "
                            f"such as '2025-06-01' or an ISO 8601 time, got {value!r}")


def _entry(name: str, value: Any, source: str, currency: str) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and not any(
            isinstance(v, Mapping) for v in value):
        value = {"input": value[0], "output": value[1]}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"price of {name!r} in {source} must be "
                                "{'input': PER_1M, 'output': PER_1M, ...} or a list of such "
                                f"entries, got {value!r}")
    unknown = sorted(set(value) - set(_ENTRY_FIELDS))
    if unknown:
        raise InvalidInputError(f"price of {name!r} in {source}: unknown field(s) "
                                f"{', '.join(unknown)}; known: {', '.join(_ENTRY_FIELDS)}")
    for required in ("input", "output"):
        if required not in value:
            raise InvalidInputError(f"price of {name!r} in {source} has no {required!r} price")
    numbers = {key: _number(name, key, value[key], source)
               for key in _PRICE_FIELDS if value.get(key) is not None}
    entry_currency = value.get("currency", currency)
    if not isinstance(entry_currency, str) or not entry_currency.strip():
        raise InvalidInputError(f"price of {name!r} in {source}: currency must be a code "
                                f"such as 'USD', got {entry_currency!r}")
    return ModelPrice(**numbers, effective_from=_when(name, value.get("effective_from"),
                                                      source),
                      currency=entry_currency.strip().upper())


def load_prices(data: Any, source: str = "prices") -> PriceTable:
    """A ``PriceTable`` from the file format (docs/lifecycle.md, "Cost accounting"):
    ``{"currency": "USD", "models": {NAME: ENTRY | [ENTRY, ...]}}`` where an ENTRY is
    ``{"input": .., "output": .., "cached_input"?, "cache_write"?, "reasoning"?,
    "effective_from"?}``; ``{NAME: ENTRY}`` alone and ``[input, output]`` pairs work too."""
    if isinstance(data, PriceTable):
        return data
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{source} must map model names to prices")
    models = data.get("models", data)
    if not isinstance(models, Mapping):
        raise InvalidInputError(f"{source}: 'models' must map model names to prices")
    currency = data.get("currency", "USD") if "models" in data else "USD"
    if not isinstance(currency, str) or not currency.strip():
        raise InvalidInputError(f"{source}: currency must be a code such as 'USD', "
                                f"got {currency!r}")
    currency = currency.strip().upper()
    entries: dict[str, list[ModelPrice]] = {}
    for raw_name, value in models.items():
        name = str(raw_name)
        if name.startswith("_"):
            continue
        values = value if isinstance(value, list) and value and all(
            isinstance(v, Mapping) for v in value) else [value]
        entries[name.lower()] = [_entry(name, v, source, currency) for v in values]
    try:
        return PriceTable(entries, currency)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{source}: {exc}") from None


def load_price_file(path: str | os.PathLike[str], source: str | None = None) -> PriceTable:
    """A price file as a ``PriceTable`` (``InvalidInputError`` naming the file if bad)."""
    where = source or str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{where}: cannot read a JSON price table ({exc})") from None
    return load_prices(data, where)


def _load() -> PriceTable:
    shipped = resources.files("spanscope.analysis").joinpath("model_prices.json").read_text(
        encoding="utf-8")
    table = load_prices(json.loads(shipped), "the shipped price table")
    path = os.environ.get(PRICES_ENV)
    if path:
        table = table.merged(load_price_file(path, f"{PRICES_ENV}={path}"))
    return table


def get_model_prices() -> PriceTable:
    """The effective table: shipped, then the environment's file, then ``set_model_prices``."""
    global _table
    with _lock:
        if _table is None:
            _table = _load()
        return _table if _overrides is None else _table.merged(_overrides)


def set_model_prices(prices: Mapping[str, Any] | PriceTable | None) -> None:
    """Merge prices over the effective table (the file format of ``load_prices``, or
    ``{name: {"input": x, "output": y}}``); ``None`` removes everything set here."""
    global _overrides
    parsed = None if prices is None else load_prices(prices, "set_model_prices")
    with _lock:
        _overrides = None if parsed is None else (
            parsed if _overrides is None else _overrides.merged(parsed))


def as_table(prices: PriceTable | Mapping[str, Any] | str | os.PathLike[str] | None,
             ) -> PriceTable:
    """``prices`` as a ``PriceTable``: None is the effective table, a path a price file
    merged over it, a mapping the file format (used as given)."""
    if prices is None:
        return get_model_prices()
    if isinstance(prices, PriceTable):
        return prices
    if isinstance(prices, (str, os.PathLike)):
        return get_model_prices().merged(load_price_file(prices))
    if isinstance(prices, Mapping) and prices and all(
            isinstance(v, ModelPrice) for v in prices.values()):
        return PriceTable({k: [v] for k, v in prices.items()},
                          next(iter(prices.values())).currency)
    return load_prices(prices)


def _reset_for_tests() -> None:
    """Forget the loaded table (so a changed environment variable is read again)."""
    global _table, _overrides
    with _lock:
        _table, _overrides = None, None


def _normalise(model: str) -> str:
    name = model.strip().lower()
    for separator in (":/", "/"):
        if separator in name:
            name = name.rsplit(separator, 1)[1]
    return name


def _date_key(price: ModelPrice) -> int:
    return -(2 ** 63) if price.effective_from is None else price.effective_from


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def price_for(model: str | None, prices: PriceTable | Mapping[str, Any] | None = None,
              at_ms: int | None = None) -> ModelPrice | None:
    """The price of ``model`` in effect at ``at_ms`` (epoch ms; None: now), or None."""
    return as_table(prices).price_at(model, at_ms)


def cost_usd(model: str | None, input_tokens: int, output_tokens: int,
             prices: PriceTable | Mapping[str, Any] | None = None, *,
             at_ms: int | None = None) -> float | None:
    """Estimated cost of the tokens (in the table's currency), or None when the model has
    no price."""
    price = price_for(model, prices, at_ms)
    return None if price is None else price.cost(input_tokens, output_tokens)


def trace_cost(trace: Trace, prices: PriceTable | Mapping[str, Any] | None = None,
               ) -> CostTotal:
    """The cost of one trace's model calls, priced at its request time (no store needed)."""
    at = trace.info.request_time
    rows = [ModelUsageRow(bucket_ms=None, group=span_type, model=model, traces=1,
                          calls=usage["calls"], first_ms=at, last_ms=at,
                          **{name: usage[name] for name in USAGE_COUNTS})
            for (model, span_type), usage in trace_usage_by_model_and_type(
                trace.data.spans).items()]
    return cost_of(rows, prices)


def usage_for_pricing(reader: AnalyticsStore, selection: Selection, *,
                      bucket_ms: int | None = None, group_by: GroupKey | None = None,
                      prices: PriceTable | Mapping[str, Any] | None = None,
                      ) -> list[ModelUsageRow]:
    """``reader.model_usage`` split at the table's price changes, ready for ``cost_of``."""
    return reader.model_usage(selection, bucket_ms=bucket_ms, group_by=group_by,
                              periods=as_table(prices).boundaries())


def selection_cost(reader: AnalyticsStore, selection: Selection,
                   prices: PriceTable | Mapping[str, Any] | None = None) -> CostTotal:
    """The cost of the model calls of the traces ``selection`` picks (one store query)."""
    table = as_table(prices)
    return cost_of(usage_for_pricing(reader, selection, prices=table), table)
