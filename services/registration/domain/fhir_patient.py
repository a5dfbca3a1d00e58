"""The part of a FHIR R4 Patient (US Core shape) that rosters and ``$match`` read, and its JSON types
checked before anything reads it: a number where a list belongs, a string where an object belongs,
anywhere in the resource, is a problem naming the field (``name[0].given: Not a valid list.``)."""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate


def _text() -> fields.String:
    return fields.String(allow_none=True)


def _list(item: fields.Field) -> fields.List:
    return fields.List(item, allow_none=True)


class _Element(Schema):
    class Meta:
        unknown = EXCLUDE  # only what we read is checked; the rest of the resource is passed over


class Coding(_Element):
    system = _text()
    code = _text()


class CodeableConcept(_Element):
    coding = _list(fields.Nested(Coding))


class Identifier(_Element):
    type = fields.Nested(CodeableConcept, allow_none=True)
    value = _text()


class HumanName(_Element):
    use = _text()
    family = _text()
    given = _list(_text())


class Address(_Element):
    use = _text()
    line = _list(_text())
    city = _text()
    state = _text()
    postalCode = _text()


class ContactPoint(_Element):
    system = _text()
    value = _text()


class PatientSchema(_Element):
    resourceType = fields.String(required=True,
                                 validate=validate.Equal("Patient", error="Not a FHIR Patient resource."))
    id = _text()
    identifier = _list(fields.Nested(Identifier))
    name = _list(fields.Nested(HumanName))
    birthDate = _text()
    gender = _text()
    address = _list(fields.Nested(Address))
    telecom = _list(fields.Nested(ContactPoint))


_SCHEMA = PatientSchema()


def problems(patient: Any) -> dict[str, list[str]]:
    """What keeps *patient* from being read, by path; empty when it can be."""
    if not isinstance(patient, dict):
        return {"": ["Not a JSON object."]}
    return by_path(_SCHEMA.validate(patient))


def by_path(messages: dict | list, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error messages keyed by path: ``{"name": {0: {"given": [...]}}}`` is
    ``{"name[0].given": [...]}``; a whole element's own error (``_schema``) is its path's."""
    if isinstance(messages, list):
        return {prefix: [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        if key == "_schema":
            path = prefix
        elif isinstance(key, int):
            path = f"{prefix}[{key}]"
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        for where, texts in by_path(value, path).items():
            flat.setdefault(where, []).extend(texts)
    return flat


def to_row(patient: dict) -> dict:
    """A Patient that has no problems as a roster row."""
    names = [n for n in patient.get("name") or [] if n]
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0] if names else {})
    given = [g for g in name.get("given") or [] if g]
    addresses = [a for a in patient.get("address") or [] if a]
    address = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else {})
    return {"mrn": _mrn(patient), "given_name": given[0] if given else "", "middle_name": " ".join(given[1:]),
            "family_name": name.get("family") or "", "birth_date": patient.get("birthDate") or "",
            "sex": patient.get("gender") or "", "address": " ".join(x for x in address.get("line") or [] if x),
            "city": address.get("city") or "", "state": address.get("state") or "",
            "zip": address.get("postalCode") or "", "email": _telecom(patient, "email"),
            "phone": _telecom(patient, "phone")}


def _telecom(patient: dict, system: str) -> str:
    for item in patient.get("telecom") or []:
        if item and item.get("system") == system and item.get("value"):
            return item["value"]
    return ""


def _mrn(patient: dict) -> str:
    identifiers = [i for i in patient.get("identifier") or [] if i]
    for identifier in identifiers:
        codings = (identifier.get("type") or {}).get("coding") or []
        if any(c and c.get("code") == "MR" for c in codings):
            return identifier.get("value") or ""
    return (identifiers[0].get("value") or "") if identifiers else (patient.get("id") or "")
