"""Run artifacts: ``log_artifact``, ``log_dict``, ``log_text``, ``log_table``, ``load_table``.

Files go to the run's ``artifact_uri`` (a local directory beside the store, or a tracking
server's artifact routes; ``spanscope.store.artifacts.repository`` reaches either).
``log_table`` writes MLflow's table JSON,
``{"columns": [...], "data": [[...], ...]}``, and appends rows when the file exists, as
MLflow does; ``load_table`` reads such files back from one or several runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.runs.active import target_run
from spanscope.store import artifacts

if TYPE_CHECKING:
    import pandas as pd

    from spanscope.store.base import RunStore

__all__ = ["list_artifacts", "load_table", "log_artifact", "log_artifacts", "log_dict",
           "log_table", "log_text"]


def _artifact_uri(store: RunStore, run_id: str) -> str:
    uri = store.get_run(run_id).info.artifact_uri
    if not uri:
        raise NotFoundError(f"run {run_id!r} has no artifact location")
    return uri


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None, *,
                 run_id: str | None = None) -> None:
    """Copy a local file (or directory) into the run's artifacts, under ``artifact_path``."""
    store, target = target_run(run_id)
    artifacts.repository(_artifact_uri(store, target)).copy_in(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None, *,
                  run_id: str | None = None) -> None:
    """Copy the contents of a local directory into the run's artifacts."""
    source = Path(local_dir)
    if not source.is_dir():
        raise InvalidInputError(f"log_artifacts: {str(source)!r} is not a directory")
    store, target = target_run(run_id)
    repository = artifacts.repository(_artifact_uri(store, target))
    for child in sorted(source.iterdir()):
        repository.copy_in(child, artifact_path)


def _active(what: str) -> tuple[RunStore, str]:
    """The active run, for reads (which never start a run)."""
    from spanscope.runs.active import active_stack, store_of

    stack = active_stack()
    if not stack:
        raise InvalidInputError(f"{what}: no run is active; pass a run id")
    return store_of(stack[-1]), stack[-1].info.run_id


def _write(artifact_file: str, data: bytes, run_id: str | None) -> None:
    store, target = target_run(run_id)
    artifacts.repository(_artifact_uri(store, target)).write(artifact_file, data)


def log_text(text: str, artifact_file: str, *, run_id: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``artifact_file`` in the run's artifacts."""
    if not isinstance(text, str):
        raise InvalidInputError(f"log_text takes a string, got {type(text).__name__}")
    _write(artifact_file, text.encode("utf-8"), run_id)


def _is_yaml(artifact_file: str) -> bool:
    return str(artifact_file).lower().endswith((".yaml", ".yml"))


def log_dict(dictionary: Any, artifact_file: str, *, run_id: str | None = None) -> None:
    """Write a dict (or list) as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml.

    YAML needs PyYAML; without it a .yaml file is an ``InvalidInputError`` saying so.
    """
    if _is_yaml(artifact_file):
        try:
            import yaml
        except ImportError:
            raise InvalidInputError(
                f"log_dict: writing {artifact_file!r} as YAML needs PyYAML (pip install "
                "pyyaml); or give the file a .json name") from None
        text = yaml.safe_dump(_plain(dictionary), sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(_plain(dictionary), indent=2, ensure_ascii=False)
    _write(artifact_file, text.encode("utf-8"), run_id)


def _plain(value: Any) -> Any:
    """``value`` as JSON data; NaN/infinity become null (JSON has no such numbers)."""
    from spanscope.entities.dataset import NotJsonError, jsonable

    try:
        return jsonable(_no_nan(value))
    except NotJsonError as exc:
        raise InvalidInputError(f"cannot write this value as JSON: {exc}") from None


def _no_nan(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def _table(data: Any) -> tuple[list[str], list[list[Any]]]:
    """(columns, rows) of a dict of columns, a list of row dicts or a DataFrame."""
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        columns = [str(c) for c in data.columns]
        rows = [list(row) for row in data.itertuples(index=False, name=None)]
        return columns, rows
    if isinstance(data, Mapping):
        columns = [str(c) for c in data]
        values = [list(v) if isinstance(v, (list, tuple)) else [v] for v in data.values()]
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            raise InvalidInputError(f"log_table: the columns have different lengths "
                                    f"({sorted(lengths)}); every column needs one value "
                                    "per row")
        return columns, [list(row) for row in zip(*values, strict=True)]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and all(
            isinstance(row, Mapping) for row in data):
        columns = list(dict.fromkeys(str(k) for row in data for k in row))
        return columns, [[row.get(c) for c in columns] for row in data]
    raise InvalidInputError(f"log_table takes a dict of columns, a list of row dicts or a "
                            f"pandas DataFrame, got {type(data).__name__}")


def log_table(data: Any, artifact_file: str, *, run_id: str | None = None) -> None:
    """Write a table as MLflow's table JSON ``{"columns": [...], "data": [[...], ...]}``.

    ``data`` is a dict of columns, a list of row dicts or a DataFrame. If
    ``artifact_file`` already exists in the run, the rows are appended (new columns are
    added, missing cells are null), as MLflow's ``log_table`` does.
    """
    if not str(artifact_file).lower().endswith(".json"):
        raise InvalidInputError(f"log_table writes JSON; artifact_file must end in .json, "
                                f"got {artifact_file!r}")
    columns, rows = _table(data)
    store, target = target_run(run_id)
    repository = artifacts.repository(_artifact_uri(store, target))
    existing = repository.read(artifact_file)
    if existing is not None:
        old_columns, old_rows = _read_table(existing, artifact_file)
        merged = list(dict.fromkeys([*old_columns, *columns]))
        rows = ([[dict(zip(old_columns, r, strict=True)).get(c) for c in merged]
                 for r in old_rows]
                + [[dict(zip(columns, r, strict=True)).get(c) for c in merged] for r in rows])
        columns = merged
    body = {"columns": columns, "data": _plain(rows)}
    repository.write(artifact_file, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def _read_table(data: bytes, name: str) -> tuple[list[str], list[list[Any]]]:
    try:
        body = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not a table JSON file ({exc})") from None
    if not (isinstance(body, dict) and isinstance(body.get("columns"), list)
            and isinstance(body.get("data"), list)):
        raise InvalidInputError(f"{name} is not a table JSON file: expected "
                                '{"columns": [...], "data": [...]}')
    return [str(c) for c in body["columns"]], [list(r) for r in body["data"]]


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None,
               extra_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of a table logged with ``log_table``, from these runs (default: the
    active run), concatenated; ``extra_columns=["run_id"]`` adds each row's run id."""
    import pandas as pd

    from spanscope import tracking

    if run_ids is None:
        pairs = [_active("load_table")]
    else:
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        pairs = [(tracking.get_store(), r) for r in run_ids]
    frames = []
    for store, run_id in pairs:
        data = artifacts.repository(_artifact_uri(store, run_id)).read(artifact_file)
        if data is None:
            raise NotFoundError(f"run {run_id!r} has no artifact {artifact_file!r}")
        columns, rows = _read_table(data, f"artifact {artifact_file!r} of run {run_id!r}")
        frame = pd.DataFrame(rows, columns=columns)
        for extra in extra_columns or ():
            if extra != "run_id":
                raise InvalidInputError(f"unknown extra column {extra!r}; only 'run_id'")
            frame["run_id"] = run_id
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def list_artifacts(run_id: str | None = None, path: str | None = None) -> list[
        artifacts.FileInfo]:
    """The artifacts directly under ``path`` of a run (default: the active run)."""
    from spanscope import tracking

    if run_id is None:
        store, run_id = _active("list_artifacts")
    else:
        store = tracking.get_store()
    return artifacts.repository(_artifact_uri(store, run_id)).list(path)
