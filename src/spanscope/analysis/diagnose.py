"""``diagnose(trace)``: everything notable about one trace, most severe first.

Pure logic over the ``Trace`` entity: the caller fetches the trace (``spanscope.get_trace``)
and passes it in, so the same diagnosis runs in a notebook, the CLI and the server.
"""

from __future__ import annotations

import dataclasses

from spanscope.analysis.detectors import DETECTORS, DiagnosisContext, Thresholds
from spanscope.analysis.findings import Finding, rank_findings
from spanscope.analysis.structure import TraceIndex
from spanscope.entities import Trace

__all__ = ["Thresholds", "diagnose"]


def diagnose(trace: Trace, *, token_baseline: int | None = None,
             min_retrieval_score: float | None = None,
             thresholds: Thresholds | None = None) -> list[Finding]:
    """Findings about ``trace``, ranked: severity, then kind (causes first), then time.

    ``token_baseline``: input tokens per model call above which a call is a token spike
    (e.g. a p99 from past traffic), on top of the comparison with the trace's other calls.
    ``min_retrieval_score``: document score under which retrieval counts as low (the
    scale is the retriever's own; default 0.1). ``thresholds`` overrides any other limit.
    """
    limits = thresholds or Thresholds()
    if min_retrieval_score is not None:
        limits = dataclasses.replace(limits, min_retrieval_score=min_retrieval_score)
    ctx = DiagnosisContext(TraceIndex(trace), limits, token_baseline)
    return rank_findings(finding for detector in DETECTORS for finding in detector(ctx))
