"""Rules every store applies to run writes, written once (like ``store/trace_rules.py``).

Keys follow MLflow's rules (letters, digits, ``_ - . / :`` and spaces, at most 250
characters, no ``..`` path tricks), parameter values are ``str(value)`` up to 6000
characters, metric values are finite or NaN/infinite floats, and a parameter, once
logged, cannot change: logging a different value is an ``InvalidInputError``, as MLflow
refuses it. Pure logic: no I/O, no SQLAlchemy.
"""

from __future__ import annotations

import getpass
import math
import numbers
import random
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spanscope.entities.run import Metric, RunStatus
from spanscope.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "KEY_LENGTH",
    "PARAM_VALUE_LENGTH",
    "RUN_NAME_LENGTH",
    "TAG_VALUE_LENGTH",
    "Batch",
    "check_batch",
    "check_run_id",
    "check_status",
    "conflicting_param",
    "current_user",
    "new_run_id",
    "random_run_name",
    "run_name_of_tag",
    "run_not_found",
]

KEY_LENGTH = 250
PARAM_VALUE_LENGTH = 6000
TAG_VALUE_LENGTH = 8000
RUN_NAME_LENGTH = 250
RUN_ID_LENGTH = 64
_KEY = re.compile(r"^[/\w.\- :]*$")


def new_run_id() -> str:
    return uuid.uuid4().hex


def current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no user name in a bare container
        return None


_ADJECTIVES = ("amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "eager",
               "gentle", "keen", "lively", "lucky", "merry", "nimble", "quiet", "rapid",
               "shy", "sly", "steady", "sunny", "swift", "tidy", "vivid", "wise")
_NOUNS = ("badger", "bee", "crane", "deer", "falcon", "finch", "fox", "gull", "hare",
          "heron", "ibis", "lark", "lynx", "mole", "newt", "otter", "owl", "panda",
          "robin", "seal", "stoat", "swan", "trout", "wren")


def random_run_name() -> str:
    """A memorable default name such as ``swift-otter-317`` (MLflow names runs alike)."""
    pick = random.SystemRandom()
    return f"{pick.choice(_ADJECTIVES)}-{pick.choice(_NOUNS)}-{pick.randrange(1000)}"


def check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not run_id or len(run_id) > RUN_ID_LENGTH:
        raise InvalidInputError(f"run id must be a non-empty string of at most "
                                f"{RUN_ID_LENGTH} characters, got {run_id!r}")
    return run_id


def run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(f"run {run_id!r} not found")


def run_name_of_tag(value: str) -> str:
    """The run name a logged ``mlflow.runName`` tag sets (cut to the name's limit)."""
    return value[:RUN_NAME_LENGTH]


def check_status(status: Any) -> RunStatus:
    try:
        return RunStatus(str(status).upper())
    except ValueError:
        raise InvalidInputError(f"run status {status!r} is not one of "
                                f"{', '.join(s.value for s in RunStatus)}") from None


def check_run_name(name: Any) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidInputError(f"run_name must be a string, got {type(name).__name__}")
    if len(name) > RUN_NAME_LENGTH:
        raise InvalidInputError(f"run_name is {len(name)} characters; the limit is "
                                f"{RUN_NAME_LENGTH}")
    return name


def check_key(key: Any, what: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"{what} key must be a non-empty string, got {key!r}")
    if len(key) > KEY_LENGTH:
        raise InvalidInputError(f"{what} key {key[:40]!r}... is {len(key)} characters; "
                                f"the limit is {KEY_LENGTH}")
    if not _KEY.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInputError(
            f"invalid {what} key {key!r}: use letters, digits, underscores, dashes, "
            "periods, spaces, colons and slashes (not a leading '/' or a '..' part)")
    return key


def _string(value: Any, limit: int, what: str, key: str) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidInputError(f"{what} {key!r} has a value of {len(text)} characters; "
                                f"the limit is {limit}")
    return text


def metric_value(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # numpy scalars are numbers.Real; strings, None and containers are not
        raise InvalidInputError(f"metric {key!r} must be a number, got {value!r}")
    return float(value)


def _int(value: Any, what: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"metric {key!r}: {what} must be an integer, got {value!r}")
    return int(value)


@dataclass
class Batch:
    """Validated metrics, params and tags to write to one run in one transaction."""

    metrics: list[Metric] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def check_batch(metrics: Iterable[Metric | tuple[Any, ...]] = (),
                params: Mapping[str, Any] | None = None,
                tags: Mapping[str, Any] | None = None) -> Batch:
    """Validate a ``log_batch``: keys, value types and sizes; ``InvalidInputError`` if bad.

    ``metrics`` holds ``Metric`` objects or ``(key, value, timestamp, step)`` tuples
    (``timestamp`` None means now, ``step`` None means 0).
    """
    batch = Batch()
    now = int(time.time() * 1000)
    for item in metrics:
        if isinstance(item, Metric):
            key, value, timestamp, step = item.key, item.value, item.timestamp, item.step
        else:
            key, value, timestamp, step = item
        check_key(key, "metric")
        batch.metrics.append(Metric(
            key, metric_value(key, value),
            now if timestamp is None else _int(timestamp, "timestamp", key),
            0 if step is None else _int(step, "step", key)))
    for key, value in (params or {}).items():
        text = _string(value, PARAM_VALUE_LENGTH, "param", check_key(key, "param"))
        if key in batch.params and batch.params[key] != text:
            raise InvalidInputError(f"param {key!r} is given twice with different values "
                                    f"({batch.params[key]!r} and {text!r})")
        batch.params[key] = text
    for key, value in (tags or {}).items():
        batch.tags[check_key(key, "tag")] = _string(value, TAG_VALUE_LENGTH, "tag", key)
    return batch


def conflicting_param(run_id: str, stored: Mapping[str, str], new: Mapping[str, str]) -> None:
    """``InvalidInputError`` if a parameter already logged would change value (as MLflow)."""
    for key, value in new.items():
        old = stored.get(key)
        if old is not None and old != value:
            raise InvalidInputError(
                f"changing param values is not allowed: param {key!r} of run {run_id!r} "
                f"was already logged with value {old!r}; attempted new value {value!r}")


def nan_to_none(value: float) -> float | None:
    """SQLite stores NaN as NULL; both SQL dialects store NULL and read it back as NaN."""
    return None if math.isnan(value) else value
