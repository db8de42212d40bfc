"""``spanscope server``: the library behind HTTP (REST under ``/api/``, OTLP, ``/health``).

``spanscope.server.app.create_app`` builds the ASGI app (FastAPI); ``spanscope.cli.server``
runs it with uvicorn. Needs the ``server`` extra: ``pip install 'spanscope[server]'``.
"""
