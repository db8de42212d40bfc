"""A remote run's artifacts, through the server's artifact routes.

A run read through ``RestStore`` has ``artifact_uri``
``http(s)://server/api/runs/<run_id>/artifacts``; ``PUT`` and ``GET`` of
``<artifact_uri>/<path>`` write and read one file as raw bytes, ``GET <artifact_uri>?path=``
lists a directory. Paths are checked here as locally (relative, no ``..``) before anything
is sent.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit

from spanscope.exceptions import InvalidInputError, NotFoundError
from spanscope.store import wire
from spanscope.store.artifacts import FileInfo, relative_path
from spanscope.store.http import HttpSession

__all__ = ["HttpArtifacts"]


class HttpArtifacts:
    """``ArtifactRepository`` over HTTP (one short-lived connection pool per use)."""

    def __init__(self, artifact_uri: str) -> None:
        parts = urlsplit(artifact_uri)
        marker = parts.path.find("/api/runs/")
        if marker < 0:
            raise InvalidInputError(f"not a Spanscope server artifact URI: {artifact_uri!r}")
        self.artifact_uri = artifact_uri.rstrip("/")
        self._server = f"{parts.scheme}://{parts.netloc}{parts.path[:marker]}"
        self._path = parts.path[marker:].rstrip("/")

    def _url(self, artifact_file: str, what: str) -> str:
        relative = relative_path(artifact_file, what)
        if not relative.parts:
            raise InvalidInputError(f"{what} must name a file, e.g. 'results/table.json'")
        return self._path + "/" + "/".join(quote(p, safe="") for p in relative.parts)

    def write(self, artifact_file: str, data: bytes) -> None:
        url = self._url(artifact_file, "artifact_file")
        with _session(self._server) as http:
            http.request("PUT", url, content=data,
                         headers={"Content-Type": "application/octet-stream"})

    def read(self, artifact_file: str) -> bytes | None:
        url = self._url(artifact_file, "artifact_file")
        with _session(self._server) as http:
            try:
                return http.request("GET", url).content
            except NotFoundError:
                return None

    def copy_in(self, local_path: str | os.PathLike[str],
                artifact_path: str | None = None) -> None:
        source = Path(local_path)
        if not source.exists():
            raise InvalidInputError(f"log_artifact: {str(source)!r} does not exist")
        base = relative_path(artifact_path)
        files = ([source] if source.is_file()
                 else sorted(p for p in source.rglob("*") if p.is_file()))
        for file in files:
            inside = (Path(source.name) if file == source
                      else Path(source.name) / file.relative_to(source))
            self.write((base / inside.as_posix()).as_posix(), file.read_bytes())

    def list(self, path: str | None = None) -> list[FileInfo]:
        relative = relative_path(path)
        params = {"path": relative.as_posix()} if relative.parts else None
        with _session(self._server) as http:
            body = http.json("GET", self._path, params=params)
        return wire.decode(list[FileInfo], (body or {}).get("files") or [], "files")


class _session:
    """An ``HttpSession`` closed on exit."""

    def __init__(self, server: str) -> None:
        self._http = HttpSession(server)

    def __enter__(self) -> HttpSession:
        return self._http

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()
