"""Set up and run a peer MLflow install, kept outside the repository, for comparison benchmarks.

Run ``python bench/_peer.py`` to create (or check) the peer virtualenv and print its python.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import subprocess
import sys
import tempfile

MLFLOW_VERSION = "3.17.2"
# Beside mlflow: the PostgreSQL driver SQLAlchemy 2.1 picks for MLflow's postgresql:// URIs, so
# tests can have the peer write a PostgreSQL tracking store (tests/lifecycle).
EXTRA_PACKAGES = ("psycopg[binary]",)
EXTRA_IMPORTS = "import psycopg; "


def _venv_dir() -> pathlib.Path:
    """Return the peer virtualenv directory (``$SPANSCOPE_PEER_VENV_DIR`` or the user cache)."""
    env = os.environ.get("SPANSCOPE_PEER_VENV_DIR")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".cache" / "spanscope" / "peers" / f"mlflow-{MLFLOW_VERSION}"


def _installed_version(python: pathlib.Path) -> str | None:
    """Return the mlflow version importable by ``python`` (with the extra packages), or None."""
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", f"{EXTRA_IMPORTS}import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def mlflow_python(quiet: bool = True) -> pathlib.Path | None:
    """Ensure the peer venv has mlflow==MLFLOW_VERSION and return its python, or None on failure."""
    root = _venv_dir()
    python = root / "bin" / "python"
    if _installed_version(python) == MLFLOW_VERSION:
        return python
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f"{root.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(python) == MLFLOW_VERSION:  # another process finished first
            return python
        out = subprocess.DEVNULL if quiet else None
        try:
            if not python.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", "--clear", str(root)],
                    stdout=out,
                    stderr=subprocess.PIPE,
                    text=True,
                    check=True,
                )
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    f"mlflow=={MLFLOW_VERSION}",
                    *EXTRA_PACKAGES,
                ],
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                check=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            last = detail.strip().splitlines()[-1] if detail.strip() else repr(exc)
            print(f"peer mlflow=={MLFLOW_VERSION} unavailable: {last}", file=sys.stderr)
            return None
    if _installed_version(python) != MLFLOW_VERSION:
        print(
            f"peer mlflow=={MLFLOW_VERSION} unavailable: import check failed in {root}",
            file=sys.stderr,
        )
        return None
    return python


def run_in_peer(script: pathlib.Path, *args: str, timeout: float = 1800) -> dict:
    """Run ``script`` with the peer python in a fresh temp dir and return its last-line JSON."""
    python = mlflow_python()
    if python is None:
        raise RuntimeError(f"peer mlflow=={MLFLOW_VERSION} is not available")
    with tempfile.TemporaryDirectory(prefix="spanscope-peer-") as tmp:
        env = dict(os.environ)
        env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
        proc = subprocess.run(
            [str(python), str(pathlib.Path(script).resolve()), *args],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"{script} failed (exit {proc.returncode}):\n{tail}")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"{script} printed no JSON last line: {lines[-1]!r}\n{tail}") from exc
    if not isinstance(result, dict):
        raise RuntimeError(f"{script} printed JSON that is not an object: {lines[-1]!r}")
    return result


if __name__ == "__main__":
    found = mlflow_python(quiet=False)
    if found is None:
        sys.exit(1)
    print(found)
