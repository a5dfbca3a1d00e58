"""The scopes CareKey knows, in plain words for the consent page, and how to match them."""
from __future__ import annotations

import re

OIDC_SCOPES = {
    "openid": "Sign you in with your CareKey account",
    "profile": "Your name and username",
    "email": "Your email address",
    "phone": "Your phone number",
    "address": "Your postal address",
    "offline_access": "Stay connected when you are not using the app",
    "fhirUser": "Know which patient record is yours",
    "launch/patient": "Know which patient you chose",
}
INTERNAL_SCOPES = {
    "identity:admin": "Manage CareKey clients",
    "identity:accounts": "Create CareKey accounts and link them to practice records",
    "records:introspect": "Check access tokens",
    "registration:admin": "Manage practices, rosters, invitations and office codes",
    "registration:match": "Search practice rosters for a patient ($match)",
}
_RESOURCE_WORDS = {
    "*": "all of your health records", "Patient": "your demographics", "Condition": "your diagnoses",
    "MedicationRequest": "your medications", "Medication": "your medications",
    "Immunization": "your immunizations", "AllergyIntolerance": "your allergies",
    "Procedure": "your procedures", "CarePlan": "your care plans", "Observation": "your results",
    "DiagnosticReport": "your lab reports", "Appointment": "your appointments",
}
_SMART = re.compile(r"^(patient|user)/(\*|[A-Z][A-Za-z]+)\.(c?r?u?d?s?|read|write|\*)(\?[A-Za-z0-9_.=:|,%-]+)?$")


def is_known(scope: str) -> bool:
    return scope in OIDC_SCOPES or scope in INTERNAL_SCOPES or bool(_SMART.match(scope))


def describe(scope: str) -> str:
    if scope in OIDC_SCOPES:
        return OIDC_SCOPES[scope]
    if scope in INTERNAL_SCOPES:
        return INTERNAL_SCOPES[scope]
    match = _SMART.match(scope)
    if match:
        what = _RESOURCE_WORDS.get(match.group(2), f"your {match.group(2)} records")
        if match.group(4):
            what += " (some of them)"
        return f"Read {what}"
    return scope


def covered_by(requested: str, allowed: set[str]) -> bool:
    """A requested scope is allowed when registered exactly, or under a registered wildcard."""
    if requested in allowed:
        return True
    match = _SMART.match(requested)
    if not match:
        return False
    context, resource, perms = match.group(1), match.group(2), match.group(3)
    for candidate in allowed:
        wide = _SMART.match(candidate)
        if not wide or wide.group(4) or wide.group(1) != context:
            continue
        if wide.group(2) not in ("*", resource):
            continue
        if _perms(wide.group(3)) >= _perms(perms):
            return True
    return False


def _perms(value: str) -> set[str]:
    if value in ("read",):
        return {"r", "s"}
    if value in ("write",):
        return {"c", "u", "d"}
    if value == "*":
        return set("cruds")
    return set(value)


def wants_patient_context(scopes: list[str]) -> bool:
    return "launch/patient" in scopes or any(s.startswith("patient/") for s in scopes)
