"""The built-in store: FHIR R4 resources kept as JSON in the records database, one row each, with
the patient they belong to. `carekey demo seed` fills it; a practice without a FHIR server of its
own can be loaded into it (``carekey records load``)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.records.db.models import StoredResource
from shared.database import single_statements
from services.records.domain.policy import RELEASE_TAG, is_lab_result
from services.records.domain.resources import TYPES, patient_ids


class StoreSource:
    """:class:`~services.records.interfaces.RecordsSource` over the ``stored_resources`` table."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = single_statements(sessions)  # each read is one SELECT

    def patient_resources(self, practice_id: str, patient_id: str, resource_type: str) -> list[dict]:
        with self.sessions() as session:
            rows = session.scalars(select(StoredResource).where(
                StoredResource.practice_id == practice_id, StoredResource.patient_id == patient_id,
                StoredResource.resource_type == resource_type).order_by(StoredResource.resource_id)).all()
        return [_materialise(row) for row in rows]

    def resource(self, practice_id: str, resource_type: str, resource_id: str) -> dict | None:
        with self.sessions() as session:
            row = session.get(StoredResource, (practice_id, resource_type, resource_id))
        return _materialise(row) if row is not None else None


def _materialise(row: StoredResource) -> dict:
    resource = json.loads(row.body)
    meta = resource.setdefault("meta", {})
    meta["lastUpdated"] = _aware(row.updated_at).isoformat(timespec="seconds").replace("+00:00", "Z")
    tags = [t for t in meta.get("tag", []) if t.get("system") != RELEASE_TAG]
    if row.shared:
        tags.append({"system": RELEASE_TAG, "code": "shared", "display": "Released to the patient"})
    if tags:
        meta["tag"] = tags
    else:
        meta.pop("tag", None)
    return resource


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def put(session: Session, practice_id: str, resource: dict, *, shared: bool | None = None) -> StoredResource:
    """Insert or replace one resource (idempotent). ``shared`` releases a lab result to the patient."""
    kind = TYPES.get(resource.get("resourceType", ""))
    if kind is None or not isinstance(resource.get("id"), str):
        raise ValueError("a resource of a supported type, with an id")
    owners = patient_ids(resource)
    if kind.patient_paths and len(owners) != 1:
        raise ValueError(f"{kind.name}/{resource['id']} must belong to exactly one patient")
    body = {k: v for k, v in resource.items() if k != "meta"}
    row = session.get(StoredResource, (practice_id, kind.name, resource["id"]))
    if row is None:
        row = StoredResource(practice_id=practice_id, resource_type=kind.name, resource_id=resource["id"],
                             shared=False)
        session.add(row)
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    released = row.shared if shared is None else bool(shared) and is_lab_result(resource)
    if row.body != text or row.shared != released:  # unchanged rows keep their lastUpdated
        row.patient_id = next(iter(owners)) if owners else None
        row.body, row.shared, row.updated_at = text, released, datetime.now(timezone.utc)
    session.flush()
    return row


def set_shared(session: Session, practice_id: str, resource_type: str, resource_id: str, shared: bool) -> bool:
    """Release (or withdraw) one result; False when the store holds no such resource."""
    row = session.get(StoredResource, (practice_id, resource_type, resource_id))
    if row is None:
        return False
    row.shared = shared
    row.updated_at = datetime.now(timezone.utc)
    return True
