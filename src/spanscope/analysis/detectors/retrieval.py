"""Retrieval findings: ``empty_retrieval``, ``low_retrieval_score``, ``retrieval_mismatch``.

Which spans retrieved, with what query and which documents, is ``analysis.documents``'
call: RETRIEVER spans, and any span (a TOOL ``search_knowledge_base``) whose outputs are
plainly documents, in every shape it knows. A mismatch is judged by lexical overlap
(``analysis.text_overlap``), two ways:

- the documents share too few of the retrieval's own query terms (the index or the
  embedding returned something unrelated), or
- the query drifted from the user's question (few of its terms come from the
  conversation, and it covers little of the question) and the documents, which match
  that query, miss much of the question: the app searched for the wrong thing.

Words are a crude proxy for meaning, so the thresholds are low: they flag documents that
share almost nothing with the question, not documents that paraphrase it.
"""

from __future__ import annotations

from collections.abc import Iterator

from spanscope.analysis.detectors.context import DiagnosisContext, quote
from spanscope.analysis.documents import (
    Document,
    Retrieval,
    conversation_text,
    question_text,
    retrievals,
    span_inputs,
)
from spanscope.analysis.findings import Finding
from spanscope.analysis.text_overlap import containment, term_forms, tokenize
from spanscope.entities import Span

__all__ = ["detect_retrieval"]


def _doc_names(docs: list[Document], limit: int = 3) -> str:
    names = [d.id or quote(d.text, 30) for d in docs[:limit]]
    more = f" and {len(docs) - limit} more" if len(docs) > limit else ""
    return ", ".join(names) + more


def _missing(text: str, found: set[str], limit: int = 6) -> list[str]:
    """Words of ``text`` (as written) whose terms are not in ``found``, in text order."""
    return [word for term, word in term_forms(text).items() if term not in found][:limit]


def detect_retrieval(ctx: DiagnosisContext) -> Iterator[Finding]:
    for found in retrievals(ctx.index.spans, skip=ctx.index.is_error):
        span, docs = found.span, found.documents
        if not docs:
            query = found.query
            about = f" for {quote(query)}" if query else ""
            yield Finding(
                kind="empty_retrieval", severity="medium", span_id=span.span_id,
                span_name=span.name,
                message=(f"{span.name} returned no documents{about}; whatever came next "
                         "had no retrieved context to work from."),
                evidence={"query": query, "documents": 0},
                start_time_ns=span.start_time_ns)
            continue
        yield from _low_scores(ctx, span, docs)
        yield from _mismatch(ctx, found)


def _low_scores(ctx: DiagnosisContext, span: Span, docs: list[Document]) -> Iterator[Finding]:
    threshold = ctx.thresholds.min_retrieval_score
    scores = [d.score for d in docs if d.score is not None]
    if len(scores) != len(docs) or max(scores) >= threshold:
        return
    yield Finding(
        kind="low_retrieval_score", severity="medium", span_id=span.span_id,
        span_name=span.name,
        message=(f"All {len(docs)} documents {span.name} returned scored below {threshold} "
                 f"(best {max(scores):.3g}); the retriever found nothing close to the query."),
        evidence={"scores": scores, "threshold": threshold, "best": max(scores)},
        start_time_ns=span.start_time_ns)


def _mismatch(ctx: DiagnosisContext, found: Retrieval) -> Iterator[Finding]:
    limits = ctx.thresholds
    span, docs = found.span, found.documents
    query = found.query or ""
    query_terms = set(tokenize(query))
    doc_terms = set(tokenize("\n".join(d.text for d in docs)))
    if not query_terms or not doc_terms:
        return
    query_in_docs = containment(query_terms, doc_terms)
    missing_query = _missing(query, doc_terms)
    evidence: dict[str, object] = {
        "query": query[:500], "documents": [d.id for d in docs],
        "query_terms_in_documents": round(query_in_docs, 3),
        "missing_query_terms": missing_query}

    root = ctx.index.root
    question = None
    if root is not None and root is not span:
        question = question_text(span_inputs(root))
    question_terms = set(tokenize(question or ""))
    missing_question: list[str] = []
    drift = False
    if root is not None and question and question_terms:
        conversation_terms = set(tokenize(conversation_text(span_inputs(root))))
        query_from_conversation = containment(query_terms, conversation_terms)
        question_in_query = containment(question_terms, query_terms)
        question_in_docs = containment(question_terms, doc_terms)
        missing_question = _missing(question, doc_terms)
        evidence.update({
            "question": question[:500],
            "query_terms_from_conversation": round(query_from_conversation, 3),
            "question_terms_in_query": round(question_in_query, 3),
            "question_terms_in_documents": round(question_in_docs, 3),
            "missing_question_terms": missing_question})
        drift = (query_from_conversation < limits.query_drift_max_overlap
                 and question_in_query < limits.query_drift_max_coverage
                 and question_in_docs < limits.question_min_doc_coverage)

    unrelated = query_in_docs < limits.retrieval_min_overlap
    if not unrelated and not drift:
        return
    names = _doc_names(docs)
    if drift:
        shared = len(question_terms & doc_terms)
        message = (f"The documents retrieved by {span.name} do not match the query: the user "
                   f"asked {quote(question or '')} but it searched for {quote(query)}, and "
                   f"the documents ({names}) contain {shared} of the question's "
                   f"{len(question_terms)} terms (missing: {', '.join(missing_question)}).")
        severity = "high"
    else:
        shared = len(query_terms & doc_terms)
        message = (f"The documents retrieved by {span.name} do not match the query "
                   f"{quote(query)}: they contain {shared} of its {len(query_terms)} terms "
                   f"(missing: {', '.join(missing_query)}; documents: {names}).")
        severity = "high" if len(query_terms) >= limits.retrieval_high_min_terms else "medium"
    evidence["reason"] = "query_drift" if drift else "documents_unrelated_to_query"
    yield Finding(kind="retrieval_mismatch", severity=severity, span_id=span.span_id,
                  span_name=span.name, message=message, evidence=evidence,
                  start_time_ns=span.start_time_ns)
