"""FHIR documents the gateway writes: searchset Bundles (each resource tagged with its practice)
and OperationOutcomes. Pure."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from services.records.domain.gateway import Entry, Page
from services.records.domain.policy import PRACTICE_TAG

_FULL_URL_NAMESPACE = uuid.UUID("6b1d7e9a-3f0c-4a55-9f1e-2c7d8a4b0e11")


def tag_practice(resource: dict, practice_id: str) -> dict:
    """The resource with one ``meta.tag`` naming the practice it came from (a source's own is replaced)."""
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if isinstance(t, dict) and t.get("system") != PRACTICE_TAG]
    meta["tag"] = tags + [{"system": PRACTICE_TAG, "code": practice_id}]
    return {**resource, "meta": meta}


def full_url(base_url: str, entry: Entry, everywhere: bool) -> str:
    """The resource's URL here; in the merged view, where ids of two practices may collide, a
    stable ``urn:uuid`` per practice, type and id."""
    kind, rid = entry.resource["resourceType"], entry.resource["id"]
    if everywhere:
        return f"urn:uuid:{uuid.uuid5(_FULL_URL_NAMESPACE, f'{entry.practice}/{kind}/{rid}')}"
    return f"{base_url}/{kind}/{rid}"


def searchset(page: Page, *, base_url: str, self_url: str, next_url: str | None, previous_url: str | None,
              everywhere: bool) -> dict:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    if previous_url:
        links.append({"relation": "previous", "url": previous_url})
    entries = [{"fullUrl": full_url(base_url, e, everywhere), "resource": tag_practice(e.resource, e.practice),
                "search": {"mode": e.mode}} for e in page.entries]
    if page.unavailable:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": operation_outcome(
            "transient", "Records from some practices could not be reached; try again in a moment.",
            severity="warning", practices=page.unavailable), "search": {"mode": "outcome"}})
    return {"resourceType": "Bundle", "id": uuid.uuid4().hex,
            "meta": {"lastUpdated": _now()}, "type": "searchset", "total": page.total,
            "link": links, "entry": entries}


def operation_outcome(issue: str, text: str, *, severity: str = "error", practices: list[str] | None = None) -> dict:
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": severity, "code": issue, "diagnostics": text}]}
    if practices:
        outcome["issue"][0]["details"] = {"coding": [{"system": PRACTICE_TAG, "code": p} for p in practices]}
    return outcome


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
