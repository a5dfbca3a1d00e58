"""A judged patient's records at one practice, as the practice lets them out: every resource of
the type asked for, in that patient's compartment alone, and :func:`policy.visible`. Source
answers are cached briefly per practice, patient and type (never the access log)."""
from __future__ import annotations

from typing import NamedTuple

from services.records.domain.access import Target
from services.records.domain.cache import TtlCache
from services.records.domain.policy import release_facts, shown, visible
from services.records.domain.resources import TYPES, ResourceType, belongs_to, medication_ids
from services.records.domain.search import sort_key

UNCACHED_TYPES = {"AuditEvent"}   # the log must show the latest accesses
LIST_READ_TYPES = {"AuditEvent"}  # found only among the patient's own


class Ranked(NamedTuple):
    """A visible resource with its place in the type's search order (:func:`search.sort_key`)."""

    order: tuple
    resource: dict


def _checked(found: list, kind: ResourceType, patient_id: str) -> list[tuple]:
    """What a source returned, checked once: of this type with an id, in this patient's compartment
    alone; with its search order and :func:`policy.release_facts`, none of which depends on who
    asks or on the practice's rules (those are applied on every request: :func:`policy.shown`)."""
    return [(sort_key(r, kind), *release_facts(r), r) for r in found
            if isinstance(r, dict) and isinstance(r.get("id"), str) and belongs_to(r, kind.name, patient_id)]


class PatientRecords:
    def __init__(self, sources, cache: TtlCache) -> None:
        self.sources, self.cache = sources, cache

    def ranked(self, target: Target, kind: ResourceType) -> list[Ranked]:
        """Every resource of the type the practice lets out, each with its search order."""
        source = self.sources.for_practice(target.practice, kind.name)

        def load() -> list[tuple]:
            return _checked(source.patient_resources(target.practice, target.patient, kind.name), kind,
                            target.patient)

        found = load() if kind.name in UNCACHED_TYPES else \
            self.cache.get_or_load(target.practice, target.patient, (kind.name, "search"), load)
        return [Ranked(order, r) for order, note, held, r in found if shown(note, held, target.rules)]

    def all_of(self, target: Target, kind: ResourceType) -> list[dict]:
        return [r for _order, r in self.ranked(target, kind)]

    def one(self, target: Target, kind: ResourceType, resource_id: str) -> dict | None:
        if kind.name in LIST_READ_TYPES:
            return next((r for r in self.all_of(target, kind) if r["id"] == resource_id), None)
        if kind.name == "Medication" and resource_id not in self.prescribed(target):
            return None
        source = self.sources.for_practice(target.practice, kind.name)
        resource = self.cache.get_or_load(target.practice, target.patient, (kind.name, "read", resource_id),
                                          lambda: source.resource(target.practice, kind.name, resource_id))
        if not isinstance(resource, dict) or resource.get("id") != resource_id:
            return None
        if kind.name == "Medication":
            return resource if resource.get("resourceType") == "Medication" else None
        if not belongs_to(resource, kind.name, target.patient) or not visible(resource, target.rules):
            return None
        return resource

    def prescribed(self, target: Target) -> set[str]:
        """The Medications this patient's (visible) MedicationRequests name."""
        return {mid for request in self.all_of(target, TYPES["MedicationRequest"]) for mid in medication_ids(request)}
