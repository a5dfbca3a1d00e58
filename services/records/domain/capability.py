"""The CapabilityStatement at ``/metadata``: what this server reads and searches, and how to get
a token for it (SMART on FHIR, at the identity service). Pure."""
from __future__ import annotations

from services.records.domain.resources import TYPES

FHIR_VERSION = "4.0.1"
_SMART = {"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}
_COMMON_PARAMS = [("_count", "number", "Page size (1-100)"),
                  ("patient", "reference", "Must name the patient in the token's context")]


def capability_statement(*, base_url: str, issuer: str, date: str, software_version: str = "0.1.0") -> dict:
    resources = []
    for kind in TYPES.values():
        interactions = [{"code": "read"}] + ([{"code": "search-type"}] if kind.searchable else [])
        entry = {"type": kind.name, "interaction": interactions, "versioning": "no-version",
                 "readHistory": False, "updateCreate": False}
        if kind.searchable:
            params = [{"name": name, "type": param.kind} for name, param in kind.params.items()]
            if kind.name != "Patient":
                params += [{"name": n, "type": t, "documentation": d} for n, t, d in _COMMON_PARAMS]
            else:
                params.append({"name": "_count", "type": "number"})
            entry["searchParam"] = params
        if kind.includes:
            entry["searchInclude"] = list(kind.includes)
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement", "id": "carekey-records",
        "url": f"{base_url}/metadata", "name": "CareKeyRecordsGateway", "title": "CareKey records gateway",
        "status": "active", "experimental": False, "date": date, "publisher": "CareKey",
        "description": "Each patient's records from every linked practice, read-only, in a SMART patient context.",
        "kind": "instance", "fhirVersion": FHIR_VERSION, "format": ["application/fhir+json", "json"],
        "software": {"name": "CareKey records gateway", "version": software_version},
        "implementation": {"description": "CareKey records gateway", "url": base_url},
        "rest": [{
            "mode": "server",
            "documentation": "Reads and searches serve the patient in the access token's context at its practice; "
                             "/all/{type} searches every linked practice (each resource tagged with its practice).",
            "security": {
                "cors": False, "service": [{"coding": [_SMART]}],
                "description": "Bearer access tokens from the CareKey identity service (SMART App Launch v2 scopes).",
                "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                               "extension": [{"url": "authorize", "valueUri": f"{issuer}/authorize"},
                                             {"url": "token", "valueUri": f"{issuer}/token"},
                                             {"url": "revoke", "valueUri": f"{issuer}/revoke"},
                                             {"url": "introspect", "valueUri": f"{issuer}/introspect"}]}],
            },
            "resource": resources,
        }],
    }
