"""Match queries from the outside world: FHIR R4 Parameters or Patient resources (``$match``, one at a
time or a batch Bundle of them) and CSV files with a roster's columns (``carekey registration match``).
Pure; no I/O.

A query needs a name and a full date of birth; ``count`` (1-100, 10 by default) and
``onlyCertainMatches`` as in FHIR's Patient-match. A value of the wrong JSON type, in the Parameters
or anywhere in the Patient that is read (``fhir_patient``), is an error naming its path. A batch holds
at most ``MAX_BATCH`` queries, each entry's resource no deeper than ``MAX_DEPTH`` and without NUL
characters; a bad entry is that entry's error, never the batch's.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from services.registration.domain import birth_dates, fhir_patient, matching
from services.registration.domain.roster_formats import SourceRow, field_name, parse_csv, restore_zip
from shared import json_text

MAX_BATCH = 100
MAX_DEPTH = 16  # a Parameters holding a Patient needs about 8
QUERY_COLUMNS = {"given_name": "the first name", "family_name": "the last name",
                 "birth_date": "the date of birth (DOB)"}


class QueryError(ValueError):
    """A query that can't be answered: the OperationOutcome issue code and a text to show; for values
    of the wrong type, what is wrong by path (``parameter[0].resource.name``), each its own issue."""

    def __init__(self, code: str, text: str, paths: dict[str, list[str]] | None = None) -> None:
        super().__init__(text)
        self.code, self.text, self.paths = code, text, paths or {}

    @classmethod
    def wrong_types(cls, paths: dict[str, list[str]]) -> QueryError:
        return cls("structure", " ".join(f"{path}: {text}" for path, texts in paths.items() for text in texts),
                   paths)


@dataclass(frozen=True)
class Query:
    person: matching.Person
    only_certain: bool = False
    count: int = 10
    practice_id: str | None = None


class _Parameter(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True)
    resource = fields.Raw(allow_none=True)  # a Patient, checked by fhir_patient
    valueBoolean = fields.Boolean(truthy={True}, falsy={False})
    valueInteger = fields.Integer(strict=True)
    valueString = fields.String()
    valueCode = fields.String()


class _Parameters(Schema):
    class Meta:
        unknown = EXCLUDE

    parameter = fields.List(fields.Nested(_Parameter), load_default=list)


@dataclass
class _Asked:
    patient: object = None
    patient_path: str = "parameter.resource"  # where the Patient is, for messages about its fields
    only_certain: bool = False
    count: int = 10
    practice_id: str | None = None


def _parameters(body: dict) -> _Asked:
    """What a Patient or a Parameters resource asks; raises QueryError naming a field of the wrong type."""
    if body.get("resourceType") == "Patient":
        return _Asked(body, "Patient")
    if body.get("resourceType") != "Parameters":
        return _Asked()
    try:
        values = _Parameters().load(body)
    except ValidationError as exc:
        raise QueryError.wrong_types(fhir_patient.by_path(exc.messages)) from None
    found = _Asked()
    for index, parameter in enumerate(values["parameter"]):
        name = parameter["name"]
        if name == "resource":
            found.patient, found.patient_path = parameter.get("resource"), f"parameter[{index}].resource"
        elif name == "onlyCertainMatches":
            found.only_certain = parameter.get("valueBoolean") is True
        elif name == "count" and "valueInteger" in parameter:
            found.count = parameter["valueInteger"]
        elif name == "practice":
            found.practice_id = parameter.get("valueString") or parameter.get("valueCode")
    return found


def _person(patient: dict) -> matching.Person:
    row = fhir_patient.to_row(patient)
    born = None
    if row["birth_date"]:
        born = date.fromisoformat(row["birth_date"])
    return matching.Person(given=row["given_name"], family=row["family_name"], middle=row["middle_name"],
                           birth_date=born, sex=row["sex"], zip=row["zip"], phone=row["phone"], email=row["email"],
                           address=row["address"], city=row["city"])


def _complete(person: matching.Person) -> matching.Person:
    if not (person.family or person.given) or person.birth_date is None:
        raise QueryError("required", "A match needs at least a name and a birthDate.")
    return person


def read_query(body: dict) -> Query:
    """A Parameters or Patient resource as a query; raises QueryError."""
    asked = _parameters(body)
    patient = asked.patient
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise QueryError("required", "The 'resource' parameter must hold a Patient.")
    problems = fhir_patient.problems(patient)
    if problems:
        raise QueryError.wrong_types({f"{asked.patient_path}.{path}" if path else asked.patient_path: texts
                                      for path, texts in problems.items()})
    if not 1 <= asked.count <= 100:
        raise QueryError("value", "count must be between 1 and 100.")
    try:
        person = _person(patient)
    except ValueError:
        raise QueryError("invalid", "birthDate must be a full date (YYYY-MM-DD).") from None
    return Query(_complete(person), asked.only_certain, asked.count,
                 str(asked.practice_id)[:64] if asked.practice_id else None)


def well_formed(value: object, depth: int = 0) -> bool:
    """JSON no deeper than MAX_DEPTH, with no NUL in any string or key."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(well_formed(k, depth + 1) and well_formed(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(well_formed(item, depth + 1) for item in value)
    return True


def batch_entries(bundle: dict) -> list:
    """The entries of a batch Bundle; raises QueryError when the Bundle itself is wrong."""
    entries = bundle.get("entry")
    if bundle.get("type") != "batch" or not isinstance(entries, list) or not entries:
        raise QueryError("structure", "A Bundle of match queries is of type 'batch', with its queries in 'entry'.")
    if len(entries) > MAX_BATCH:
        raise QueryError("too-costly", f"A batch holds at most {MAX_BATCH} queries; send these {len(entries)} in "
                                       "several batches.")
    return entries


def read_entry(entry: object) -> Query:
    """One batch entry: a Parameters or Patient resource, sent (if ``request`` says) to Patient/$match."""
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        raise QueryError("structure", "Each entry holds a 'resource': a Parameters or a Patient.")
    if not well_formed(entry):
        raise QueryError("invalid", f"The entry is nested deeper than {MAX_DEPTH} levels or holds a NUL character.")
    call = entry.get("request")
    if call is not None and not (isinstance(call, dict) and call.get("method") == "POST"
                                 and str(call.get("url", "")).split("?")[0].lstrip("/") == "Patient/$match"):
        raise QueryError("not-supported", "A batch entry's request, if given, is POST Patient/$match.")
    return read_query(entry["resource"])


# -- files, for the command line -----------------------------------------------------------------

@dataclass(frozen=True)
class FileQuery:
    where: str               # "line 5" of a CSV file, "entry 3" of a Bundle
    query_id: str            # the query's own id: its ID or MRN column, or the entry's Patient id / fullUrl
    query: Query | None
    problem: str = ""


def _csv_query(row: SourceRow, today: date) -> Query:
    if row.unreadable:
        raise QueryError("structure", " ".join(text for texts in row.unreadable.values() for text in texts))
    values = {field_name(k): (v or "").strip() for k, v in row.values.items() if isinstance(v, str)}
    if any("\x00" in value for value in values.values()):
        raise QueryError("invalid", "A cell holds a NUL character.")
    try:
        born = birth_dates.read(values.get("birth_date"), today)
    except ValueError as exc:
        raise QueryError("invalid", f"date of birth: {exc}") from None
    return Query(_complete(matching.Person(
        given=values.get("given_name", ""), family=values.get("family_name", ""),
        middle=values.get("middle_name", ""), birth_date=born, sex=values.get("sex", ""),
        zip=restore_zip(values.get("zip", "")), phone=values.get("phone", ""), email=values.get("email", ""),
        address=values.get("address", ""), city=values.get("city", ""))))


def _csv_id(row: SourceRow) -> str:
    """The query's own id: a column named ID, Query ID or MRN."""
    return next((str(v)[:200] for k, v in row.values.items() if field_name(k) in ("id", "query_id", "mrn") and v), "")


def _entry_id(entry: object) -> str:
    if not isinstance(entry, dict):
        return ""
    resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
    parameters = resource.get("parameter") if isinstance(resource.get("parameter"), list) else []
    patient = resource if resource.get("resourceType") == "Patient" else next(
        (p.get("resource") for p in parameters
         if isinstance(p, dict) and p.get("name") == "resource" and isinstance(p.get("resource"), dict)), {})
    return str(patient.get("id") or entry.get("fullUrl") or "")[:200]


def read_file(name: str, text: str, today: date | None = None) -> list[FileQuery]:
    """The queries of a CSV file (a roster's columns, the MRN optional) or of a FHIR Bundle (of any
    size: a batch of Parameters, or Patients); raises ValueError when the file as a whole can't be read."""
    today = today or date.today()
    if name.lower().endswith(".csv"):
        return [_read(row.where, _csv_id(row), _csv_query, row, today)
                for row in parse_csv(text, required=QUERY_COLUMNS)]
    try:
        bundle = json_text.loads(text)
    except ValueError:
        raise ValueError("Match a .csv file or a FHIR Bundle (.json) of Parameters or Patients.") from None
    entries = bundle.get("entry") if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle" else None
    if not isinstance(entries, list):
        raise ValueError("Expected a FHIR Bundle whose entries are Parameters or Patient resources.")
    return [_read(f"entry {index}", _entry_id(entry), read_entry, entry) for index, entry in enumerate(entries, 1)]


def _read(where: str, query_id: str, reader, *args) -> FileQuery:
    try:
        return FileQuery(where, query_id, reader(*args))
    except QueryError as exc:
        return FileQuery(where, query_id, None, exc.text)


RESULT_COLUMNS = ("query", "query_id", "grade", "score", "mrn", "matches", "problem")


def results_csv(rows: Iterable[tuple[FileQuery, list]]) -> Iterator[str]:
    """One CSV line per query (after the header): the best candidate's grade, score and MRN, how many
    candidates graded possible or better, or why the query couldn't be answered."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    yield out.getvalue()
    for query, ranked in rows:
        out.seek(0), out.truncate()
        if query.query is None:
            writer.writerow([query.where, query.query_id, "", "", "", "", query.problem])
        elif not ranked:
            writer.writerow([query.where, query.query_id, matching.CERTAINLY_NOT, "", "", 0, ""])
        else:
            entry, best = ranked[0]
            writer.writerow([query.where, query.query_id, best.grade, f"{best.score:.4f}", entry.mrn, len(ranked), ""])
        yield out.getvalue()
