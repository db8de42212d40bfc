"""Experiments: the Default one, creating, finding and listing, ids as strings."""

from __future__ import annotations

import time

import pytest

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store.sql import SqlStore


def test_default_experiment_exists(store: SqlStore) -> None:
    default = store.get_experiment("0")
    assert (default.experiment_id, default.name) == ("0", "Default")
    assert store.get_experiment_by_name("Default") == default
    assert store.list_experiments() == [default]


def test_create_get_list(store: SqlStore) -> None:
    before = int(time.time() * 1000)
    first = store.create_experiment("first")
    second = store.create_experiment("second 🚀")
    # The explicit id 0 of Default must not break the sequence: ids continue at 1.
    assert (first, second) == ("1", "2")
    got = store.get_experiment(first)
    assert got.name == "first" and got.experiment_id == "1"
    assert before <= got.creation_time <= int(time.time() * 1000)
    assert store.get_experiment_by_name("second 🚀").experiment_id == "2"
    assert store.get_experiment_by_name("missing") is None
    assert [e.name for e in store.list_experiments()] == ["Default", "first", "second 🚀"]


def test_duplicate_name_is_invalid_input(store: SqlStore) -> None:
    store.create_experiment("dup")
    with pytest.raises(InvalidInputError, match="experiment 'dup' already exists"):
        store.create_experiment("dup")
    with pytest.raises(InvalidInputError, match="already exists"):
        store.create_experiment("Default")


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 257])
def test_bad_names(store: SqlStore, name: object) -> None:
    with pytest.raises(InvalidInputError, match="experiment name"):
        store.create_experiment(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("experiment_id", ["42", "abc", "", "-1"])
def test_unknown_experiment_is_not_found(store: SqlStore, experiment_id: str) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        store.get_experiment(experiment_id)
