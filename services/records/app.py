"""Records' app factory: the only wiring point."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from flask import Flask
from flask.sessions import SessionInterface

from services.records import settings as records_settings
from services.records.db.connections import ScopedConnections
from services.records.db.models import outbox
from services.records.db.repositories import SqlAccessLog, SqlPracticeDirectory
from services.records.domain.access import Access
from services.records.domain.auditing import Auditor
from services.records.domain.cache import TtlCache
from services.records.domain.capability import capability_statement
from services.records.domain.cursor import CursorCodec
from services.records.domain.gateway import Gateway
from services.records.domain.records import PatientRecords
from services.records.sources import Sources, build_sources
from services.records.web import everywhere, fhir, metadata
from services.records.web.context import FhirIdConverter, FhirTypeConverter
from shared.database import single_statements
from shared.logging import configure_logging, get_request_id
from shared.metrics import outbox_rows
from shared.tokens import AccessTokenVerifier, Introspector, JwksCache, introspection_url, jwks_url
from shared.web import create_service_app


@dataclass
class RecordsServices:
    settings: records_settings.RecordsSettings
    verifier: AccessTokenVerifier
    sources: Sources
    cache: TtlCache
    gateway: Gateway
    capability: dict
    connections: ScopedConnections


def create_app(settings: records_settings.RecordsSettings | None = None) -> Flask:
    if settings is None:
        settings = records_settings.load()
        configure_logging(settings.service, level=settings.common.log_level, json=settings.common.log_json)
    app = create_service_app(settings, __name__, counted_tables=[outbox_rows(outbox)])
    app.session_interface = NoSessions()
    app.url_map.converters.update(fhir_type=FhirTypeConverter, fhir_id=FhirIdConverter)
    services = app.extensions["carekey.records"] = build_services(settings, app.extensions["carekey.sessions"])
    app.before_request(services.connections.open_scope)  # a request's statements share one connection
    app.teardown_request(lambda _exc: services.connections.close_scope())
    for blueprint in (metadata.bp, everywhere.bp, fhir.bp):
        app.register_blueprint(blueprint)
    return app


class NoSessions(SessionInterface):
    """Records answers bearer tokens only: no cookie session to look for, verify or sign on a request."""

    def open_session(self, app, request):
        return None  # Flask then uses a null session, which refuses to be written

    def save_session(self, app, session, response) -> None:
        return None


def build_services(settings: records_settings.RecordsSettings, sessions) -> RecordsServices:
    reach = settings.identity_internal_url or settings.identity_issuer  # keys and introspection, server to server
    introspector = (Introspector(introspection_url(reach), settings.introspect_client_id,
                                 settings.introspect_client_secret) if settings.introspect else None)
    verifier = AccessTokenVerifier(issuer=settings.identity_issuer, audience=settings.audience,
                                   keys=JwksCache(jwks_url(reach),
                                                  min_refresh=settings.jwks_min_refresh),
                                   leeway=settings.token_leeway, introspector=introspector)
    connections = ScopedConnections(single_statements(sessions).kw["bind"])
    log = SqlAccessLog(sessions, connections)
    sources = build_sources(settings, sessions, log)
    cache = TtlCache(settings.cache_seconds)
    gateway = Gateway(Access(sources, SqlPracticeDirectory(sessions, connections), cache),
                      PatientRecords(sources, cache),
                      Auditor(log, get_request_id), CursorCodec(settings.secret_key), page_size=settings.page_size)
    capability = capability_statement(base_url=settings.public_url, issuer=settings.identity_issuer,
                                      date=datetime.now(timezone.utc).date().isoformat())
    return RecordsServices(settings, verifier, sources, cache, gateway, capability, connections)
