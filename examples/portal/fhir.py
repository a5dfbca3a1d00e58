"""FHIR R4 resources as the rows a patient reads on the dashboard. Pure: no I/O, no Flask."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

PRACTICE_TAG = "https://carekey.example/practice"


@dataclass(frozen=True)
class Row:
    title: str
    detail: str
    when: str          # as shown
    sort_key: str      # ISO date, for ordering
    status: str
    practice: str      # practice id
    patient: str       # patient id at that practice
    kind: str          # resource type


def practice_of(resource: dict) -> str | None:
    for tag in (resource.get("meta") or {}).get("tag") or []:
        if isinstance(tag, dict) and tag.get("system") == PRACTICE_TAG and isinstance(tag.get("code"), str):
            return tag["code"]
    return None


def patient_of(resource: dict) -> str | None:
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    for name in ("subject", "patient"):
        reference = (resource.get(name) or {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference.split("/", 1)[1]
    for participant in resource.get("participant") or []:
        reference = (participant.get("actor") or {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference.split("/", 1)[1]
    return None


def concept_text(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if value.get("text"):
        return str(value["text"])
    for coding in value.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def human_date(value: str | None) -> str:
    """``2025-09-14`` or a dateTime as ``Sep 14, 2025``; partial dates as given (``2025-09`` → ``Sep 2025``)."""
    if not value:
        return ""
    try:
        if len(value) == 4:
            return value
        if len(value) == 7:
            return datetime.strptime(value, "%Y-%m").strftime("%b %Y")
        day = date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{day.strftime('%b')} {day.day}, {day.year}"


def person_name(patient: dict) -> str:
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or []), name.get("family") or ""]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return "Patient"


def _quantity(value: dict) -> str:
    amount = value.get("value")
    unit = value.get("unit") or value.get("code") or ""
    if amount is None:
        return ""
    return f"{amount:g} {unit}".strip() if isinstance(amount, (int, float)) else f"{amount} {unit}".strip()


def _observation_value(resource: dict) -> str:
    if isinstance(resource.get("valueQuantity"), dict):
        return _quantity(resource["valueQuantity"])
    if resource.get("valueString"):
        return str(resource["valueString"])
    if isinstance(resource.get("valueCodeableConcept"), dict):
        return concept_text(resource["valueCodeableConcept"])
    parts = []
    for component in resource.get("component") or []:
        if isinstance(component.get("valueQuantity"), dict):
            parts.append(f"{concept_text(component.get('code'))}: {_quantity(component['valueQuantity'])}")
    return "; ".join(parts)


APPOINTMENT_STATUS = {"booked": "Upcoming", "fulfilled": "Attended", "cancelled": "Cancelled", "noshow": "Missed",
                      "pending": "Requested", "proposed": "Requested", "arrived": "Checked in"}


def row(resource: dict, medications: dict[tuple[str, str], dict] | None = None) -> Row | None:
    """The dashboard row for a resource, or None for a type the dashboard does not show."""
    kind = resource.get("resourceType")
    practice = practice_of(resource) or ""
    patient = patient_of(resource) or ""
    title = detail = status = ""
    when = ""
    if kind == "Condition":
        title = concept_text(resource.get("code"))
        status = concept_text(resource.get("clinicalStatus"))
        when = resource.get("onsetDateTime") or resource.get("recordedDate") or ""
        detail = f"Since {human_date(when)}" if when else ""
    elif kind == "MedicationRequest":
        title = concept_text(resource.get("medicationCodeableConcept"))
        reference = resource.get("medicationReference") or {}
        if not title and reference:
            included = (medications or {}).get((practice, reference.get("reference", "").split("/")[-1]))
            title = concept_text((included or {}).get("code")) or reference.get("display", "")
        detail = "; ".join(str(d.get("text")) for d in resource.get("dosageInstruction") or [] if d.get("text"))
        status = str(resource.get("status") or "").capitalize()
        when = resource.get("authoredOn") or ""
    elif kind == "Immunization":
        title = concept_text(resource.get("vaccineCode"))
        status = str(resource.get("status") or "").capitalize()
        when = resource.get("occurrenceDateTime") or ""
        detail = f"Given {human_date(when)}" if when else ""
    elif kind == "AllergyIntolerance":
        title = concept_text(resource.get("code"))
        reactions = [concept_text(m) for r in resource.get("reaction") or [] for m in r.get("manifestation") or []]
        detail = f"Reaction: {', '.join(r for r in reactions if r)}" if any(reactions) else ""
        status = concept_text(resource.get("clinicalStatus"))
        when = resource.get("recordedDate") or resource.get("onsetDateTime") or ""
    elif kind == "Procedure":
        title = concept_text(resource.get("code"))
        status = str(resource.get("status") or "").capitalize()
        when = resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get("start") or ""
    elif kind == "CarePlan":
        title = resource.get("title") or resource.get("description") or "Care plan"
        detail = resource.get("description") if resource.get("title") else ""
        status = str(resource.get("status") or "").capitalize()
        when = (resource.get("period") or {}).get("start") or ""
    elif kind == "Observation":
        title = concept_text(resource.get("code"))
        detail = _observation_value(resource)
        status = str(resource.get("status") or "").capitalize()
        when = resource.get("effectiveDateTime") or resource.get("issued") or ""
    elif kind == "DiagnosticReport":
        title = concept_text(resource.get("code"))
        results = len(resource.get("result") or [])
        detail = f"{results} result{'s' if results != 1 else ''}" if results else ""
        status = str(resource.get("status") or "").capitalize()
        when = resource.get("effectiveDateTime") or resource.get("issued") or ""
    elif kind == "Appointment":
        title = resource.get("description") or concept_text((resource.get("serviceType") or [{}])[0]) or "Appointment"
        status = APPOINTMENT_STATUS.get(resource.get("status"), str(resource.get("status") or "").capitalize())
        when = resource.get("start") or ""
        detail = _appointment_time(when)
    else:
        return None
    return Row(title=title or "Unnamed record", detail=detail or "", when=human_date(when), sort_key=when[:10],
               status=status, practice=practice, patient=patient, kind=kind)


def _appointment_time(start: str) -> str:
    try:
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        return ""
    hour = moment.strftime("%I:%M %p").lstrip("0")
    zone = " UTC" if moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0 else ""
    return f"{human_date(start)} at {hour}{zone}"


def age_on(birth_date: str | None, today: date) -> int | None:
    try:
        born = date.fromisoformat(birth_date or "")
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
