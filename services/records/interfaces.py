"""Records' ports. The gateway talks to a practice's records, its rules and the access log only
through these; the settings decide the implementations (``sources/``, ``db/repositories.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.records.domain.policy import PracticeRules


class RecordsSource(Protocol):
    """One practice's FHIR R4 records. Raises ``SourceUnavailable`` when they cannot be reached.

    The gateway checks every resource returned (type, patient compartment, the practice's rules):
    a source that returned too much would still show nothing it should not.
    """

    def patient_resources(self, practice_id: str, patient_id: str, resource_type: str) -> list[dict]:
        """Every resource of this type in the patient's compartment (a Patient: the patient itself)."""

    def resource(self, practice_id: str, resource_type: str, resource_id: str) -> dict | None:
        """One resource by id, whoever it belongs to; None when there is none."""


class PracticeDirectory(Protocol):
    def rules(self, practice_id: str) -> PracticeRules:
        """A practice's access rules (the defaults for a practice not on file)."""

    def teen_agreed(self, practice_id: str, patient_id: str) -> bool:
        """Whether this teen agreed that their proxies may see their records."""


@dataclass(frozen=True)
class AccessRecord:
    """One line of the access log: who (subject, client), for whom, what, which practice, outcome."""

    subject: str
    client_id: str
    relationship: str | None
    practice_id: str
    patient_id: str
    action: str                 # read | search
    resource_type: str | None
    resource_ids: tuple[str, ...]
    query: str | None
    outcome: str                # success or an error code
    status: int
    request_id: str | None


class AccessLog(Protocol):
    def record(self, entries: list[AccessRecord]) -> None:
        """Append, committed at once (a failed read is recorded too)."""

    def for_patient(self, practice_id: str, patient_id: str) -> list[tuple[str, datetime, AccessRecord]]:
        """(id, recorded_at, record) of the patient's accesses, newest first."""
