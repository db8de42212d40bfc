"""The demo's FAQ and a lexical retriever over it.

A real support bot would embed these documents; the demo scores by word overlap so it
needs no model and stays deterministic. The documents are written so that each intent's
questions retrieve their own FAQ first, and so that a query about deliveries retrieves
the shipping FAQ: that is how the demo's wrong-document fault shows up in a trace.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["DOCUMENTS", "Document", "LexicalRetriever", "tokenize"]


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    page_content: str

    @property
    def source(self) -> str:
        return f"kb://faq/{self.id}"

    def to_output(self, score: float) -> dict[str, object]:
        """The MLflow retriever-output shape: ``page_content``, ``metadata``, ``id``."""
        return {
            "id": self.id,
            "page_content": self.page_content,
            "metadata": {"source": self.source, "doc_uri": self.source, "title": self.title,
                         "score": round(score, 4)},
        }


DOCUMENTS: tuple[Document, ...] = (
    Document("refunds", "Refund policy",
             "Refunds: you can request a refund within 30 days of purchase from Orders > "
             "Request refund. Damaged, broken or faulty items get a full refund and you get "
             "your money back to the original card within 5-7 business days."),
    Document("shipping", "Shipping times and order tracking",
             "Shipping: orders ship within 24 hours; standard delivery takes 3-5 business "
             "days and express delivery 1-2. Track your package and order status from "
             "Orders > Track shipment; if your order has not arrived after 10 days, contact "
             "the carrier with the tracking number."),
    Document("returns", "Returning an item",
             "Returns: print a prepaid return label from Orders > Return item and drop the "
             "package at any post office. You must send the item back before an exchange; "
             "wrong size items can be exchanged for free."),
    Document("password-reset", "Resetting your password",
             "Password reset: click 'Forgot password' on the login page and we email a reset "
             "link valid for 1 hour. If the reset email never arrives, check the spam folder "
             "or change your password from Settings > Security."),
    Document("billing", "Billing, invoices and payment methods",
             "Billing: download invoices from Settings > Billing. Update your credit card or "
             "payment method there too. If you were charged twice, the duplicate charge is a "
             "pending authorisation and is released on your bill within 3 days."),
    Document("warranty", "Warranty coverage",
             "Warranty: every product is covered by a 2-year warranty against defects. If it "
             "stopped working within the warranty period, we repair or replace it for free; "
             "accidental damage is not covered."),
    Document("account-deletion", "Deleting your account and data",
             "Account deletion: go to Settings > Privacy > Delete account to delete your "
             "account. All your data is erased within 30 days; download a copy of your data "
             "first if you need it."),
    Document("plans", "Plans: Free, Pro and Enterprise",
             "Plans: Pro adds priority support and faster processing; Enterprise adds single "
             "sign-on, an account manager and a 99.9% uptime agreement. Upgrade or switch "
             "plan any time from Settings > Plan; the price difference is prorated."),
    Document("order-cancellation", "Cancelling an order",
             "Cancellation: you can cancel an order from Orders > Cancel until it ships. "
             "Ordered the wrong size or item? Cancel the order and place a new one. Once "
             "the order has shipped, cancel it by returning the item instead."),
    Document("two-factor", "Two-factor authentication",
             "Two-factor authentication (2FA): if you lost your phone, log in with one of "
             "your backup codes, then disable and set up 2FA again on the new phone. Without "
             "backup codes, support verifies your identity by email."),
    Document("international", "International delivery and customs",
             "International: we ship to 40 countries including Canada, Germany, Japan, "
             "Norway and Brazil. Customs fees and import duties are paid by the recipient "
             "on delivery."),
    Document("contact", "Contacting support",
             "Contact: human support agents answer chat and email 8am-8pm on weekdays; Pro "
             "and Enterprise customers get priority in the queue."),
)

_STOPWORD_TEXT = """
    a an and are be but by can do does for from get got had has have how i if in is it
    its me my of on or our so that the their them there they this to was we what when
    where which who why will with you your yours am been did any all after before still
    just than then too very should would could please
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case content words with a crude plural strip (refunds -> refund)."""
    words = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or len(word) < 2:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return words


class LexicalRetriever:
    """Ranks documents by cosine similarity of word sets (title words count twice)."""

    def __init__(self, documents: tuple[Document, ...] = DOCUMENTS) -> None:
        self.documents = documents
        self._bags = [
            (doc, _bag(tokenize(doc.title) * 2 + tokenize(doc.page_content)))
            for doc in documents
        ]

    def search(self, query: str, k: int = 3) -> list[tuple[Document, float]]:
        """The ``k`` best-scoring documents with their scores, best first; no zero scores."""
        query_bag = _bag(tokenize(query))
        if not query_bag:
            return []
        scored = []
        for doc, bag in self._bags:
            overlap = sum(min(count, bag.get(word, 0)) for word, count in query_bag.items())
            if overlap:
                norm = math.sqrt(sum(query_bag.values()) * sum(bag.values()))
                scored.append((doc, overlap / norm))
        scored.sort(key=lambda pair: (-pair[1], pair[0].id))
        return scored[:k]


def _bag(words: list[str]) -> dict[str, int]:
    bag: dict[str, int] = {}
    for word in words:
        bag[word] = bag.get(word, 0) + 1
    return bag
