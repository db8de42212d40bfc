"""Run artifacts on the local filesystem, in an artifact root beside the store.

Where the root is, first match wins:

1. ``$SPANSCOPE_ARTIFACT_ROOT`` (a directory path or a ``file://`` URI);
2. for a SQLite file store ``sqlite:////dir/x.db``: ``/dir/spanscope-artifacts``;
3. otherwise (PostgreSQL, in-memory stores): ``./spanscope-artifacts`` in the working
   directory at the time the run is created.

A run's artifacts live in ``<root>/<experiment_id>/<run_id>/artifacts`` and its
``artifact_uri`` is that directory as a ``file://`` URI, fixed when the run is created.
Artifact paths inside a run are relative and may not climb out of it (``..``).

``repository(artifact_uri)`` is how callers reach a run's artifacts whatever their
location: a ``file://`` directory (the functions of this module) or, for a run of a remote
tracking server, ``http(s)://server/api/runs/<id>/artifacts`` (``store/http_artifacts.py``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from spanscope.exceptions import InvalidInputError, NotFoundError

__all__ = [
    "ARTIFACT_ROOT_ENV",
    "ArtifactRepository",
    "FileInfo",
    "LocalArtifacts",
    "artifact_dir",
    "artifact_root",
    "list_artifacts",
    "read_artifact",
    "repository",
    "resolve_artifact",
    "run_artifact_uri",
]

ARTIFACT_ROOT_ENV = "SPANSCOPE_ARTIFACT_ROOT"
DIR_NAME = "spanscope-artifacts"


def _sqlite_file(store_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and ``:memory:``."""
    scheme, sep, rest = store_uri.partition(":///")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    path = unquote(rest.split("?", 1)[0])
    if path in ("", ":memory:"):
        return None
    return Path(os.path.abspath(os.path.expanduser(path)))


def _path_of(location: str) -> Path:
    if location.startswith("file:"):
        parsed = urlparse(location)
        return Path(url2pathname(unquote(parsed.path)))
    return Path(os.path.abspath(os.path.expanduser(location)))


def artifact_root(store_uri: str) -> Path:
    """The artifact root for runs of the store at ``store_uri`` (see the module doc)."""
    configured = os.environ.get(ARTIFACT_ROOT_ENV)
    if configured:
        return _path_of(configured)
    database = _sqlite_file(store_uri)
    if database is not None:
        return database.parent / DIR_NAME
    return Path.cwd() / DIR_NAME


def run_artifact_uri(store_uri: str, experiment_id: str, run_id: str) -> str:
    return (artifact_root(store_uri) / str(experiment_id) / run_id / "artifacts").as_uri()


def artifact_dir(artifact_uri: str) -> Path:
    """The local directory of a run's ``artifact_uri``."""
    if not artifact_uri.startswith("file:") and "://" in artifact_uri:
        raise InvalidInputError(f"artifact URI {artifact_uri!r} is not local; only file:// "
                                "artifact locations are supported")
    return _path_of(artifact_uri)


def relative_path(artifact_path: str | None, what: str = "artifact path") -> PurePosixPath:
    """``artifact_path`` checked to stay inside the run's artifacts."""
    return _relative(artifact_path, what)


def _relative(artifact_path: str | None, what: str) -> PurePosixPath:
    text = "" if artifact_path is None else str(artifact_path).replace("\\", "/")
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        raise InvalidInputError(f"{what} {artifact_path!r} must be a relative path inside the "
                                "run's artifacts (no leading '/', no '..')")
    return path


def resolve_artifact(artifact_uri: str, artifact_path: str | None, *,
                     what: str = "artifact path") -> Path:
    """The local path of ``artifact_path`` inside the run's artifact directory."""
    return artifact_dir(artifact_uri).joinpath(*_relative(artifact_path, what).parts)


def copy_in(artifact_uri: str, local_path: str | os.PathLike[str],
            artifact_path: str | None = None) -> Path:
    """Copy a file or directory into the run's artifacts (under ``artifact_path``)."""
    source = Path(local_path)
    if not source.exists():
        raise InvalidInputError(f"log_artifact: {str(source)!r} does not exist")
    target_dir = resolve_artifact(artifact_uri, artifact_path)
    target = target_dir / source.name
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return target


def write_artifact(artifact_uri: str, artifact_file: str, data: bytes) -> Path:
    """Write ``data`` to ``artifact_file`` (a relative file path) in the run's artifacts."""
    target = resolve_artifact(artifact_uri, artifact_file, what="artifact_file")
    if target == artifact_dir(artifact_uri):
        raise InvalidInputError("artifact_file must name a file, e.g. 'results/table.json'")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # readers never see half a file
    return target


@dataclass(frozen=True)
class FileInfo:
    """An artifact as MLflow lists them: relative ``path``, ``is_dir``, ``file_size``."""

    path: str
    is_dir: bool
    file_size: int | None


def list_artifacts(artifact_uri: str, path: str | None = None) -> list[FileInfo]:
    """Files and directories directly under ``path`` (default: the top), sorted by path."""
    base = artifact_dir(artifact_uri)
    where = resolve_artifact(artifact_uri, path)
    if not where.exists():
        if path:
            raise NotFoundError(f"no artifact {path!r} in {artifact_uri}")
        return []
    if where.is_file():
        return [FileInfo(where.relative_to(base).as_posix(), False, where.stat().st_size)]
    found = []
    for child in sorted(where.iterdir()):
        if child.name.startswith(".") and ".tmp-" in child.name:
            continue
        relative = child.relative_to(base).as_posix()
        found.append(FileInfo(relative, child.is_dir(),
                              None if child.is_dir() else child.stat().st_size))
    return found


def read_artifact(artifact_uri: str, artifact_file: str) -> bytes | None:
    """The bytes of ``artifact_file`` in the run's artifacts, None if there is no such file."""
    path = resolve_artifact(artifact_uri, artifact_file, what="artifact_file")
    return path.read_bytes() if path.is_file() else None


class ArtifactRepository(Protocol):
    """A run's artifacts, wherever they are kept."""

    def write(self, artifact_file: str, data: bytes) -> None: ...

    def read(self, artifact_file: str) -> bytes | None: ...

    def copy_in(self, local_path: str | os.PathLike[str],
                artifact_path: str | None = None) -> None: ...

    def list(self, path: str | None = None) -> list[FileInfo]: ...


@dataclass(frozen=True)
class LocalArtifacts:
    """Artifacts in a local directory (a ``file://`` artifact URI)."""

    artifact_uri: str

    def write(self, artifact_file: str, data: bytes) -> None:
        write_artifact(self.artifact_uri, artifact_file, data)

    def read(self, artifact_file: str) -> bytes | None:
        return read_artifact(self.artifact_uri, artifact_file)

    def copy_in(self, local_path: str | os.PathLike[str],
                artifact_path: str | None = None) -> None:
        copy_in(self.artifact_uri, local_path, artifact_path)

    def list(self, path: str | None = None) -> list[FileInfo]:
        return list_artifacts(self.artifact_uri, path)


def repository(artifact_uri: str) -> ArtifactRepository:
    """The artifacts at ``artifact_uri``: local for ``file://`` and paths, over HTTP for a
    run of a tracking server."""
    scheme = artifact_uri.split("://", 1)[0].lower() if "://" in artifact_uri else ""
    if scheme in ("http", "https"):
        from spanscope.store.http_artifacts import HttpArtifacts

        return HttpArtifacts(artifact_uri)
    return LocalArtifacts(artifact_uri)
