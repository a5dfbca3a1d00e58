"""Identity's app factory: the only wiring point."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

from services.identity import settings as identity_settings
from services.identity.db.models import outbox
from services.identity.domain.devices import DeviceCookies
from services.identity.domain.keys import KeyEncryptor, KeyRing
from services.identity.domain.sessions import Timeouts
from services.identity.domain.throttle import Limits
from services.identity.oauth.client_cache import ClientCache
from services.identity.oauth.runtime import Runtime
from services.identity.oauth.server import CareKeyAuthorizationServer, build_server
from services.identity.web import (account, admin_api, authorize, context, discovery, handoff, interaction,
                                   internal_api, logout, oauth_requests, recovery, security, token, userinfo)
from services.identity.web.discovery import metadata
from shared.database import make_engine, make_session_factory
from shared.logging import configure_logging
from shared.metrics import outbox_rows
from shared.web import create_service_app


@dataclass
class IdentityServices:
    settings: identity_settings.IdentitySettings
    keyring: KeyRing
    server: CareKeyAuthorizationServer
    timeouts: Timeouts
    discovery: dict
    limits: Limits
    encryptor: KeyEncryptor
    device_cookies: DeviceCookies


def create_app(settings: identity_settings.IdentitySettings | None = None) -> Flask:
    if settings is None:
        settings = identity_settings.load()
        configure_logging(settings.service, level=settings.common.log_level, json=settings.common.log_json)
    if settings.common.is_dev and settings.issuer.startswith("http://"):
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # dev only: the issuer is plain http on loopback
    app = create_service_app(settings, __name__, counted_tables=[outbox_rows(outbox)])
    for practice, rules in settings.password_policy_overrides.items():
        app.logger.warning("PASSWORD POLICY OVERRIDE: practice %s uses the legacy %s rules, weaker than "
                           "NIST SP 800-63B; remove IDENTITY_PASSWORD_POLICY_OVERRIDES once it has migrated",
                           practice, rules)
    app.config.update(SESSION_COOKIE_NAME="carekey_ui", SESSION_COOKIE_HTTPONLY=True)
    context.install(app)
    oauth_requests.install(app)
    if app.extensions["carekey.engine"].dialect.name == "postgresql":  # see context.counters
        counting = make_engine(settings.database_url, pool_size=1)  # short transactions: one connection, two spare
        app.extensions["carekey.counter_sessions"] = make_session_factory(counting)
    keyring = KeyRing(app.extensions["carekey.sessions"], settings.key_encryption_key,
                      retire_after=timedelta(seconds=max(settings.access_token_ttl, settings.id_token_ttl) + 300))
    runtime = Runtime(settings=settings, keyring=keyring, db=context.db, client_ip=context.client_ip,
                      authorization=lambda: _authorization_context(),
                      clients=ClientCache(app.extensions["carekey.engine"]))
    server = build_server(app, runtime, f"{settings.issuer}/token")
    app.extensions["carekey.identity"] = IdentityServices(
        settings=settings, keyring=keyring, server=server,
        timeouts=Timeouts(idle=timedelta(seconds=settings.session_idle),
                          absolute=timedelta(seconds=settings.session_absolute)),
        discovery=metadata(settings.issuer),
        limits=Limits(pair_threshold=settings.lockout_threshold, pair_lock=timedelta(minutes=settings.lockout_minutes),
                      account_ceiling=settings.account_failure_ceiling, ip_threshold=settings.ip_failures_per_window),
        encryptor=KeyEncryptor(settings.key_encryption_key),
        device_cookies=DeviceCookies(settings.secret_key))
    @app.before_request
    def _first_start_keys() -> None:
        # Generated at first start, before any request opens a transaction; a database that is
        # not reachable yet is retried on the next request (readiness reports it meanwhile).
        if not keyring.ready:
            try:
                keyring.ensure()
            except Exception:
                app.logger.warning("signing keys not ready yet", exc_info=True)

    for blueprint in (discovery.bp, authorize.bp, interaction.bp, token.bp, userinfo.bp, logout.bp,
                      account.bp, security.bp, recovery.bp, admin_api.bp, internal_api.bp, handoff.bp):
        app.register_blueprint(blueprint)
    app.wsgi_app = discovery.WellKnownMiddleware(app.wsgi_app, service=settings.service, issuer=settings.issuer,
                                                  discovery=app.extensions["carekey.identity"].discovery,
                                                  keyring=keyring)
    return app


def _authorization_context():
    from flask import g
    return g.get("authz_context")
