"""The gateway's own access log served as the patient's AuditEvents, through the same port as
a practice's records (so the same patient checks, scopes and paging apply)."""
from __future__ import annotations

from services.records.domain.audit import audit_event
from services.records.interfaces import AccessLog


class AuditSource:
    def __init__(self, log: AccessLog) -> None:
        self.log = log

    def patient_resources(self, practice_id: str, patient_id: str, resource_type: str) -> list[dict]:
        if resource_type != "AuditEvent":
            return []
        return [audit_event(event_id, at, record) for event_id, at, record in self.log.for_patient(practice_id, patient_id)]

    def resource(self, practice_id: str, resource_type: str, resource_id: str) -> dict | None:
        return None  # reads go through the patient's list: an AuditEvent is found only among one's own
