"""``python -m examples.portal``: the portal on the development server (``PORT``, default 8101)."""
from __future__ import annotations

from werkzeug.serving import run_simple

from examples.portal.app import create_app


def main() -> None:
    app = create_app()
    settings = app.extensions["portal"].settings
    run_simple(settings.host, settings.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
