"""``sample_fraction_of``: a trace's fixed place in [0, 1), the same in every process.

Keeping "10% of the traces" must keep the same 10% on every run, in every server process
and on every machine, or a second pass would delete what the first one kept. So the
fraction comes from the trace id alone: the first 52 bits of the MD5 of the id, divided
by 2**52. A trace is in a sample of fraction ``f`` when ``sample_fraction_of(id) < f``,
so a larger sample contains every smaller one. MD5 is used as a well-spread hash, not
for security; PostgreSQL's ``md5()`` gives the same digest, so the rule can be pushed
into SQL one day. Retention (``spanscope.lifecycle.retention``) and online monitoring
sample with this one function.
"""

from __future__ import annotations

import hashlib

__all__ = ["in_sample", "sample_fraction_of"]

_BITS = 52  # a float holds 53 bits exactly: every value is exact and below 1.0
_HEX = _BITS // 4


def sample_fraction_of(trace_id: str) -> float:
    """The trace's place in ``[0, 1)``, uniform over ids and fixed for a given id."""
    digest = hashlib.md5(str(trace_id).encode("utf-8")).hexdigest()
    return int(digest[:_HEX], 16) / float(1 << _BITS)


def in_sample(trace_id: str, fraction: float) -> bool:
    """Whether the trace falls in a deterministic sample of ``fraction`` of all traces."""
    return fraction >= 1.0 or sample_fraction_of(trace_id) < fraction
