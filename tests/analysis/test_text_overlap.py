"""``text_overlap``: content words, stems, containment and Jaccard, worked by hand."""

from __future__ import annotations

import pytest

from spanscope.analysis.text_overlap import (
    STOPWORDS,
    containment,
    jaccard,
    overlap,
    stem,
    term_forms,
    tokenize,
)


def test_tokenize_keeps_content_words_and_drops_ids_and_numbers() -> None:
    assert tokenize("I want a refund for order A10112, the backpack arrived DAMAGED!") == [
        "refund", "order", "backpack", "arriv", "damag"]
    assert tokenize("Don't charge me twice in 2024; it's 12.50 USD") == [
        "charg", "twic", "usd"]
    assert tokenize("Set up 2FA on my new phone") == ["set", "2fa", "new", "phon"]
    assert tokenize("") == [] and tokenize("the and of") == []
    assert {"the", "don't", "you"} <= STOPWORDS


@pytest.mark.parametrize(("words", "same"), [
    (("refunds", "refund"), True), (("shipping", "ship", "ships"), True),
    (("charged", "charge", "charges"), True), (("tracking", "track", "tracked"), True),
    (("policies", "policy"), True), (("status", "statu"), False), (("business",), True),
])
def test_word_forms_meet_on_one_stem(words: tuple[str, ...], same: bool) -> None:
    stems = {stem(w) for w in words}
    assert (len(stems) == 1) is same, stems


def test_containment_and_jaccard() -> None:
    a, b = ["refund", "order", "day"], ["order", "day", "ship", "track"]
    assert containment(a, b) == pytest.approx(2 / 3)
    assert containment(b, a) == pytest.approx(2 / 4)
    assert jaccard(a, b) == pytest.approx(2 / 5)
    assert containment([], b) == 0.0 and jaccard([], []) == 0.0


def test_overlap_of_two_texts() -> None:
    result = overlap("Can I get a refund on order A10172? It's been 7 days.",
                     "Shipping: orders ship within 24 hours; delivery takes 3-5 days.")
    assert (result.containment, result.shared, result.a_terms) == (
        pytest.approx(2 / 3), ("day", "order"), 3)
    assert result.to_dict()["shared_terms"] == ["day", "order"]


def test_term_forms_keep_the_first_word_as_written() -> None:
    assert term_forms("Refunds and refund, shipping") == {"refund": "refunds", "ship": "shipping"}
