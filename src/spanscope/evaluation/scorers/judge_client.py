"""Calling a judge model: model URIs, settings, and one chat completion with retries.

Judges reach any OpenAI-compatible endpoint through the official ``openai`` client
(imported on first call). The model is a URI ``openai:/MODEL``, given to the judge or
read from ``SPANSCOPE_JUDGE_MODEL``; ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` are
honoured, and a local server that needs no key works without one.

Failures never escape as provider exceptions: ``call_judge`` raises ``JudgeCallError``
with a short code (``TIMEOUT``, ``HTTP_429``, ``HTTP_500``, ``CONNECTION_ERROR``,
``INVALID_RESPONSE`` ...) that the judge records as the assessment's error. Transient
failures (timeouts, connection errors, 408/409/429 and 5xx) are retried with exponential
backoff and jitter, waiting what a ``Retry-After`` header asks for. We retry ourselves
(the client's own retries are off) so that the number of attempts is known and bounded
by ``SPANSCOPE_JUDGE_MAX_RETRIES``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spanscope.exceptions import InvalidInputError

__all__ = [
    "JUDGE_MODEL_ENV",
    "JudgeCallError",
    "JudgeModel",
    "JudgeReply",
    "JudgeSettings",
    "call_judge",
    "configuration_problem",
    "parse_model_uri",
    "resolve_model",
]

logger = logging.getLogger(__name__)

JUDGE_MODEL_ENV = "SPANSCOPE_JUDGE_MODEL"
TIMEOUT_ENV = "SPANSCOPE_JUDGE_TIMEOUT"
MAX_RETRIES_ENV = "SPANSCOPE_JUDGE_MAX_RETRIES"
BACKOFF_ENV = "SPANSCOPE_JUDGE_RETRY_BACKOFF"
SUPPORTED_PROVIDERS = ("openai",)
MAX_BACKOFF = 30.0  # seconds; the longest computed wait between two attempts
MAX_RETRY_AFTER = 120.0  # seconds; a server asking for more is answered with this
NO_KEY = "spanscope-no-key"  # sent to a base URL when OPENAI_API_KEY is unset

HOW_TO_CONFIGURE = (
    "Configure a judge model: set SPANSCOPE_JUDGE_MODEL (e.g. "
    "export SPANSCOPE_JUDGE_MODEL='openai:/gpt-4o-mini') or pass model='openai:/MODEL' "
    "to the judge; for a local or self-hosted OpenAI-compatible server also set "
    "OPENAI_BASE_URL (e.g. http://localhost:8000/v1), otherwise OPENAI_API_KEY.")


@dataclass(frozen=True)
class JudgeModel:
    """A parsed model URI: provider and model name."""

    provider: str
    name: str

    @property
    def uri(self) -> str:
        return f"{self.provider}:/{self.name}"


def parse_model_uri(uri: str) -> JudgeModel:
    """``"openai:/gpt-4o-mini"`` -> ``JudgeModel("openai", "gpt-4o-mini")``."""
    if not isinstance(uri, str) or ":" not in uri:
        raise InvalidInputError(f"judge model {uri!r} is not a model URI; write it as "
                                f"'openai:/MODEL', e.g. 'openai:/gpt-4o-mini'")
    provider, _, name = uri.partition(":")
    provider, name = provider.strip().lower(), name.strip().lstrip("/")
    if provider not in SUPPORTED_PROVIDERS:
        raise InvalidInputError(
            f"judge model {uri!r}: unknown provider {provider!r}; supported: "
            f"{', '.join(SUPPORTED_PROVIDERS)} (any OpenAI-compatible endpoint works "
            f"through 'openai:/MODEL' with OPENAI_BASE_URL)")
    if not name:
        raise InvalidInputError(f"judge model {uri!r} names no model; write 'openai:/MODEL'")
    return JudgeModel(provider, name)


def resolve_model(model: str | None) -> JudgeModel | None:
    """The judge's own model, else ``SPANSCOPE_JUDGE_MODEL``, else None."""
    uri = model or os.environ.get(JUDGE_MODEL_ENV, "").strip() or None
    return None if uri is None else parse_model_uri(uri)


def configuration_problem(model: str | None) -> str | None:
    """Why a judge with this ``model`` cannot run here, or None when it can."""
    try:
        resolved = resolve_model(model)
    except InvalidInputError as exc:
        return str(exc)
    if resolved is None:
        return "No judge model is configured. " + HOW_TO_CONFIGURE
    if not _base_url() and not os.environ.get("OPENAI_API_KEY"):
        return (f"Judge model {resolved.uri} needs credentials: set OPENAI_API_KEY, or "
                f"OPENAI_BASE_URL for a local OpenAI-compatible server that needs no key.")
    try:
        import openai  # noqa: F401
    except ImportError:
        return "LLM judges need the openai package: pip install openai"
    return None


@dataclass(frozen=True)
class JudgeSettings:
    """Timeout per attempt (s), retries after the first attempt, backoff base (s)."""

    timeout: float = 60.0
    max_retries: int = 3
    backoff: float = 1.0

    @classmethod
    def from_env(cls) -> JudgeSettings:
        return cls(timeout=_env_float(TIMEOUT_ENV, 60.0, minimum=0.001),
                   max_retries=int(_env_float(MAX_RETRIES_ENV, 3, minimum=0)),
                   backoff=_env_float(BACKOFF_ENV, 1.0, minimum=0.0))


def _env_float(name: str, default: float, *, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        logger.warning("%s=%r is not a number >= %s; using %s", name, raw, minimum, default)
        return default
    return value


@dataclass(frozen=True)
class JudgeReply:
    """The judge model's answer text and how many attempts it took."""

    text: str
    attempts: int


class JudgeCallError(Exception):
    """A judge call that failed for good: ``code`` (e.g. ``HTTP_429``) and a reason."""

    def __init__(self, code: str, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.attempts = attempts


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    retryable: bool
    retry_after: float | None = None


def call_judge(model: JudgeModel, messages: Sequence[dict[str, str]], *,
               settings: JudgeSettings | None = None) -> JudgeReply:
    """One chat completion (temperature 0); ``JudgeCallError`` once retries are spent."""
    settings = settings or JudgeSettings.from_env()
    try:
        client = _client(settings.timeout)
    except ImportError:
        raise JudgeCallError("MISSING_DEPENDENCY",
                             "LLM judges need the openai package: pip install openai") from None
    body = {"model": model.name, "messages": list(messages), "temperature": 0}
    attempt = 0
    while True:
        attempt += 1
        try:
            # The client's documented custom-request path with a plain JSON body and the
            # raw text back: the typed ``chat.completions.create`` spends milliseconds per
            # call transforming and validating, which shows when a thread pool keeps many
            # judge calls in flight. Errors, auth and timeouts are the client's as usual.
            response = json.loads(client.post("/chat/completions", body=body, cast_to=str))
        except Exception as exc:
            failure = _classify(exc, settings)
            if not failure.retryable or attempt > settings.max_retries:
                detail = f" after {attempt} attempts" if attempt > 1 else ""
                raise JudgeCallError(failure.code, f"{failure.message}{detail}",
                                     attempt) from None
            wait = _wait_time(attempt, settings.backoff, failure.retry_after)
            logger.info("judge %s: %s (attempt %d of %d); retrying in %.2fs", model.uri,
                        failure.code, attempt, settings.max_retries + 1, wait)
            time.sleep(wait)
            continue
        return JudgeReply(_content(response, attempt), attempt)


def _content(response: Any, attempts: int) -> str:
    try:
        text = response["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeCallError("INVALID_RESPONSE", "the judge's response has no message",
                             attempts) from None
    if not text or not str(text).strip():
        raise JudgeCallError("EMPTY_RESPONSE", "the judge answered with an empty message",
                             attempts)
    return str(text)


def _wait_time(attempt: int, backoff: float, retry_after: float | None) -> float:
    """Retry-After when the server gave one, else exponential backoff with jitter."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    ceiling = min(MAX_BACKOFF, backoff * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _classify(exc: Exception, settings: JudgeSettings) -> _Failure:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return _Failure("TIMEOUT", f"the judge did not answer within {settings.timeout:g} s "
                                   f"({TIMEOUT_ENV})", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return _Failure("CONNECTION_ERROR", f"could not reach the judge endpoint: {exc}",
                        retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return _Failure(f"HTTP_{status}", f"the judge endpoint answered HTTP {status}: "
                                          f"{_short(exc.message)}", retryable,
                        _retry_after(exc.response.headers) if retryable else None)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
        return _Failure("INVALID_RESPONSE", f"the judge endpoint sent a response that is "
                                            f"not a chat completion: {_short(str(exc))}",
                        retryable=False)
    if isinstance(exc, openai.OpenAIError):
        return _Failure("JUDGE_ERROR", _short(str(exc)), retryable=False)
    raise exc


def _retry_after(headers: Any) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms`` or ``Retry-After``)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _base_url() -> str | None:
    return os.environ.get("OPENAI_BASE_URL", "").strip() or None


_clients: dict[tuple[str | None, str, float], Any] = {}
_clients_lock = threading.Lock()


def _client(timeout: float) -> Any:
    """A shared ``openai.OpenAI`` client per (base URL, key, timeout); it is thread-safe."""
    base_url = _base_url()
    api_key = os.environ.get("OPENAI_API_KEY") or (NO_KEY if base_url else "")
    key = (base_url, api_key, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import openai

            if not api_key:
                raise JudgeCallError("MISSING_API_KEY", "OPENAI_API_KEY is not set (or set "
                                                        "OPENAI_BASE_URL for a local server)")
            client = _clients[key] = openai.OpenAI(base_url=base_url, api_key=api_key,
                                                   timeout=timeout, max_retries=0)
        return client
