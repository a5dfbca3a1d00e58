"""Rosters: the demographics each office has on file, upserted by MRN, with the blocking keys that
let a match over a million patients look at a few dozen candidates only, and the practice's matching
model (m and u probabilities, name frequencies: ``matching_model``) estimated from it on every import."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from services.registration.db.models import BlockingKey, MatchingModel, RosterEntry
from services.registration.domain import matching, matching_model, secrets
from services.registration.domain.roster_formats import RowNote, RowProblem, SourceRow, validate_rows
from services.registration.domain.time import now

MAX_CANDIDATES = 200  # blocking keys are selective; a query touching more is cut here


class RosterRejected(ValueError):
    """Some rows are wrong; nothing was imported."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} row(s) have problems; nothing was imported.")
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    rejected: list[RowProblem] = field(default_factory=list)  # skipped rows, with their problems
    notes: list[RowNote] = field(default_factory=list)        # zips restored, birth dates imported as unknown


def person(entry: RosterEntry) -> matching.Person:
    return matching.Person(given=entry.given_name, family=entry.family_name, middle=entry.middle_name or "",
                           birth_date=entry.birth_date, sex=entry.sex or "", zip=entry.zip or "",
                           phone=entry.phone or "", email=entry.email or "", address=entry.address or "",
                           city=entry.city or "")


def pin_digest(pepper: str, practice_id: str, pin: str) -> str:
    return secrets.keyed_digest(pepper, "office-pin", practice_id, secrets.normalise_code(pin))


def _write_keys(session: Session, entry: RosterEntry) -> None:
    session.execute(delete(BlockingKey).where(BlockingKey.entry_id == entry.id))
    session.add_all(BlockingKey(entry_id=entry.id, key=key[:120], practice_id=entry.practice_id)
                    for key in sorted(matching.blocking_keys(person(entry))))


def upsert(session: Session, practice_id: str, values: dict, *, pepper: str) -> tuple[RosterEntry, bool]:
    """Create or update one validated row; returns the entry and whether it was new."""
    moment = now()
    entry = session.scalar(select(RosterEntry).where(RosterEntry.practice_id == practice_id,
                                                     RosterEntry.mrn == values["mrn"]))
    created = entry is None
    if created:
        entry = RosterEntry(practice_id=practice_id, mrn=values["mrn"], created_at=moment)
        session.add(entry)
    for name in ("given_name", "middle_name", "family_name", "birth_date", "sex", "address", "city", "state",
                 "zip", "email", "phone"):
        setattr(entry, name, values.get(name) or ("" if name != "birth_date" else None))
    if values.get("pin"):
        entry.pin_digest = pin_digest(pepper, practice_id, values["pin"])
    entry.updated_at = moment
    session.flush()
    _write_keys(session, entry)
    return entry, created


def import_rows(session: Session, practice_id: str, rows: Iterable[SourceRow], *, pepper: str,
                skip_invalid: bool = False) -> ImportResult:
    """All or nothing by default: any bad row rejects the whole import, listing every problem. With
    *skip_invalid* the good rows are imported and the bad ones come back in ``rejected``. The practice's
    matching model is estimated again from the whole roster afterwards."""
    checked = validate_rows(rows)
    if checked.problems and not skip_invalid:
        raise RosterRejected(checked.problems)
    created = updated = 0
    for values in checked.rows:
        _, new = upsert(session, practice_id, values, pepper=pepper)
        created += new
        updated += not new
    refresh_model(session, practice_id)
    return ImportResult(created, updated, checked.problems, checked.notes)


_PERSON_COLUMNS = (RosterEntry.given_name, RosterEntry.family_name, RosterEntry.middle_name, RosterEntry.birth_date,
                   RosterEntry.sex, RosterEntry.zip, RosterEntry.phone, RosterEntry.email, RosterEntry.address,
                   RosterEntry.city)


def _people(session: Session, practice_id: str) -> Iterable[matching.Person]:
    rows = session.execute(select(*_PERSON_COLUMNS).where(RosterEntry.practice_id == practice_id)
                           .order_by(RosterEntry.id).execution_options(yield_per=5000))
    for row in rows:
        yield person(row)


def _save_model(session: Session, practice_id: str, model: matching.Model) -> None:
    stored = session.get(MatchingModel, practice_id)
    if stored is None:
        stored = MatchingModel(practice_id=practice_id)
        session.add(stored)
    stored.roster_size, stored.params, stored.estimated_at = model.size, model.as_dict(), now()
    session.flush()
    _MODELS[practice_id] = (time.monotonic(), model)


def refresh_model(session: Session, practice_id: str) -> matching.Model:
    """Estimate the practice's matching model from its whole roster (one pass) and store it."""
    session.flush()
    model = matching_model.estimate(_people(session, practice_id))
    _save_model(session, practice_id, model)
    return model


# practice id -> (when read, model): a process reads a practice's model again after MODEL_TTL seconds
# (so an import elsewhere shows within that), the process that imports at once
_MODELS: dict[str, tuple[float, matching.Model]] = {}
MODEL_TTL = 10.0
_MODEL_PARAMS = select(MatchingModel.params).where(MatchingModel.practice_id == bindparam("practice_id"))


def model(session: Session, practice_id: str) -> matching.Model:
    """The practice's stored matching model (the priors until its first import)."""
    cached = _MODELS.get(practice_id)
    if cached is None or time.monotonic() - cached[0] > MODEL_TTL:
        params = session.execute(_MODEL_PARAMS, {"practice_id": practice_id}).scalar()
        cached = _MODELS[practice_id] = (time.monotonic(), matching.Model.from_dict(params))
    return cached[1]


def by_mrn(session: Session, practice_id: str, mrn: str) -> RosterEntry | None:
    return session.scalar(select(RosterEntry).where(RosterEntry.practice_id == practice_id,
                                                    RosterEntry.mrn == mrn))


def candidates(session: Session, practice_id: str, query: matching.Person) -> list[RosterEntry]:
    """Roster entries sharing at least one blocking key with the query (indexed lookup). Plain rows
    (read-only, attribute access like an entry): loading ORM objects cost more than the query."""
    keys = sorted(k[:120] for k in matching.probe_keys(query))
    if not keys:
        return []
    # the entries sharing the most keys first, so a common-name key cannot crowd out the true match
    ids = (select(BlockingKey.entry_id).where(BlockingKey.practice_id == practice_id, BlockingKey.key.in_(keys))
           .group_by(BlockingKey.entry_id).order_by(func.count().desc()).limit(MAX_CANDIDATES))
    return list(session.execute(select(RosterEntry.__table__).where(RosterEntry.id.in_(ids))))


def search(session: Session, practice_id: str, query: matching.Person, thresholds: matching.Thresholds, *,
           limit: int = 10, only_certain: bool = False) -> list[tuple[RosterEntry, matching.Match]]:
    """Ranked matches for the query at one practice, best first (no 'certainly-not' among them)."""
    found = candidates(session, practice_id, query)
    return matching.rank(query, ((entry, person(entry)) for entry in found), thresholds,
                         model=model(session, practice_id), limit=limit, only_certain=only_certain)
