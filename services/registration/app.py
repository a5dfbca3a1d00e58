"""Registration's app factory: the only wiring point."""
from __future__ import annotations

from flask import Flask

from services.registration import settings as registration_settings
from services.registration.db.models import outbox
from services.registration.identity_client import HttpIdentityAccounts
from services.registration.interfaces import IdentityAccounts
from services.registration.settings import RegistrationSettings
from services.registration.web import (api, context, finish_pages, match_api, oidc, openapi, proof_pages,  # noqa: F401
                                       proxy_pages, start_pages)
from services.registration.web.flow import bp as pages_bp
from shared.logging import configure_logging
from shared.metrics import outbox_rows
from shared.tokens import AccessTokenVerifier, JwksCache, jwks_url
from shared.web import create_service_app


def create_app(settings: RegistrationSettings | None = None, *, identity: IdentityAccounts | None = None) -> Flask:
    if settings is None:
        settings = registration_settings.load()
        configure_logging(settings.service, level=settings.common.log_level, json=settings.common.log_json)
    app = create_service_app(settings, __name__, counted_tables=[outbox_rows(outbox)])
    app.config.update(SESSION_COOKIE_NAME="carekey_registration", SESSION_COOKIE_HTTPONLY=True,
                      PERMANENT_SESSION_LIFETIME=3600)
    verifier = AccessTokenVerifier(issuer=settings.identity_issuer, audience=settings.audience,
                                   keys=JwksCache(jwks_url(settings.identity_reach)))
    app.extensions["carekey.registration"] = context.RegistrationServices(
        settings=settings, verifier=verifier,
        identity=identity or HttpIdentityAccounts(settings.identity_reach, settings.client_id, settings.client_secret,
                                                  timeout=settings.identity_timeout))
    context.install(app)
    oidc.install(app, settings)
    for blueprint in (pages_bp, oidc.bp, api.bp, match_api.bp, openapi.bp):
        app.register_blueprint(blueprint)
    return app
