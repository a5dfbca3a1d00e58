"""Roster rows from the outside world: JSON objects, CSV files and FHIR R4 Patient bundles.

Every row is validated on its own; the caller gets the good rows and a list of problems, each naming
the row (1-based, as a spreadsheet shows it, or the bundle entry) and the field. A file with any
problem imports nothing (see roster.import_rows).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates

from services.registration.domain import fhir_patient
from shared import json_text

PHONE = re.compile(r"^\+?[0-9 ().-]{7,20}$")
ZIP = re.compile(r"^[0-9]{5}(-?[0-9]{4})?$")
SEXES = ("male", "female", "other", "unknown", "")
_SEX_CODES = {"m": "male", "f": "female", "o": "other", "u": "unknown"}
ALIASES = {"first_name": "given_name", "first": "given_name", "given": "given_name",
           "last_name": "family_name", "last": "family_name", "family": "family_name", "surname": "family_name",
           "middle": "middle_name", "dob": "birth_date", "date_of_birth": "birth_date", "birthdate": "birth_date",
           "gender": "sex", "postal_code": "zip", "zip_code": "zip", "zipcode": "zip", "address_line": "address",
           "street": "address", "mobile": "phone", "phone_number": "phone", "office_pin": "pin"}


class BirthDate(fields.Field):
    """ISO dates (1985-06-12), and the US form offices type (06/12/1985)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value or "").strip()
        for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
            try:
                parsed = datetime.strptime(text, pattern).date()
            except ValueError:
                continue
            if not date(1900, 1, 1) <= parsed <= date.today():
                raise ValidationError("Use a date of birth between 1900 and today.")
            return parsed
        raise ValidationError("Use a date like 1985-06-12 or 06/12/1985.")

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value else None


class RosterRowSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # offices' exports carry extra columns; we keep only what we use

    mrn = fields.String(required=True, validate=[validate.Length(min=1, max=64),
                                                  validate.Regexp(r"^[A-Za-z0-9._-]+$",
                                                                  error="Letters, digits, '.', '_' or '-'.")])
    given_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    middle_name = fields.String(load_default="", validate=validate.Length(max=120))
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    birth_date = BirthDate(required=True)
    sex = fields.String(load_default="", validate=validate.OneOf(SEXES, error="male, female, other or unknown."))
    address = fields.String(load_default="", validate=validate.Length(max=200))
    city = fields.String(load_default="", validate=validate.Length(max=120))
    state = fields.String(load_default="", validate=validate.Length(max=32))
    zip = fields.String(load_default="", validate=validate.Regexp(ZIP, error="Use a US zip code: 12345 or 12345-6789."))
    email = fields.Email(load_default="")
    phone = fields.String(load_default="", validate=validate.Regexp(PHONE, error="Use a phone number such as (555) 555-0123."))
    pin = fields.String(load_default="", validate=validate.Regexp(r"^([0-9A-Za-z]{4,12})?$",
                                                                  error="A PIN is 4 to 12 letters or digits."))

    @pre_load
    def _tidy(self, data, **_):
        if not isinstance(data, dict):
            raise ValidationError("Each row is an object.")
        tidy = {}
        for key, value in data.items():
            name = ALIASES.get(str(key).strip().lower().replace(" ", "_"), str(key).strip().lower().replace(" ", "_"))
            tidy[name] = value.strip() if isinstance(value, str) else value
        if tidy.get("sex"):
            sex = str(tidy["sex"]).lower()
            tidy["sex"] = _SEX_CODES.get(sex, sex)
        for optional in ("email", "phone", "zip", "pin", "middle_name", "sex", "address", "city", "state"):
            if tidy.get(optional) in (None, ""):
                tidy.pop(optional, None)
        return tidy

    @validates("given_name")
    def _has_letters(self, value, **_):
        if not any(ch.isalpha() for ch in value):
            raise ValidationError("A name needs letters.")


@dataclass(frozen=True)
class Unreadable:
    """A row that could not be read at all (its problems by path), in place of the row."""

    errors: dict[str, list[str]]


@dataclass(frozen=True)
class RowProblem:
    row: str           # "row 3", "entry 2"
    mrn: str | None
    errors: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "mrn": self.mrn, "errors": self.errors}


_SCHEMA = RosterRowSchema()


def validate_rows(raw: Iterable[tuple[str, Any]]) -> tuple[list[dict], list[RowProblem]]:
    """Validate (label, row) pairs; an unreadable row and duplicate MRNs within one file are problems too."""
    good, problems, seen = [], [], {}
    for label, row in raw:
        if isinstance(row, Unreadable):
            problems.append(RowProblem(label, None, row.errors))
            continue
        mrn = (str(row.get("mrn") or row.get("MRN") or "").strip() or None) if isinstance(row, dict) else None
        try:
            values = _SCHEMA.load(row)
        except ValidationError as exc:
            problems.append(RowProblem(label, mrn, exc.messages if isinstance(exc.messages, dict)
                                       else {"_row": exc.messages}))
            continue
        if values["mrn"] in seen:
            problems.append(RowProblem(label, values["mrn"], {"mrn": [f"Repeats {seen[values['mrn']]}."]}))
            continue
        seen[values["mrn"]] = label
        good.append(values)
    return good, problems


def parse_csv(text: str) -> list[tuple[str, dict]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise ValueError("The CSV file has no header row.")
    # spreadsheet numbering: the header is row 1
    return [(f"row {index}", {k: v for k, v in row.items() if k is not None})
            for index, row in enumerate(reader, start=2)]


def parse_fhir_bundle(text: str) -> list[tuple[str, dict | Unreadable]]:
    try:
        bundle = json_text.loads(text)
    except ValueError as exc:
        raise ValueError(f"The file is not JSON we accept: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("Expected a FHIR Bundle of Patient resources.")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise ValueError("entry: Not a valid list.")
    rows: list[tuple[str, dict | Unreadable]] = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            found = {"_row": ["Not a JSON object."]}
        else:
            found = {f"resource.{path}" if path else "resource": texts
                     for path, texts in fhir_patient.problems(entry.get("resource")).items()}
        rows.append((f"entry {index}", Unreadable(found) if found else fhir_patient.to_row(entry["resource"])))
    return rows


def parse_file(name: str, text: str) -> list[tuple[str, dict | Unreadable]]:
    """CSV by extension, FHIR JSON otherwise when it looks like JSON."""
    if name.lower().endswith(".csv"):
        return parse_csv(text)
    if name.lower().endswith((".json", ".ndjson")) or text.lstrip().startswith("{"):
        return parse_fhir_bundle(text)
    raise ValueError("Import a .csv file or a FHIR R4 Bundle (.json).")
