"""The web UI: server-rendered pages over the same store and analysis the REST API uses.

``install_ui(app)`` adds the pages (``pages.router``; the overview in ``overview.router``;
datasets and evaluations in ``evaluation.router``) and the static assets (CSS, a small
script, and htmx vendored from the npm registry: ``static/htmx.min.js``, 0BSD licence
beside it), so the UI works offline and needs no Node.js to install or run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["STATIC_DIR", "install_ui"]

STATIC_DIR = Path(__file__).parent / "static"


def install_ui(app: FastAPI) -> None:
    from starlette.staticfiles import StaticFiles

    from spanscope.server.ui import evaluation, overview, pages

    app.include_router(pages.router)
    app.include_router(overview.router)
    app.include_router(evaluation.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
