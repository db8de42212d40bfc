"""The synthetic search workload, shared by ``search.py`` and ``peer_mlflow_search.py``.

Standard library only: the peer script imports it inside MLflow's virtualenv, so both
sides generate the same traces from the same constants and the same random draws
(``draw_trace``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000
T_END = 1_767_225_600_000  # 2026-01-01T00:00:00Z; traces span the 30 days before it
SPAN_DAYS = 30

TOPICS = ["refund", "shipping", "password", "invoice", "warranty", "upgrade", "cancel",
          "delivery", "login", "discount"]
TEMPLATES = ["How do I get a {} for my order?", "Question about {} please",
             "My {} is not working", "Can you help with {}?", "What is your {} policy?"]
ENVS = [("prod", 0.7), ("staging", 0.2), ("dev", 0.1)]
TEAMS = ["search", "support", "billing"]
VERSIONS = ["1.2.0", "1.3.0", "1.4.0", "1.5.0-beta"]
CHILDREN = [("retrieve_docs", "RETRIEVER"), ("llm_call", "CHAT_MODEL"),
            ("lookup_order", "TOOL"), ("parse_answer", "PARSER")]


@dataclass
class DrawnTrace:
    """The random choices of one synthetic trace. Both generators build their rows from
    these, so Spanscope's store and MLflow's hold the same traces, value for value."""

    hex_id: str
    request_time: int  # epoch ms
    error: bool
    in_progress: bool
    topic: str
    query: str
    user_tier: str
    durations: list[int]  # ms per child span, in CHILDREN order
    total_ms: int
    root_id: str
    child_ids: list[str]
    tags: dict[str, str]  # env, team, app_version and (on half) quality_score
    session: str
    user: str
    feedback: list[tuple[str, bool | float, str]]  # name, value, assessment id

    @property
    def state(self) -> str:
        return "IN_PROGRESS" if self.in_progress else "ERROR" if self.error else "OK"

    @property
    def inputs(self) -> dict[str, str]:
        return {"query": self.query, "user_tier": self.user_tier}

    @property
    def outputs(self) -> dict[str, str] | None:
        if self.error or self.in_progress:
            return None
        return {"answer": f"Here is how {self.topic} works."}

    def child_payload(self, position: int, kind: str) -> tuple[Any, Any, bool]:
        """Inputs, outputs (None if it failed) and failure of the child at ``position``
        (1-based): the last child fails in an erroneous trace."""
        failed = self.error and position == len(CHILDREN)
        if kind == "RETRIEVER":
            inputs: Any = {"query": self.query}
            outputs: Any = [{"id": f"doc-{k}", "page_content": f"About {self.topic}."}
                            for k in range(2)]
        else:
            inputs, outputs = {"step": position}, {"ok": True}
        return inputs, None if failed else outputs, failed


def draw_trace(rng: random.Random, i: int, n: int) -> DrawnTrace:
    """Trace ``i`` of ``n``; traces are spread evenly over the SPAN_DAYS before T_END.
    The order of the draws is the data: changing it changes every cached store (bump
    ``FORMAT`` in search.py)."""
    hex_id = f"{rng.getrandbits(128):032x}"
    request_time = (T_END - SPAN_DAYS * DAY_MS + int(i * (SPAN_DAYS * DAY_MS / n))
                    + rng.randrange(1000))
    error = rng.random() < 0.05
    in_progress = not error and rng.random() < 0.005
    topic = rng.choice(TOPICS)
    # every question names its order, so a rare word ('A10042': one trace in 10k, 11 in
    # 1M with A100420-A100429) is there to search for; derived from i, no random draw
    query = rng.choice(TEMPLATES).format(topic) + f" (order A{10_000 + i})"
    user_tier = rng.choice(["free", "pro", "enterprise"])
    durations = [max(1, int(rng.lognormvariate(5.0, 0.8))) for _ in CHILDREN]
    total_ms = sum(durations) + rng.randrange(5, 40)
    root_id = f"{rng.getrandbits(64):016x}"
    child_ids = [f"{rng.getrandbits(64):016x}" for _ in CHILDREN]
    env = rng.choices([e for e, _ in ENVS], [w for _, w in ENVS])[0]
    tags = {"env": env, "team": rng.choice(TEAMS), "app_version": rng.choice(VERSIONS)}
    if rng.random() < 0.5:
        tags["quality_score"] = f"{rng.random():.2f}"
    session, user = f"s-{rng.randrange(n // 4 + 1)}", f"u-{rng.randrange(5000)}"
    values: list[tuple[str, bool | float]] = []
    if rng.random() < 0.3:
        values.append(("correctness", rng.random() < 0.8))
    if rng.random() < 0.3:
        values.append(("relevance", round(rng.random(), 2)))
    feedback = [(name, value, f"a-{rng.getrandbits(128):032x}") for name, value in values]
    return DrawnTrace(hex_id, request_time, error, in_progress, topic, query, user_tier,
                      durations, total_ms, root_id, child_ids, tags, session, user, feedback)
