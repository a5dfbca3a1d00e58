"""Where each practice's records come from: its FHIR server when ``RECORDS_FHIR_SOURCES`` names
one, otherwise the built-in store; the patient's AuditEvents come from the gateway's own log."""
from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from services.records.interfaces import AccessLog, RecordsSource
from services.records.sources.audit_log import AuditSource
from services.records.sources.fhir_server import FhirServerSource
from services.records.sources.store import StoreSource


class Sources:
    def __init__(self, store: RecordsSource, servers: dict[str, RecordsSource], audit: RecordsSource) -> None:
        self.store, self.servers, self.audit = store, servers, audit

    def for_practice(self, practice_id: str, resource_type: str) -> RecordsSource:
        if resource_type == "AuditEvent":
            return self.audit
        return self.servers.get(practice_id, self.store)


def build_sources(settings, sessions: sessionmaker[Session], log: AccessLog) -> Sources:
    servers = {practice: FhirServerSource(practice, config, timeout=settings.source_timeout,
                                          retries=settings.source_retries, fail_max=settings.breaker_fail_max,
                                          reset_seconds=settings.breaker_reset_seconds)
               for practice, config in settings.fhir_sources.items()}
    return Sources(StoreSource(sessions), servers, AuditSource(log))
