"""The detectors ``diagnose`` runs: one function per finding family, each a generator.

A detector takes a ``DiagnosisContext`` and yields ``Finding`` objects; it never ranks
(``findings.rank_findings`` does) and never reads a store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from spanscope.analysis.detectors.assessments import detect_assessments
from spanscope.analysis.detectors.context import DiagnosisContext, Thresholds
from spanscope.analysis.detectors.errors import detect_error_origins
from spanscope.analysis.detectors.outputs import detect_answer_mismatch, detect_output_problems
from spanscope.analysis.detectors.repetition import detect_agent_loops, detect_retries
from spanscope.analysis.detectors.retrieval import detect_retrieval
from spanscope.analysis.detectors.timing import detect_bottleneck, detect_gaps
from spanscope.analysis.detectors.tokens import detect_token_spikes
from spanscope.analysis.findings import Finding

__all__ = ["DETECTORS", "Detector", "DiagnosisContext", "Thresholds"]

Detector = Callable[[DiagnosisContext], Iterable[Finding]]

DETECTORS: tuple[Detector, ...] = (
    detect_error_origins,
    detect_retries,
    detect_agent_loops,
    detect_bottleneck,
    detect_gaps,
    detect_token_spikes,
    detect_retrieval,
    detect_output_problems,
    detect_answer_mismatch,
    detect_assessments,
)
