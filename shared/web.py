"""The base every service's ``create_app`` builds on: request ids, logging, errors, health, metrics."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from shared import json_text
from shared.database import make_engine, make_session_factory, ping
from shared.errors import install_error_handlers
from shared.health import Check, health_blueprint
from shared.logging import REQUEST_ID_HEADER, new_request_id, reset_request_id, set_request_id
from shared.messaging import broker
from shared.metrics import CountedTable, install_metrics, install_table_rows

log = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def create_base_app(service: str, import_name: str, *, checks: dict[str, Check],
                    secret_key: str, trusted_proxies: int = 0) -> Flask:
    app = Flask(import_name)
    app.json = LimitedJSONProvider(app)
    app.config.update(SECRET_KEY=secret_key, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=2 * 1024 * 1024)
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies,
                                x_host=trusted_proxies)
    _share_templates(app)
    _install_request_id(app)
    _refuse_nul_characters(app)
    install_metrics(app, service)
    install_error_handlers(app)
    app.register_blueprint(health_blueprint(checks))
    app.extensions["carekey.service"] = service
    return app


class LimitedJSONProvider(DefaultJSONProvider):
    """``request.get_json()`` parses with shared.json_text's limits: too deep a document is a
    ValueError (a 400 from Flask) rather than a RecursionError."""

    def loads(self, s, **kwargs):
        return json_text.loads(s)


def safe_request_id(incoming: str) -> str | None:
    """The caller's request id when it is safe to log and echo, else None."""
    return incoming if _SAFE_REQUEST_ID.match(incoming) else None


SHARED_TEMPLATES = Path(__file__).parent / "templates"


def _share_templates(app: Flask) -> None:
    """A service's own templates first, then the shared page layout (``carekey_layout.html``)."""
    own = app.jinja_loader
    app.jinja_loader = ChoiceLoader([loader for loader in (own, FileSystemLoader(SHARED_TEMPLATES)) if loader])


def _refuse_nul_characters(app: Flask) -> None:
    """NUL is never meaningful in our text and PostgreSQL refuses it in strings: answer 400 up front
    rather than fail deep inside a query."""
    from shared.errors import InvalidRequest

    @app.before_request
    def _check() -> None:
        values = [request.path, *_every_name_and_value(request.args)]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += _every_name_and_value(request.form)
        elif request.content_length:
            body = request.get_data(cache=True)
            if b"\x00" in body or b"\\u0000" in body.lower():
                raise InvalidRequest("Text may not contain NUL characters.")
        if any("\x00" in value for value in values):
            raise InvalidRequest("Text may not contain NUL characters.")


def _every_name_and_value(pairs) -> list[str]:
    """A MultiDict's names and all their values (a repeated name's later values too)."""
    return [text for name, values in pairs.lists() for text in (name, *values)]


def _install_request_id(app: Flask) -> None:
    @app.before_request
    def _bind_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = safe_request_id(incoming) or new_request_id()
        g._request_id_token = set_request_id(request_id)
        g.request_id = request_id

    @app.after_request
    def _echo_request_id(response):
        if getattr(g, "request_id", None):
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response

    @app.teardown_request
    def _unbind_request_id(_exc) -> None:
        token = g.pop("_request_id_token", None)
        if token is not None:
            reset_request_id(token)


def create_service_app(settings, import_name: str, *, counted_tables: Sequence[CountedTable] = ()) -> Flask:
    """A service's app with its engine and session factory attached; the service adds blueprints.
    ``counted_tables`` are the tables that grow, whose row counts /metrics shows."""
    engine = make_engine(settings.database_url)
    app = create_base_app(
        settings.service, import_name,
        checks={"database": lambda: ping(engine), "broker": lambda: broker.ping(settings.common.amqp_url)},
        secret_key=settings.secret_key, trusted_proxies=settings.trusted_proxies,
    )
    if counted_tables:
        install_table_rows(app, settings.service, engine, counted_tables)
    app.config["SESSION_COOKIE_SECURE"] = not settings.common.is_dev
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.extensions["carekey.settings"] = settings
    app.extensions["carekey.engine"] = engine
    app.extensions["carekey.sessions"] = make_session_factory(engine)
    return app
