"""Simulated latency that is slept for real, so spans measure genuine durations.

Latencies are drawn in realistic milliseconds (lognormal around a median, plus an
occasional slow tail), multiplied by the version's latency factor and the demo's time
scale, and then slept. Nothing is back-dated: a span's duration is what the clock saw.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from spanscope.demo.profiles import TIME_SCALE, VersionProfile

__all__ = ["SimulatedLatency"]


class SimulatedLatency:
    """Draws and sleeps latencies for one request (one random stream per request)."""

    def __init__(self, rng: random.Random, profile: VersionProfile, *,
                 time_scale: float = TIME_SCALE,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rng = rng
        self.profile = profile
        self.time_scale = time_scale
        self._sleep = sleep

    def draw(self, median_ms: float, sigma: float = 0.35) -> float:
        """A nominal latency in ms: lognormal around ``median_ms``, sometimes in the tail."""
        value = median_ms * math.exp(self.rng.gauss(0.0, sigma))
        if self.rng.random() < self.profile.slow_tail_rate:
            value *= self.rng.uniform(5.0, 15.0)
        return value * self.profile.latency_factor

    def wait(self, nominal_ms: float) -> None:
        """Sleep for ``nominal_ms`` scaled down by the time scale."""
        seconds = nominal_ms * self.time_scale / 1000.0
        if seconds > 0:
            self._sleep(seconds)

    def spend(self, median_ms: float, sigma: float = 0.35) -> float:
        """Draw a latency and sleep it; returns the nominal ms."""
        value = self.draw(median_ms, sigma)
        self.wait(value)
        return value
