"""The practice portal's app factory: the only wiring point.

A small patient portal for one practice that delegates sign-in to CareKey (OpenID Connect) and
reads the patient's records from CareKey's records gateway. Run it with
``python -m examples.portal`` (development server) or ``gunicorn examples.portal.wsgi:app``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask

from examples.portal import csrf
from examples.portal.oidc import CareKeyClient
from examples.portal.records import RecordsClient
from examples.portal.settings import PortalSettings
from examples.portal.store import SessionStore
from examples.portal.web import auth, errors, pages


@dataclass
class Portal:
    settings: PortalSettings
    carekey: CareKeyClient
    records: RecordsClient
    store: SessionStore


def create_app(settings: PortalSettings | None = None) -> Flask:
    if settings is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s portal %(levelname)s %(name)s: %(message)s")
        settings = PortalSettings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # one cookie per portal: browsers share cookies between ports of one host (127.0.0.1)
        SESSION_COOKIE_NAME=f"portal_{settings.practice_id}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    store = SessionStore(settings.database_url, lifetime_seconds=settings.session_hours * 3600)
    store.create_tables()
    app.extensions["portal"] = Portal(settings=settings, carekey=CareKeyClient(app, settings),
                                      records=RecordsClient(settings.records_url), store=store)
    app.jinja_env.globals.update(csrf_token=csrf.token, portal=settings)
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    errors.install(app)
    return app
