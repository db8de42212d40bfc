"""Findings: one thing ``diagnose`` noticed about a trace, in plain language with evidence.

A finding is plain data (kind, severity, the span it is about, a message, an evidence
dict) so the CLI, the server and a notebook show the same thing, and ``to_dict`` is JSON
as is. Ranking lives here too, so every caller orders findings the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from spanscope.entities.text import one_line

__all__ = ["KIND_PRIORITY", "SEVERITIES", "Finding", "Severity", "rank_findings"]

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")  # most severe first

# Within one severity, causes before symptoms: the span that failed before the retries it
# caused, the retrieval that fetched the wrong documents before the answer built on them.
KIND_PRIORITY: tuple[str, ...] = (
    "error_origin",
    "retrieval_mismatch",
    "retry",
    "agent_loop",
    "empty_retrieval",
    "truncated_output",
    "empty_output",
    "answer_mismatch",
    "assessment_failed",
    "low_retrieval_score",
    "token_spike",
    "gap",
    "bottleneck",
    "assessment_error",
)


@dataclass(frozen=True, repr=False)
class Finding:
    """Something ``diagnose`` noticed: what, how bad, where, why (message) and the numbers.

    ``span_id``/``span_name`` are None for trace-level findings (an assessment on the whole
    trace). ``start_time_ns`` orders findings of equal rank by when their span started;
    it is not part of ``to_dict`` (the span id already says where).
    """

    kind: str
    severity: Severity
    span_id: str | None
    span_name: str | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    start_time_ns: int = 0

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, "
                             f"not {self.severity!r}")

    def __repr__(self) -> str:  # one readable line; the evidence is in to_dict()
        where = f" in {self.span_name!r}" if self.span_name else ""
        return (f"<Finding {self.severity} {self.kind}{where}: "
                f"{one_line(self.message, 80)}>")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "span_id": self.span_id,
                "span_name": self.span_name, "message": self.message,
                "evidence": self.evidence}

    def rank_key(self) -> tuple[int, int, int]:
        """Severity first, then the kind's priority, then time."""
        priority = (KIND_PRIORITY.index(self.kind) if self.kind in KIND_PRIORITY
                    else len(KIND_PRIORITY))
        return SEVERITIES.index(self.severity), priority, self.start_time_ns


def rank_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; see ``Finding.rank_key``."""
    return sorted(findings, key=Finding.rank_key)
