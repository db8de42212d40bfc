"""The demo's traffic: who asks what, in which conversation, against which deployment.

``plan_requests(n, seed)`` is a pure function of its arguments, so the same seed always
yields the same questions, users, sessions and deployments in the same order. Each plan
also carries its own ``seed`` for everything that happens while the request runs
(latencies, injected faults), which keeps request ``i`` identical whatever ``n`` is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["INTENTS", "RequestPlan", "plan_requests"]

T = TypeVar("T")

_PRODUCTS = ("wireless headphones", "coffee grinder", "running shoes", "desk lamp",
             "smart watch", "backpack", "blender", "keyboard")
_COUNTRIES = ("Canada", "Germany", "Japan", "Brazil", "Norway")

# intent -> (share of first questions, opening questions, follow-ups)
INTENTS: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "refund": (0.18, (
        "I want a refund for order {order}, the {product} arrived damaged.",
        "How do I get my money back for the {product} I bought?",
        "Can I get a refund on order {order}? It's been {days} days.",
        "The {product} is faulty. How do I request a refund?",
    ), (
        "How long until the money is back on my card?",
        "Do I get a full refund if the {product} is broken?",
    )),
    "shipping": (0.20, (
        "Where is my order {order}?",
        "My order {order} still hasn't arrived, it's been {days} days.",
        "How long does standard shipping take?",
        "Can I track the package for order {order}?",
    ), (
        "Is express delivery faster?",
        "Who is the carrier for the tracking number?",
    )),
    "password_reset": (0.12, (
        "I forgot my password, how do I reset it?",
        "The password reset email never arrives.",
        "How do I change my password?",
    ), (
        "The reset link says it expired.",
        "I checked the spam folder, nothing there.",
    )),
    "billing": (0.12, (
        "I was charged twice this month.",
        "Where can I download my invoices?",
        "How do I update my credit card?",
        "Why is my bill higher than usual?",
    ), (
        "When will the duplicate charge be released?",
        "Can I pay by a different payment method?",
    )),
    "warranty": (0.08, (
        "Is the {product} covered by warranty?",
        "My {product} stopped working after {months} months, is that under warranty?",
    ), (
        "Is accidental damage covered by the warranty?",
        "Will you repair or replace it?",
    )),
    "account_deletion": (0.06, (
        "How do I delete my account?",
        "Please delete my account and all my data.",
    ), (
        "Can I download a copy of my data first?",
    )),
    "plan_upgrade": (0.08, (
        "What do I get if I upgrade to the Pro plan?",
        "How do I switch to the Enterprise plan?",
    ), (
        "Is the price difference prorated when I upgrade?",
        "Does Enterprise include single sign-on?",
    )),
    "cancellation": (0.07, (
        "Can I cancel order {order}? I ordered the wrong size.",
        "How do I cancel my order before it ships?",
    ), (
        "It already shipped, can I still cancel the order?",
    )),
    "two_factor": (0.05, (
        "I lost my phone and can't log in with two-factor authentication.",
        "How do I set up 2FA on a new phone?",
    ), (
        "I don't have backup codes, what now?",
    )),
    "international": (0.04, (
        "Do you ship to {country}?",
        "Will I have to pay customs fees on an international delivery?",
    ), (
        "Who pays the import duties?",
    )),
}

# deployments: environment -> [(app_version, share)]
_DEPLOYMENTS = {
    "prod": (0.8, (("1.4.0", 0.85), ("1.5.0-beta", 0.15))),
    "staging": (0.2, (("1.5.0-beta", 0.8), ("1.4.0", 0.2))),
}
_TIERS = (("free", 0.6), ("pro", 0.3), ("enterprise", 0.1))
_TURNS = ((1, 0.45), (2, 0.30), (3, 0.15), (4, 0.10))
_N_USERS = 120
_MAX_OPEN_SESSIONS = 4
# Share of order ids users type wrong: unknown (well-formed) and malformed ids.
UNKNOWN_ORDER_RATE = 0.08
MALFORMED_ORDER_RATE = 0.04
KNOWN_ORDER_IDS = tuple(f"A{10000 + i}" for i in range(300))


@dataclass(frozen=True)
class RequestPlan:
    """One request to the support agent, decided before anything runs."""

    index: int
    question: str
    intent: str
    turn: int
    session_id: str
    user_id: str
    user_tier: str
    environment: str
    app_version: str
    seed: int

    @property
    def client_request_id(self) -> str:
        return f"req-{self.index + 1}"


@dataclass
class _Session:
    session_id: str
    user_id: str
    user_tier: str
    environment: str
    app_version: str
    intent: str
    order_id: str
    product: str
    turns_left: int
    turn: int = 0


def plan_requests(n: int, seed: int = 0) -> list[RequestPlan]:
    """``n`` requests from interleaved conversations of 1-4 turns, deterministic in ``seed``."""
    rng = random.Random(seed)
    tiers = {f"u-{i:04d}": _pick(random.Random(f"tier-{i}"), _TIERS) for i in range(_N_USERS)}
    open_sessions: list[_Session] = []
    plans: list[RequestPlan] = []
    n_sessions = 0
    for index in range(n):
        if not open_sessions or (len(open_sessions) < _MAX_OPEN_SESSIONS and rng.random() < 0.5):
            n_sessions += 1
            open_sessions.append(_new_session(rng, seed, n_sessions, tiers))
        session = rng.choice(open_sessions)
        session.turn += 1
        session.turns_left -= 1
        if session.turns_left == 0:
            open_sessions.remove(session)
        _, openers, follow_ups = INTENTS[session.intent]
        template = rng.choice(openers if session.turn == 1 else follow_ups)
        question = template.format(order=session.order_id, product=session.product,
                                   days=rng.randint(4, 21), months=rng.randint(3, 30),
                                   country=rng.choice(_COUNTRIES))
        plans.append(RequestPlan(
            index=index, question=question, intent=session.intent, turn=session.turn,
            session_id=session.session_id, user_id=session.user_id,
            user_tier=session.user_tier, environment=session.environment,
            app_version=session.app_version, seed=rng.getrandbits(63)))
    return plans


def _new_session(rng: random.Random, seed: int, number: int,
                 tiers: dict[str, str]) -> _Session:
    user_id = f"u-{rng.randrange(_N_USERS):04d}"
    environment = _pick(rng, tuple((env, share) for env, (share, _) in _DEPLOYMENTS.items()))
    return _Session(
        session_id=f"s-{seed}-{number:05d}",
        user_id=user_id,
        user_tier=tiers[user_id],
        environment=environment,
        app_version=_pick(rng, _DEPLOYMENTS[environment][1]),
        intent=_pick(rng, tuple((name, spec[0]) for name, spec in INTENTS.items())),
        order_id=_order_id(rng),
        product=rng.choice(_PRODUCTS),
        turns_left=_pick(rng, _TURNS),
    )


def _order_id(rng: random.Random) -> str:
    """An order id as a user types it: mostly a real one, sometimes unknown or garbled."""
    draw = rng.random()
    if draw < UNKNOWN_ORDER_RATE:
        return f"A{rng.randint(20000, 99999)}"
    if draw < UNKNOWN_ORDER_RATE + MALFORMED_ORDER_RATE:
        real = rng.choice(KNOWN_ORDER_IDS)
        return real[:2] + "O" + real[3:]  # a letter O where a zero belongs
    return rng.choice(KNOWN_ORDER_IDS)


def _pick(rng: random.Random, weighted: tuple[tuple[T, float], ...]) -> T:
    values = [value for value, _ in weighted]
    weights = [weight for _, weight in weighted]
    return rng.choices(values, weights)[0]
