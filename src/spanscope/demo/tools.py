"""The support agent's tools: the FAQ search, the order database and the account service.

Each tool is a traced function (a RETRIEVER or TOOL span) with simulated latency. The
order lookup fails the way real lookups fail on bad user input: a malformed id raises
``InvalidOrderIdError`` (a ``ValueError``), an unknown one ``OrderNotFoundError`` (a
``KeyError``). The account service is sometimes briefly unavailable (``ConnectionError``).
"""

from __future__ import annotations

import random
import re
from typing import Any

import spanscope
from spanscope.demo.knowledge_base import LexicalRetriever
from spanscope.demo.latency import SimulatedLatency
from spanscope.demo.workload import KNOWN_ORDER_IDS

__all__ = ["ORDERS", "InvalidOrderIdError", "OrderNotFoundError", "SupportTools"]

_ORDER_FORMAT = re.compile(r"^A\d{5}$")


class InvalidOrderIdError(ValueError):
    """The order id is not of the form ``A`` + 5 digits."""


class OrderNotFoundError(KeyError):
    """No order has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _make_orders() -> dict[str, dict[str, Any]]:
    rng = random.Random("orders")
    orders = {}
    for order_id in KNOWN_ORDER_IDS:
        status = rng.choices(["processing", "shipped", "in transit", "delivered", "delayed"],
                             [2, 2, 3, 4, 1])[0]
        days = rng.randint(1, 6)
        eta = {"processing": "ships within 24 hours",
               "delivered": f"delivered {days} days ago",
               "delayed": f"now expected in {days + 3} business days"}.get(
                   status, f"arriving in {days} business days")
        orders[order_id] = {"order_id": order_id, "status": status,
                            "carrier": rng.choice(["UPS", "DHL", "FedEx", "USPS"]),
                            "eta": eta, "total_usd": round(rng.uniform(15, 400), 2)}
    return orders


ORDERS: dict[str, dict[str, Any]] = _make_orders()
_retriever = LexicalRetriever()


class SupportTools:
    """The tools as one request sees them (its latency stream and its user)."""

    def __init__(self, latency: SimulatedLatency, *, user_id: str, user_tier: str) -> None:
        self.latency = latency
        self.user_id = user_id
        self.user_tier = user_tier

    @spanscope.trace(span_type="RETRIEVER")
    def search_knowledge_base(self, query: str, k: int = 3) -> list[dict[str, Any]]:
        """Top-``k`` FAQ documents for ``query``, with their scores."""
        self.latency.spend(45, sigma=0.4)
        return [doc.to_output(score) for doc, score in _retriever.search(query, k)]

    @spanscope.trace(span_type="TOOL")
    def lookup_order(self, order_id: str) -> dict[str, Any]:
        """The order's status; raises on ids that are malformed or unknown."""
        self.latency.spend(90)
        if not _ORDER_FORMAT.match(order_id):
            raise InvalidOrderIdError(f"malformed order id {order_id!r}: expected 'A' and 5 digits")
        try:
            return dict(ORDERS[order_id])
        except KeyError:
            raise OrderNotFoundError(f"order {order_id} not found") from None

    @spanscope.trace(span_type="TOOL")
    def check_account(self, user_id: str) -> dict[str, Any]:
        """The user's plan and billing status; the service is sometimes unavailable."""
        self.latency.spend(60)
        if self.latency.rng.random() < self.latency.profile.account_flake_rate:
            raise ConnectionError("account service unavailable (HTTP 503)")
        return {"user_id": user_id, "plan": self.user_tier, "status": "active",
                "balance_due_usd": 0.0 if self.user_tier == "free" else 12.5}
