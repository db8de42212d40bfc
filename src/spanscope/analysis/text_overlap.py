"""Lexical overlap between two texts: content words, stop words dropped, light stemming.

The diagnosis asks "do these documents talk about what was asked?" without a model, so it
compares words. Identifiers and numbers (order ids, dates, prices) are dropped because
they say nothing about the topic, and a crude suffix strip makes "refunds" meet "refund"
and "shipping" meet "ship". The same function must tokenize both sides: consistency
matters more than linguistic accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["STOPWORDS", "Overlap", "containment", "jaccard", "overlap", "stem", "term_forms",
           "tokenize"]

_STOPWORD_TEXT = """
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each either else even ever every few for from further get
gets getting got had hadn't has hasn't have haven't having he her here hers herself him
himself his how however i i'd i'll i'm i've if in into is isn't it it's its itself just let
like may me might more most much must my myself need no nor not now of off on once one only
or other ought our ours ourselves out over own please really same shall she should
shouldn't since so some still such than that that's the their theirs them themselves then
there there's these they they'd they'll they're they've this those though through thus to
too under until up upon us use used using very via was wasn't we we'd we'll we're we've
were weren't what what's when where which while who whom whose why will with within without
won't would wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves
hi hello hey thanks thank ok okay sure want wants wanted tell know
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_DOUBLE_CONSONANT = re.compile(r"([b-df-hj-np-rtv-z])\1$")


def stem(word: str) -> str:
    """A light suffix strip (plural, -ing, -ed, final e), enough to match word forms."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            word = _DOUBLE_CONSONANT.sub(r"\1", word)
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _is_identifier(word: str) -> bool:
    """Numbers and id-like tokens (two digits or more): they carry no topic."""
    return sum(ch.isdigit() for ch in word) >= 2 or word.isdigit()


def _terms(text: str) -> Iterator[tuple[str, str]]:
    """``(stemmed term, the word it came from)`` for each content word of ``text``."""
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:  # before the apostrophe goes: "don't", not "dont"
            continue
        plain = word.replace("'", "")
        if len(plain) < 2 or plain in STOPWORDS or _is_identifier(plain):
            continue
        yield stem(plain), plain


def tokenize(text: str) -> list[str]:
    """Stemmed content words of ``text``, lower-cased, in order (repeats kept)."""
    return [term for term, _ in _terms(text)]


def term_forms(text: str) -> dict[str, str]:
    """Each stemmed term of ``text`` with the first word it came from (for messages)."""
    forms: dict[str, str] = {}
    for term, word in _terms(text):
        forms.setdefault(term, word)
    return forms


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """Shared terms over all terms (0 when both are empty)."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 0.0


def containment(a: Iterable[str], b: Iterable[str]) -> float:
    """Share of ``a``'s terms that also occur in ``b`` (0 when ``a`` is empty)."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa) if sa else 0.0


@dataclass(frozen=True)
class Overlap:
    """How much of text A is in text B, and the words they share."""

    containment: float  # share of A's terms found in B
    jaccard: float
    shared: tuple[str, ...]
    a_terms: int
    b_terms: int

    def to_dict(self) -> dict[str, object]:
        return {"containment": round(self.containment, 3), "jaccard": round(self.jaccard, 3),
                "shared_terms": list(self.shared), "a_terms": self.a_terms,
                "b_terms": self.b_terms}


def overlap(a: str, b: str) -> Overlap:
    """Overlap of text ``a`` with text ``b`` (containment is of ``a`` in ``b``)."""
    ta, tb = tokenize(a), tokenize(b)
    sa, sb = set(ta), set(tb)
    return Overlap(containment(sa, sb), jaccard(sa, sb), tuple(sorted(sa & sb)),
                   len(sa), len(sb))
