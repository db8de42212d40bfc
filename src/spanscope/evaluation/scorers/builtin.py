"""The built-in LLM judges and ``make_judge`` for custom ones (MLflow's names).

A judge renders a prompt from the row, asks the judge model (``judge_client``), and reads
the answer (``judge_parse``). Pass/fail judges give ``"yes"``/``"no"`` (counted 1/0 in
``NAME/mean``). Whatever goes wrong (a row missing what the judge needs, a timeout, an
HTTP error, an unreadable answer) comes back as a ``Feedback`` whose ``error`` has a code
and the reason, never as an exception.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from spanscope.analysis.documents import retrievals
from spanscope.entities import (
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
    Trace,
)
from spanscope.evaluation.scorers import prompts
from spanscope.evaluation.scorers.base import FIELDS, Scorer
from spanscope.evaluation.scorers.judge_client import (
    JudgeCallError,
    call_judge,
    resolve_model,
)
from spanscope.evaluation.scorers.judge_parse import JudgeParseError, ResultKind, parse_judgement
from spanscope.exceptions import InvalidInputError

__all__ = [
    "Correctness",
    "ExpectationsGuidelines",
    "Guidelines",
    "Judge",
    "RelevanceToQuery",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "RetrievalSufficiency",
    "Safety",
    "make_judge",
    "retrieved_documents",
]



class _Skip(Exception):
    """The row lacks what this judge needs: record ``code`` and ``message`` as the error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Judge(Scorer):
    """A scorer backed by an LLM judge; ``model`` is ``"openai:/MODEL"`` or None (env)."""

    is_judge = True
    result_kind: ResultKind = "pass_fail"
    default_name = "judge"
    reads: tuple[str, ...] = ("inputs", "outputs")

    def __init__(self, name: str | None = None, *, model: str | None = None,
                 aggregations: Sequence[str] | None = None) -> None:
        super().__init__(name or self.default_name, aggregations=aggregations,
                         fields=self.reads)
        if model is not None:
            resolve_model(model)  # a malformed URI fails here, not row by row
        self.model = model

    def model_uri(self) -> str | None:
        """The model this judge uses now: its own, else ``SPANSCOPE_JUDGE_MODEL``."""
        resolved = resolve_model(self.model)
        return None if resolved is None else resolved.uri

    def source(self) -> AssessmentSource:
        try:
            uri = self.model_uri()
        except InvalidInputError:  # a malformed SPANSCOPE_JUDGE_MODEL
            uri = None
        return AssessmentSource(AssessmentSourceType.LLM_JUDGE, uri or "unconfigured")

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any,
               trace: Any) -> str:
        """The user message for this row; raise ``_Skip`` when the row cannot be judged."""
        raise NotImplementedError

    def __call__(self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None,
                 trace: Any = None) -> Feedback:
        try:
            text = self.prompt(inputs=inputs, outputs=outputs, expectations=expectations,
                               trace=trace)
        except _Skip as skip:
            return self._error(skip.code, skip.message)
        return self.ask(text)

    def ask(self, user_message: str, *, name: str | None = None) -> Feedback:
        """Send one prompt to the judge model and read its verdict into a Feedback."""
        name = name or self.name
        model = resolve_model(self.model)
        if model is None:
            return self._error("JUDGE_NOT_CONFIGURED",
                               "no judge model: set SPANSCOPE_JUDGE_MODEL or pass model=",
                               name=name)
        source = AssessmentSource(AssessmentSourceType.LLM_JUDGE, model.uri)
        messages = [{"role": "system", "content": prompts.SYSTEM},
                    {"role": "user", "content": user_message}]
        try:
            reply = call_judge(model, messages)
        except JudgeCallError as exc:
            return Feedback(name=name, error=AssessmentError(exc.code, exc.message),
                            source=source, metadata={"judge_attempts": str(exc.attempts)})
        metadata = {"judge_attempts": str(reply.attempts)}
        try:
            value, rationale = parse_judgement(reply.text, self.result_kind)
        except JudgeParseError as exc:
            return Feedback(name=name, error=AssessmentError("JUDGE_PARSE_ERROR", str(exc)),
                            source=source, metadata=metadata)
        return Feedback(name=name, value=value, rationale=rationale, source=source,
                        metadata=metadata)

    def _error(self, code: str, message: str, *, name: str | None = None) -> Feedback:
        return Feedback(name=name or self.name, error=AssessmentError(code, message),
                        source=self.source())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"


# --- helpers that read the row ----------------------------------------------------------
def _expected(expectations: Any, judge: str) -> tuple[str, str]:
    """(tag, text) of the expected facts or response; ``_Skip`` when there are neither."""
    expectations = expectations if isinstance(expectations, dict) else {}
    facts = expectations.get("expected_facts")
    if facts:
        return "expected_facts", prompts.render_list(facts)
    response = expectations.get("expected_response")
    if response not in (None, ""):
        return "expected_response", prompts.render(response)
    raise _Skip("MISSING_EXPECTATIONS",
                f"{judge} needs expectations['expected_facts'] or "
                f"expectations['expected_response']; this row has neither")


def _as_trace(trace: Any) -> Trace | None:
    if trace is None or isinstance(trace, Trace):
        return trace
    if isinstance(trace, dict):
        return Trace.from_dict(trace)
    if isinstance(trace, (str, bytes)):
        return Trace.from_json(trace)
    raise InvalidInputError(f"trace must be a Trace, got {type(trace).__name__}")


def retrieved_documents(trace: Any, judge: str = "this judge") -> list[tuple[str, list[str]]]:
    """``(span_id, [document text, ...])`` per span of ``trace`` that retrieved documents.

    Which spans retrieved and what their documents say is ``analysis.documents``' call:
    RETRIEVER spans, and any span whose outputs are plainly documents (a TOOL returning
    ``[{"doc": ..., "score": ...}]``), in every shape it knows. ``_Skip`` when there is no
    trace or no such span.
    """
    found = _as_trace(trace)
    if found is None:
        raise _Skip("MISSING_TRACE", f"{judge} reads the retrieval spans of the row's trace, "
                                     f"and this row has no trace")
    spans = retrievals(sorted(found.data.spans, key=lambda s: (s.start_time_ns, s.span_id)))
    if not spans:
        raise _Skip("NO_RETRIEVER_SPANS",
                    f"{judge} reads retrieval spans (RETRIEVER, or spans returning "
                    f"documents), and trace {found.info.trace_id} has none")
    return [(r.span.span_id, [prompts.render(d.text) for d in r.documents]) for r in spans]


def _context(trace: Any, judge: str) -> str:
    documents = [doc for _, docs in retrieved_documents(trace, judge) for doc in docs]
    if not documents:
        raise _Skip("NO_RETRIEVED_DOCUMENTS",
                    f"{judge}: the trace's retrieval spans returned no documents")
    return prompts.render_documents(documents)


# --- built-in judges --------------------------------------------------------------------
class Safety(Judge):
    """Is the response free of harmful content? Reads ``outputs``."""

    default_name = "safety"
    reads = ("outputs",)

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        return prompts.fill(prompts.SAFETY, outputs=prompts.render(outputs))


class RelevanceToQuery(Judge):
    """Does the response address the request? Reads ``inputs`` and ``outputs``."""

    default_name = "relevance_to_query"

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        return prompts.fill(prompts.RELEVANCE_TO_QUERY, inputs=prompts.render(inputs),
                            outputs=prompts.render(outputs))


class Guidelines(Judge):
    """Does the response follow every one of ``guidelines`` (a string or a list)?"""

    default_name = "guidelines"

    def __init__(self, name: str = "guidelines", guidelines: str | Sequence[str] | None = None,
                 *, model: str | None = None,
                 aggregations: Sequence[str] | None = None) -> None:
        if not guidelines or (not isinstance(guidelines, str)
                              and not all(isinstance(g, str) and g for g in guidelines)):
            raise InvalidInputError("Guidelines needs guidelines=: a string or a list of "
                                    "non-empty strings, e.g. Guidelines(name='tone', "
                                    "guidelines='The response must be polite.')")
        super().__init__(name, model=model, aggregations=aggregations)
        self.guidelines = guidelines if isinstance(guidelines, str) else list(guidelines)

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        return prompts.fill(prompts.GUIDELINES, guidelines=prompts.render_list(self.guidelines),
                            inputs=prompts.render(inputs), outputs=prompts.render(outputs))


class ExpectationsGuidelines(Judge):
    """Like ``Guidelines``, with each row's own ``expectations["guidelines"]``."""

    default_name = "expectations_guidelines"
    reads = ("inputs", "outputs", "expectations")

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        guidelines = (expectations or {}).get("guidelines") if isinstance(
            expectations, dict) else None
        if not guidelines:
            raise _Skip("MISSING_EXPECTATIONS", "ExpectationsGuidelines needs "
                                                "expectations['guidelines']; this row has none")
        return prompts.fill(prompts.EXPECTATIONS_GUIDELINES,
                            guidelines=prompts.render_list(guidelines),
                            inputs=prompts.render(inputs), outputs=prompts.render(outputs))


class Correctness(Judge):
    """Is the response correct against ``expected_facts`` or ``expected_response``?"""

    default_name = "correctness"
    reads = ("inputs", "outputs", "expectations")

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        tag, expected = _expected(expectations, "Correctness")
        return prompts.fill(prompts.CORRECTNESS, inputs=prompts.render(inputs),
                            outputs=prompts.render(outputs), expected_tag=tag,
                            expected=expected)


class RetrievalGroundedness(Judge):
    """Is every claim of the response supported by the trace's retrieved documents?"""

    default_name = "retrieval_groundedness"
    reads = ("inputs", "outputs", "trace")

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        return prompts.fill(prompts.RETRIEVAL_GROUNDEDNESS, inputs=prompts.render(inputs),
                            context=_context(trace, "RetrievalGroundedness"),
                            outputs=prompts.render(outputs))


class RetrievalSufficiency(Judge):
    """Do the retrieved documents hold everything the expected answer needs?"""

    default_name = "retrieval_sufficiency"
    reads = ("inputs", "expectations", "trace")

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        context = _context(trace, "RetrievalSufficiency")
        tag, expected = _expected(expectations, "RetrievalSufficiency")
        return prompts.fill(prompts.RETRIEVAL_SUFFICIENCY, inputs=prompts.render(inputs),
                            context=context, expected_tag=tag, expected=expected)


class RetrievalRelevance(Judge):
    """The share of retrieved documents relevant to the request (0..1).

    Each document is judged on its own (one judge call each, in order); the rationale
    lists each verdict. One failed call makes the whole score an error.
    """

    default_name = "retrieval_relevance"
    reads = ("inputs", "trace")

    def __call__(self, *, inputs: Any = None, outputs: Any = None, expectations: Any = None,
                 trace: Any = None) -> Feedback:
        try:
            spans = retrieved_documents(trace, "RetrievalRelevance")
        except _Skip as skip:
            return self._error(skip.code, skip.message)
        verdicts: list[str] = []
        relevant = total = attempts = 0
        last: Feedback | None = None
        for _span_id, documents in spans:
            for document in documents:
                total += 1
                last = self.ask(prompts.fill(prompts.RETRIEVAL_RELEVANCE,
                                             inputs=prompts.render(inputs), document=document))
                attempts += int((last.metadata or {}).get("judge_attempts", "1"))
                if last.error is not None:
                    error = AssessmentError(last.error.error_code,
                                            f"document {total}: {last.error.error_message}")
                    return Feedback(name=self.name, error=error, source=last.source,
                                    metadata={"judge_attempts": str(attempts)})
                relevant += last.value == "yes"
                verdicts.append(f"document {total}: {last.value}"
                                + (f" ({last.rationale})" if last.rationale else ""))
        if last is None:
            return self._error("NO_RETRIEVED_DOCUMENTS", "RetrievalRelevance: the trace's "
                                                         "retrieval spans returned no documents")
        return Feedback(name=self.name, value=relevant / total, rationale="; ".join(verdicts),
                        source=last.source, metadata={"judge_attempts": str(attempts),
                                                      "relevant_documents": str(relevant),
                                                      "documents": str(total)})


# --- custom judges ----------------------------------------------------------------------
_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_VALUE_KINDS: dict[Any, ResultKind] = {None: "pass_fail", "yes/no": "pass_fail",
                                       bool: "bool", int: "numeric", float: "numeric",
                                       str: "text"}
_FORMATS = {"pass_fail": prompts.PASS_FAIL_FORMAT, "bool": prompts.PASS_FAIL_FORMAT,
            "numeric": prompts.NUMERIC_FORMAT, "text": prompts.TEXT_FORMAT}


class InstructionsJudge(Judge):
    """A judge from ``make_judge``: instructions with ``{{ inputs }}``-style variables."""

    def __init__(self, name: str, instructions: str, *, model: str | None = None,
                 result_kind: ResultKind = "pass_fail", description: str | None = None,
                 aggregations: Sequence[str] | None = None) -> None:
        self.variables = _template_variables(instructions)
        self.reads = tuple(v for v in FIELDS if v in self.variables)
        self.result_kind = result_kind
        self.instructions = instructions
        self.description = description
        super().__init__(name, model=model, aggregations=aggregations)

    def prompt(self, *, inputs: Any, outputs: Any, expectations: Any, trace: Any) -> str:
        values = {"inputs": inputs, "outputs": outputs, "expectations": expectations}
        if "trace" in self.variables:
            found = _as_trace(trace)
            if found is None:
                raise _Skip("MISSING_TRACE", f"judge {self.name!r} reads {{{{ trace }}}}, "
                                             f"and this row has no trace")
            values["trace"] = found.to_json(pretty=True)
        text = _TEMPLATE_VARIABLE.sub(lambda m: prompts.render(values[m.group(1)]),
                                      self.instructions)
        return f"{text}\n\n{_FORMATS[self.result_kind]}"


def _template_variables(instructions: str) -> set[str]:
    if not isinstance(instructions, str) or not instructions.strip():
        raise InvalidInputError("make_judge needs instructions: a non-empty string")
    names = {m.group(1) for m in _TEMPLATE_VARIABLE.finditer(instructions)}
    unknown = sorted(names - set(FIELDS))
    if unknown:
        raise InvalidInputError(
            f"make_judge instructions use unknown variable(s) "
            f"{', '.join('{{ ' + u + ' }}' for u in unknown)}; "
            f"use {', '.join('{{ ' + f + ' }}' for f in FIELDS)}")
    if not names:
        raise InvalidInputError(
            "make_judge instructions must reference at least one of "
            f"{', '.join('{{ ' + f + ' }}' for f in FIELDS)}")
    return names


def make_judge(name: str, instructions: str, model: str | None = None, *,
               description: str | None = None, feedback_value_type: Any = None,
               aggregations: Sequence[str] | None = None) -> Judge:
    """A custom LLM judge: ``instructions`` reference ``{{ inputs }}``, ``{{ outputs }}``,
    ``{{ expectations }}`` and/or ``{{ trace }}``.

    ``feedback_value_type`` picks the result: None (``"yes"``/``"no"``), ``bool``,
    ``int`` or ``float`` (a number), ``str`` (free text).
    """
    if feedback_value_type not in _VALUE_KINDS:
        raise InvalidInputError(f"feedback_value_type must be None, bool, int, float or "
                                f"str, got {feedback_value_type!r}")
    return InstructionsJudge(name, instructions, model=model,
                             result_kind=_VALUE_KINDS[feedback_value_type],
                             description=description, aggregations=aggregations)
