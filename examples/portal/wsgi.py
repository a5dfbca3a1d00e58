"""gunicorn's entry point: ``gunicorn examples.portal.wsgi:app``."""
from examples.portal.app import create_app

app = create_app()
