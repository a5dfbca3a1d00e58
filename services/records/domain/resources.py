"""The resource types the gateway serves, their US Core search parameters, and where in each
resource its patient, its date and its codes live. Pure data and lookups: no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

TOKEN, DATE, STRING = "token", "date", "string"


@dataclass(frozen=True)
class Param:
    kind: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class ResourceType:
    name: str
    patient_paths: tuple[str, ...]  # where the patient reference is ("" for Patient itself)
    params: dict[str, Param] = field(default_factory=dict)
    searchable: bool = True
    includes: tuple[str, ...] = ()

    @property
    def sort_param(self) -> Param | None:
        return next((p for p in self.params.values() if p.kind == DATE), None)


def _p(kind: str, *paths: str) -> Param:
    return Param(kind, paths)


_ID = {"_id": _p(TOKEN, "id")}
_EFFECTIVE = _p(DATE, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")

TYPES: dict[str, ResourceType] = {t.name: t for t in (
    ResourceType("Patient", ("",), {**_ID, "identifier": _p(TOKEN, "identifier"), "name": _p(STRING, "name"),
                                    "birthdate": _p(DATE, "birthDate"), "gender": _p(TOKEN, "gender")}),
    ResourceType("Condition", ("subject",), {**_ID, "category": _p(TOKEN, "category"), "code": _p(TOKEN, "code"),
                                             "clinical-status": _p(TOKEN, "clinicalStatus"),
                                             "onset-date": _p(DATE, "onsetDateTime", "onsetPeriod")}),
    ResourceType("MedicationRequest", ("subject",),
                 {**_ID, "status": _p(TOKEN, "status"), "intent": _p(TOKEN, "intent"),
                  "authoredon": _p(DATE, "authoredOn")},
                 includes=("MedicationRequest:medication",)),
    ResourceType("Medication", (), dict(_ID), searchable=False),
    ResourceType("Immunization", ("patient",), {**_ID, "status": _p(TOKEN, "status"),
                                                "date": _p(DATE, "occurrenceDateTime")}),
    ResourceType("AllergyIntolerance", ("patient",), {**_ID, "clinical-status": _p(TOKEN, "clinicalStatus")}),
    ResourceType("Procedure", ("subject",), {**_ID, "status": _p(TOKEN, "status"), "code": _p(TOKEN, "code"),
                                             "date": _p(DATE, "performedDateTime", "performedPeriod")}),
    ResourceType("CarePlan", ("subject",), {**_ID, "category": _p(TOKEN, "category"), "status": _p(TOKEN, "status"),
                                            "date": _p(DATE, "period")}),
    ResourceType("Observation", ("subject",), {**_ID, "category": _p(TOKEN, "category"), "code": _p(TOKEN, "code"),
                                               "status": _p(TOKEN, "status"), "date": _EFFECTIVE}),
    ResourceType("DiagnosticReport", ("subject",), {**_ID, "category": _p(TOKEN, "category"),
                                                    "code": _p(TOKEN, "code"), "status": _p(TOKEN, "status"),
                                                    "date": _EFFECTIVE}),
    ResourceType("DocumentReference", ("subject",), {**_ID, "category": _p(TOKEN, "category"),
                                                     "type": _p(TOKEN, "type"), "status": _p(TOKEN, "status"),
                                                     "date": _p(DATE, "date")}),
    ResourceType("Appointment", ("participant.actor",), {**_ID, "status": _p(TOKEN, "status"),
                                                         "date": _p(DATE, "start")}),
    ResourceType("AuditEvent", ("entity.what",), {**_ID, "date": _p(DATE, "recorded")}),
)}

# Types a patient's records come in (AuditEvent is the gateway's own log; Medication is reached
# through the patient's MedicationRequests).
CLINICAL_TYPES = tuple(name for name in TYPES if name not in ("AuditEvent",))


def values_at(resource: Any, path: str) -> Iterator[Any]:
    """Every value at a dotted *path*, stepping through lists."""
    if not path:
        yield resource
        return
    head, _, rest = path.partition(".")
    for item in resource if isinstance(resource, list) else [resource]:
        if isinstance(item, dict) and head in item:
            value = item[head]
            for leaf in value if isinstance(value, list) else [value]:
                yield from values_at(leaf, rest)


def reference_id(reference: Any, resource_type: str) -> str | None:
    """``Patient/x``, ``https://host/fhir/Patient/x`` → ``x``; anything else → None."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return None
    parts = text.split("/")
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return parts[-1]
    return None


def patient_ids(resource: dict) -> set[str]:
    """The patients a resource belongs to (its patient compartment)."""
    kind = TYPES.get(resource.get("resourceType", ""))
    if kind is None:
        return set()
    if kind.name == "Patient":
        return {resource["id"]} if isinstance(resource.get("id"), str) else set()
    found = set()
    for path in kind.patient_paths:
        for reference in values_at(resource, path):
            patient = reference_id(reference, "Patient")
            if patient:
                found.add(patient)
    return found


def belongs_to(resource: dict, resource_type: str, patient_id: str) -> bool:
    """True only when the resource is of the type asked for and in this patient's compartment alone."""
    return resource.get("resourceType") == resource_type and patient_ids(resource) == {patient_id}


def codings(value: Any) -> Iterator[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept or Identifier."""
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                yield from codings(coding)
        elif isinstance(value.get("code"), str):
            yield value.get("system"), value["code"]
        elif isinstance(value.get("value"), str):
            yield value.get("system"), value["value"]


def has_code(resource: dict, path: str, codes: set[str]) -> bool:
    return any(code in codes for value in values_at(resource, path) for _system, code in codings(value))


def medication_ids(request: dict) -> set[str]:
    return {mid for ref in values_at(request, "medicationReference") if (mid := reference_id(ref, "Medication"))}
