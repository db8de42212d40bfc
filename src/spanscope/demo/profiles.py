"""How each deployed app version behaves: latency and fault rates.

Two versions run side by side so that a cohort comparison (by the ``app_version`` tag)
has something to find: the beta is slower and fails more often.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILES", "TIME_SCALE", "VersionProfile"]

# Simulated latencies are realistic (an LLM call takes about a second) and are slept for
# real after multiplying by this factor, so 500 traces take seconds, not minutes.
TIME_SCALE = 1 / 500


@dataclass(frozen=True)
class VersionProfile:
    """Per-version knobs; rates are probabilities per call (or per refund question)."""

    version: str
    latency_factor: float  # multiplies every simulated latency
    llm_timeout_rate: float  # an LLM call hangs until the client times out
    rate_limit_rate: float  # an LLM call starts a burst of 429 responses
    slow_tail_rate: float  # a call lands in the slow tail (5-15x its usual latency)
    wrong_query_rate: float  # the planner rewrites a refund question as a delivery query
    account_flake_rate: float  # the account service is briefly unavailable (handled)


PROFILES: dict[str, VersionProfile] = {
    "1.4.0": VersionProfile("1.4.0", latency_factor=1.0, llm_timeout_rate=0.008,
                            rate_limit_rate=0.03, slow_tail_rate=0.03,
                            wrong_query_rate=0.06, account_flake_rate=0.02),
    "1.5.0-beta": VersionProfile("1.5.0-beta", latency_factor=1.35, llm_timeout_rate=0.014,
                                 rate_limit_rate=0.05, slow_tail_rate=0.06,
                                 wrong_query_rate=0.08, account_flake_rate=0.04),
}
