"""``python -m examples.portal``: the portal on the development server (``PORT``, default 8101)."""
from __future__ import annotations

import logging

from werkzeug.serving import run_simple

from examples.portal.app import create_app


def main() -> None:
    app = create_app()
    settings = app.extensions["portal"].settings
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request: `make run` stays readable
    print(f"{settings.name} portal listening on http://{settings.host}:{settings.port}", flush=True)
    run_simple(settings.host, settings.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
