"""Small statistics kit: correlation with p-values, and bootstrap confidence intervals.

P-values come from Student's t distribution, computed here with the regularised
incomplete beta function (Lentz's continued fraction, as in Numerical Recipes) rather
than from SciPy: that keeps a ~40 MB dependency out of the install for two functions,
and the tests check these values against ``scipy.stats`` to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "betainc",
    "bootstrap_diff",
    "bootstrap_intervals",
    "pearson",
    "rank",
    "spearman",
    "t_sf_two_sided",
]

_EPS = 1e-15
_TINY = 1e-300


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def _correlation_p(r: float, n: int) -> float | None:
    if n < 3:
        return None
    if abs(r) >= 1.0:
        return 0.0
    df = n - 2
    return t_sf_two_sided(r * math.sqrt(df / (1.0 - r * r)), df)


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """Pearson's r and its two-sided p-value (None when undefined: n < 2 or a constant)."""
    n = len(x)
    if n < 2:
        return None, None
    mx, my = math.fsum(x) / n, math.fsum(y) / n
    sxy = math.fsum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = math.fsum((a - mx) ** 2 for a in x)
    syy = math.fsum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None, None
    r = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    return r, _correlation_p(r, n)


def rank(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        average = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = average
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """Spearman's rho (Pearson on ranks) and its p-value by the t approximation (SciPy's)."""
    return pearson(rank(x), rank(y))


def bootstrap_intervals(a: np.ndarray, b: np.ndarray,
                        statistic: Callable[[np.ndarray], np.ndarray], *, resamples: int,
                        confidence: float, rng: np.random.Generator,
                        chunk: int = 200) -> list[tuple[float | None, float | None]]:
    """Percentile-bootstrap intervals of ``statistic(b) - statistic(a)``, per column.

    ``statistic`` takes a 2-D array (one resample per row) and returns one value per row,
    or a row of values per row (several statistics of the same resample, e.g. two
    quantiles, which then share the resampling work). Resamples are drawn ``chunk`` at a
    time, so memory stays ``chunk * len`` values.
    """
    import numpy as np

    if len(a) == 0 or len(b) == 0:
        return [(None, None)]
    diffs = []
    done = 0
    while done < resamples:
        k = min(chunk, resamples - done)
        ra = a[rng.integers(0, len(a), size=(k, len(a)))]
        rb = b[rng.integers(0, len(b), size=(k, len(b)))]
        diff = np.asarray(statistic(rb)) - np.asarray(statistic(ra))
        diffs.append(diff.reshape(k, -1))
        done += k
    values = np.concatenate(diffs)
    tail = (1.0 - confidence) / 2.0
    out: list[tuple[float | None, float | None]] = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        if finite.size == 0:
            out.append((None, None))
            continue
        low, high = np.quantile(finite, [tail, 1.0 - tail])
        out.append((float(low), float(high)))
    return out


def bootstrap_diff(a: np.ndarray, b: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray],
                   *, resamples: int, confidence: float, rng: np.random.Generator,
                   chunk: int = 200) -> tuple[float | None, float | None]:
    """``bootstrap_intervals`` of a single statistic."""
    return bootstrap_intervals(a, b, statistic, resamples=resamples, confidence=confidence,
                               rng=rng, chunk=chunk)[0]
