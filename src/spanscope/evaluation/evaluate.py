"""``evaluate()``: score an app's answers with scorers, as a run, with scores on the traces.

For each row, in a thread pool (``SPANSCOPE_EVAL_MAX_WORKERS``, default 8):

1. the answer: with ``predict_fn``, call ``predict_fn(**inputs)`` inside a root span, so
   the call is a trace (metadata ``mlflow.sourceRun`` = the run id) linked to the row;
   without it, the row's own ``outputs`` or trace (nothing is re-run);
2. every scorer scores the row (one after the other; a judge's failure is that score's
   error, never an exception);
3. when the row has a trace, each score is stored on it as an assessment (source CODE or
   LLM_JUDGE with the model URI, ``run_id`` set), by one writer thread
   (``assessment_writer``), all of them before ``evaluate`` returns.

The whole evaluation is a run (the active one, or a new one) with params, metrics
(``NAME/mean`` ...) and the per-row table as the artifact ``eval_results_table.json``.
Judges are checked before any work: with no judge model configured, ``evaluate`` fails
at once with ``InvalidInputError`` saying how to configure one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from spanscope import tracking
from spanscope.entities import SpanType, Trace, TraceMetadataKey
from spanscope.evaluation.assessment_writer import AssessmentWriter
from spanscope.evaluation.metrics import compute_metrics
from spanscope.evaluation.results import (
    TABLE_ARTIFACT,
    EvaluationResult,
    RowResult,
    json_safe,
    result_columns,
    result_table,
    to_frame,
)
from spanscope.evaluation.rows import EvalRow, rows_from_data
from spanscope.evaluation.scorers.base import Scorer
from spanscope.evaluation.scorers.judge_client import configuration_problem
from spanscope.exceptions import InvalidInputError, SpanscopeError
from spanscope.pending import flush_pending_traces

__all__ = ["MAX_WORKERS_ENV", "evaluate"]

logger = logging.getLogger(__name__)

MAX_WORKERS_ENV = "SPANSCOPE_EVAL_MAX_WORKERS"
DEFAULT_MAX_WORKERS = 8
MODEL_ID_METADATA = "mlflow.modelId"
Progress = Callable[[int, int], None]


def evaluate(
    data: Any,
    scorers: Sequence[Scorer] | None = None,
    predict_fn: Callable[..., Any] | None = None,
    model_id: str | None = None,
    *,
    on_progress: Progress | None = None,
) -> EvaluationResult:
    """Score ``data`` with ``scorers`` and log the evaluation as a run.

    ``data``: a list of dicts (``inputs``, optional ``outputs``, ``expectations``,
    ``trace``), a list of Traces, a DataFrame of those columns, a ``search_traces``
    DataFrame or an ``EvaluationDataset``. ``predict_fn``, if given, is called for every
    row as ``predict_fn(**inputs)`` and traced. ``on_progress(done, total)`` is called as
    rows finish (from the calling thread). The arguments are MLflow's, in its order.
    """
    scorer_list = _check_scorers(scorers)
    if predict_fn is not None and not callable(predict_fn):
        raise InvalidInputError(f"predict_fn must be callable, got {type(predict_fn).__name__}")
    rows = rows_from_data(data)
    _check_judges(scorer_list)
    if predict_fn is not None and any(r.has_outputs for r in rows):
        logger.info("evaluate(): predict_fn given, so the data's outputs and traces are "
                    "replaced by new predictions")
    from spanscope.runs import fluent as runs

    with _run(runs) as run_id:
        try:
            runs.log_params(_params(scorer_list, rows, predict_fn, model_id), run_id=run_id)
        except InvalidInputError as exc:  # an active run that already has other values
            logger.warning("evaluate(): run %s keeps its earlier params (%s)", run_id, exc)
        writer = AssessmentWriter(run_id, flush_traces=predict_fn is not None)
        job = _RowJob(scorer_list, predict_fn, run_id, model_id, writer)
        try:
            results = _run_rows(rows, job, on_progress)
        finally:
            writer.close()
        aggregations = {name: s.aggregations for s, names in job.produced.items()
                        for name in names}
        metrics = compute_metrics((r.feedbacks for r in results), aggregations)
        if predict_fn is not None:
            metrics["predict_fn/error_count"] = float(sum(r.error is not None
                                                          for r in results))
        if metrics:
            runs.log_metrics(metrics, run_id=run_id)
        columns = result_columns(results)
        table = result_table(results, columns)
        runs.log_table(json_safe(table), artifact_file=TABLE_ARTIFACT, run_id=run_id)
    return EvaluationResult(run_id=run_id, metrics=metrics, result_df=to_frame(table, columns))


@contextlib.contextmanager
def _run(runs: Any) -> Iterator[str]:
    """The active run's id, or a new run's (ended FINISHED, or FAILED on an exception)."""
    active = runs.active_run()
    if active is not None:
        yield active.info.run_id
        return
    with runs.start_run() as run:
        yield run.info.run_id


def _check_scorers(scorers: Sequence[Scorer] | None) -> list[Scorer]:
    if scorers is None or isinstance(scorers, (str, bytes)) or not scorers:
        raise InvalidInputError("evaluate() needs scorers=[...], e.g. [Safety(), my_scorer] "
                                "(make a function a scorer with @scorer)")
    if isinstance(scorers, Scorer):
        scorers = [scorers]
    result = []
    for item in scorers:
        if not isinstance(item, Scorer):
            hint = " (decorate it with @scorer)" if callable(item) else ""
            raise InvalidInputError(f"{item!r} is not a scorer{hint}")
        result.append(item)
    names = [s.name for s in result]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInputError(f"two scorers are named {', '.join(map(repr, repeated))}; "
                                f"give each a distinct name=")
    return result


def _check_judges(scorers: Sequence[Scorer]) -> None:
    """Fail before any work when a judge cannot run (no model, bad URI, no credentials)."""
    for item in scorers:
        if item.is_judge:
            problem = configuration_problem(item.model)
            if problem is not None:
                raise InvalidInputError(f"scorer {item.name!r} is an LLM judge and cannot "
                                        f"run: {problem}")


def _params(scorers: Sequence[Scorer], rows: Sequence[EvalRow],
            predict_fn: Callable[..., Any] | None, model_id: str | None) -> dict[str, str]:
    params = {"scorers": ",".join(s.name for s in scorers), "n_rows": str(len(rows))}
    judges = sorted({uri for s in scorers if s.is_judge
                     for uri in [s.model_uri()] if uri})  # type: ignore[attr-defined]
    if judges:
        params["judge_models"] = ",".join(judges)
    if predict_fn is not None:
        params["predict_fn"] = getattr(predict_fn, "__name__", type(predict_fn).__name__)
    if model_id:
        params["model_id"] = model_id
    return params


def max_workers() -> int:
    raw = os.environ.get(MAX_WORKERS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_WORKERS
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    logger.warning("%s=%r is not a positive integer; using %d", MAX_WORKERS_ENV, raw,
                   DEFAULT_MAX_WORKERS)
    return DEFAULT_MAX_WORKERS


def _run_rows(rows: Sequence[EvalRow], job: _RowJob,
              on_progress: Progress | None) -> list[RowResult]:
    total = len(rows)
    results: list[RowResult | None] = [None] * total
    step = max(1, total // 10)
    with ThreadPoolExecutor(max_workers=min(max_workers(), total),
                            thread_name_prefix="spanscope-eval") as pool:
        futures = {pool.submit(job, row): row for row in rows}
        for done, future in enumerate(as_completed(futures), 1):
            row = futures[future]
            try:
                results[row.index] = future.result()
            except Exception as exc:  # the thread boundary: a bug here must not stop the rest
                logger.exception("evaluate(): row %d failed", row.index)
                results[row.index] = RowResult(row.index, row.inputs, row.outputs,
                                               row.expectations, row.trace_id,
                                               error=f"{type(exc).__name__}: {exc}")
            if on_progress is not None:
                on_progress(done, total)
            if done % step == 0 or done == total:
                logger.info("evaluate(): %d/%d rows scored", done, total)
    return [r for r in results if r is not None]


class _RowJob:
    """Everything one row needs: predict (traced), score, log the scores on the trace."""

    def __init__(self, scorers: Sequence[Scorer], predict_fn: Callable[..., Any] | None,
                 run_id: str, model_id: str | None, writer: AssessmentWriter) -> None:
        self.scorers = scorers
        self.writer = writer
        self.predict_fn = predict_fn
        self.run_id = run_id
        self.model_id = model_id
        self.needs_trace = any("trace" in s.fields for s in scorers)
        # which feedback names each scorer produced (for its aggregations); set.add is atomic
        self.produced: dict[Scorer, set[str]] = {s: set() for s in scorers}

    def __call__(self, row: EvalRow) -> RowResult:
        outputs, trace, trace_id, error = row.outputs, row.trace, row.trace_id, None
        if self.predict_fn is not None:
            outputs, trace_id, error = self._predict(row.inputs)
            trace = self._stored_trace(trace_id) if trace_id and self.needs_trace else None
        result = RowResult(row.index, row.inputs, outputs, row.expectations, trace_id, error)
        if error is not None:
            return result  # nothing to score: the app failed on this row
        for item in self.scorers:
            feedbacks = item.run(inputs=row.inputs, outputs=outputs,
                                 expectations=row.expectations, trace=trace)
            self.produced[item].update(f.name for f in feedbacks)
            result.feedbacks.extend(feedbacks)
        if trace_id is not None:
            self.writer.put(trace_id, result.feedbacks)
        return result

    def _predict(self, inputs: Any) -> tuple[Any, str | None, str | None]:
        """(outputs, trace id, error text) of one traced call of ``predict_fn``."""
        from spanscope.tracing import LiveSpan, start_span, update_current_trace

        function = self.predict_fn
        assert function is not None
        trace_id = None
        name = getattr(function, "__name__", "predict_fn")
        try:
            with start_span(name, span_type=SpanType.CHAIN) as span:
                if isinstance(span, LiveSpan):
                    trace_id = span.trace_id
                    span.set_inputs(inputs)
                    metadata = {TraceMetadataKey.SOURCE_RUN: self.run_id}
                    if self.model_id:
                        metadata[MODEL_ID_METADATA] = self.model_id
                    update_current_trace(metadata=metadata)
                outputs = function(**inputs) if isinstance(inputs, dict) else function(inputs)
                span.set_outputs(outputs)
        except Exception as exc:
            logger.info("evaluate(): predict_fn failed: %s: %s", type(exc).__name__, exc)
            return None, trace_id, f"{type(exc).__name__}: {exc}"
        return outputs, trace_id, None

    def _stored_trace(self, trace_id: str) -> Trace | None:
        """The prediction's trace, written out and read back, for scorers that read it."""
        flush_pending_traces()
        try:
            return tracking.get_store().get_trace(trace_id)
        except SpanscopeError as exc:
            logger.warning("evaluate(): trace %s of a prediction could not be read (%s); "
                           "scorers get no trace for this row", trace_id, exc)
            return None
