"""PII redaction and oversized-value truncation at ingest (server/redact.py)."""

from __future__ import annotations

import json
import pathlib

import httpx
import pytest
from tests.factories import make_trace
from tests.otlp.conftest import make_app, serve
from tests.otlp.otlp_builders import S, new_span_id, new_trace_id, request, tr

from spanscope.exceptions import InvalidInputError
from spanscope.server.redact import TRUNCATED_KEY, Redactor

TEXT = ("mail ada@example.com or call +44 20 7946 0958 / (555) 123-4567, "
        "card 4111 1111 1111 1111, order 1234567890123, id EMP-123456")


def test_redact_text_kinds_and_custom_patterns(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "redact.toml"
    config.write_text("[patterns]\nemployee = 'EMP-\\d{6}'\n")
    redactor = Redactor.from_options("emails,phones,cards", config_path=config)
    out = redactor.redact_text(TEXT)
    assert "ada@example.com" not in out and "[REDACTED:email]" in out
    assert "7946" not in out and "123-4567" not in out and out.count("[REDACTED:phone]") == 2
    assert "4111" not in out and "[REDACTED:card]" in out
    assert "1234567890123" in out  # fails the Luhn check: not a card
    assert "[REDACTED:employee]" in out
    assert Redactor.from_options("emails").redact_text(TEXT).count("[REDACTED") == 1


def test_bad_options_are_clear_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown redaction 'ssn'"):
        Redactor.from_options("emails,ssn")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"patterns": {"x": "("}}))
    with pytest.raises(InvalidInputError, match="'x' is not a valid regular expression"):
        Redactor.from_options(None, config_path=bad)
    with pytest.raises(InvalidInputError, match="patterns"):
        Redactor.from_options(None, config_path=tmp_path / "missing.toml")


def test_apply_covers_inputs_outputs_attributes_events_previews() -> None:
    trace = make_trace(3)
    root = trace.data.spans[0]
    root.raw_attributes["mlflow.spanInputs"] = json.dumps({"q": "I am ada@example.com"})
    root.raw_attributes["note"] = json.dumps("call 555-123-4567")
    trace.info.request_preview = "ada@example.com"
    trace.info.trace_metadata["mlflow.traceInputs"] = "ada@example.com"
    out = Redactor(kinds=["emails", "phones"]).apply(trace)
    text = out.to_json()
    assert "ada@example.com" not in text and "555-123-4567" not in text
    assert out.data.spans[0].inputs == {"q": "I am [REDACTED:email]"}  # still JSON
    assert out.info.request_preview == "[REDACTED:email]"
    clean = make_trace(2)
    assert Redactor().apply(clean) is clean  # nothing to do: no copy


def test_oversized_values_truncated_with_a_marker() -> None:
    trace = make_trace(2)
    trace.data.spans[1].raw_attributes["mlflow.spanOutputs"] = json.dumps("x" * 5000)
    out = Redactor(max_value_chars=1000).apply(trace)
    span = out.data.spans[1]
    assert len(span.raw_attributes["mlflow.spanOutputs"]) <= 1000
    assert span.outputs.endswith("[spanscope: truncated, 5002 characters in total]")
    assert span.get_attribute(TRUNCATED_KEY) == ["mlflow.spanOutputs"]


def test_redaction_at_the_receiver(sqlite_uri: str) -> None:
    redactor = Redactor(kinds=["emails", "cards"], max_value_chars=2000)
    with serve(make_app(sqlite_uri, redactor=redactor)) as server:
        trace_id = new_trace_id()
        body = request([S(trace_id, new_span_id(), name="root", attributes={
            "input.value": "my card is 4111-1111-1111-1111", "output.value": "mail bob@x.org",
            "user.email": "bob@x.org", "big": "y" * 10_000})]).SerializeToString()
        response = httpx.post(server.url + "/v1/traces", content=body,
                              headers={"Content-Type": "application/x-protobuf"})
        assert response.status_code == 200
        trace = server.store.get_trace(tr(trace_id))
        stored = trace.to_json()
        assert "4111" not in stored and "bob@x.org" not in stored
        assert trace.info.request_preview == '"my card is [REDACTED:card]"'
        assert trace.data.spans[0].get_attribute(TRUNCATED_KEY) == ["big"]
