"""Roster rows from the outside world: JSON objects, CSV files and FHIR R4 Patient bundles.

Every row keeps where it came from ("line 5" of a CSV file, "entry 3" of a Bundle, "row 3" of a JSON
list) and the source's own name for each field ("DOB", "Zip Code", "birthDate"), so a problem names
the line and the column the office will look for. Rows are validated one by one; the caller gets the
good rows, the problems and notes (roster.import_rows imports all or nothing, or skips bad rows).

What spreadsheets do to a roster, and what happens here:

- a zip code's leading zeros dropped ("2134", "2134-1234"; "601" for Puerto Rico's 00601): restored,
  and noted;
- dates of birth: the forms read and the ambiguous ones refused are in ``birth_dates``. A file in which
  any date reads day first (31/12/1985) has each of its dates that could be read either way
  (03/04/1985) refused too. Blank, "unknown", impossible (02/30/1985), future and placeholder
  (1900-01-01) dates are imported as unknown, with a note: such a record is never matched "certain";
- a row with more cells than the header (an unquoted comma in an address): a problem;
- no column for a required field, or two columns for one field: the file is refused as a whole.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from services.registration.domain import birth_dates, fhir_patient
from shared import json_text

PHONE = re.compile(r"^\+?[0-9 ().-]{7,20}$")
ZIP = re.compile(r"^[0-9]{5}(-?[0-9]{4})?$")
# a zip that lost its leading zeros: 4 digits, or 3 that can only be 005xx-009xx (NY's IRS, PR, VI)
_ZIP_LOST_ZEROS = re.compile(r"(\d{4}|[5-9]\d{2})(-?\d{4})?")
SEXES = ("male", "female", "other", "unknown", "")
_SEX_CODES = {"m": "male", "f": "female", "o": "other", "u": "unknown"}
ALIASES = {"first_name": "given_name", "first": "given_name", "given": "given_name", "last_name": "family_name",
           "last": "family_name", "family": "family_name", "surname": "family_name", "middle": "middle_name",
           "middle_initial": "middle_name", "dob": "birth_date", "d_o_b": "birth_date", "date_of_birth": "birth_date",
           "birthdate": "birth_date", "birth_day": "birth_date", "gender": "sex", "postal_code": "zip",
           "zip_code": "zip", "zipcode": "zip", "address_line": "address", "street": "address", "mobile": "phone",
           "phone_number": "phone", "mobile_phone": "phone", "cell_phone": "phone", "e_mail": "email",
           "email_address": "email", "office_pin": "pin", "medical_record_number": "mrn", "mrn_number": "mrn",
           "chart_number": "mrn"}
REQUIRED_COLUMNS = {"mrn": "the MRN", "given_name": "the first name", "family_name": "the last name",
                    "birth_date": "the date of birth (DOB)"}
# where each field lives in a FHIR Patient, for messages about a Bundle's entries
FHIR_LABELS = {"mrn": "identifier", "given_name": "name.given", "middle_name": "name.given",
               "family_name": "name.family", "birth_date": "birthDate", "sex": "gender", "address": "address.line",
               "city": "address.city", "state": "address.state", "zip": "address.postalCode",
               "email": "telecom (email)", "phone": "telecom (phone)"}
ROW = "_row"  # a problem with the row as a whole
REQUIRED = "Required, but blank or missing."


_REQUIRED = {"required": REQUIRED}


class RosterRowSchema(Schema):
    """Every field but the date of birth (read by ``birth_dates``, which knows "not known")."""
    class Meta:
        unknown = EXCLUDE  # offices' exports carry extra columns; we keep only what we use

    mrn = fields.String(required=True, error_messages=_REQUIRED, validate=[
        validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9._-]+$", error="Letters, digits, '.', '_' or '-'.")])
    given_name = fields.String(required=True, error_messages=_REQUIRED, validate=validate.Length(min=1, max=120))
    middle_name = fields.String(load_default="", validate=validate.Length(max=120))
    family_name = fields.String(required=True, error_messages=_REQUIRED, validate=validate.Length(min=1, max=120))
    sex = fields.String(load_default="", validate=validate.OneOf(SEXES, error="male, female, other or unknown."))
    address = fields.String(load_default="", validate=validate.Length(max=200))
    city = fields.String(load_default="", validate=validate.Length(max=120))
    state = fields.String(load_default="", validate=validate.Length(max=32))
    zip = fields.String(load_default="", validate=validate.Regexp(ZIP, error="Use a US zip code: 12345 or 12345-6789."))
    email = fields.Email(load_default="", validate=validate.Length(max=254))
    phone = fields.String(load_default="", validate=validate.Regexp(PHONE, error="Use a phone number such as (555) 555-0123."))
    pin = fields.String(load_default="", validate=validate.Regexp(r"^([0-9A-Za-z]{4,12})?$",
                                                                  error="A PIN is 4 to 12 letters or digits."))

    @validates("given_name")
    def _has_letters(self, value, **_):
        if not any(ch.isalpha() for ch in value):
            raise ValidationError("A name needs letters.")


_SCHEMA = RosterRowSchema()
FIELDS = frozenset(_SCHEMA.fields) | {"birth_date"}


@dataclass(frozen=True)
class SourceRow:
    where: str                                            # "line 5", "entry 3", "row 3"
    values: dict[str, Any]                                # under the source's own names
    labels: dict[str, str] = field(default_factory=dict)  # our field -> the source's name, when not a key
    # why the row can't be read at all, by column or path ("resource.name[0].given"); ROW for the whole row
    unreadable: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RowProblem:
    row: str
    mrn: str | None
    errors: dict[str, list[str]]  # by the source's column name; "_row" for the row as a whole
    values: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the row as read

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "mrn": self.mrn, "errors": self.errors}

    def reasons(self) -> list[str]:
        """One per column: 'column "DOB": Use a date like ...'."""
        return [("" if column == ROW else f'column "{column}": ') + " ".join(map(str, errors))
                for column, errors in self.errors.items()]

    def messages(self) -> list[str]:
        """The reasons with the place: 'line 5 (MRN a1), column "DOB": Use a date like ...'."""
        at = self.row + (f" (MRN {self.mrn})" if self.mrn else "")
        return [f"{at}{', ' if reason.startswith('column') else ': '}{reason}" for reason in self.reasons()]


ZIP_RESTORED, BIRTH_DATE_UNKNOWN = "zip_restored", "birth_date_unknown"


@dataclass(frozen=True)
class RowNote:
    """A value read differently from how it was written (ZIP_RESTORED), or left unknown (BIRTH_DATE_UNKNOWN)."""
    kind: str
    row: str
    mrn: str | None
    column: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "row": self.row, "mrn": self.mrn, "column": self.column, "note": self.note}

    def message(self) -> str:
        return f'{self.row}{f" (MRN {self.mrn})" if self.mrn else ""}, column "{self.column}": {self.note}'


@dataclass
class Validated:
    rows: list[dict] = field(default_factory=list)  # good rows, under our names
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[RowNote] = field(default_factory=list)


def field_name(column: object) -> str:
    """Our name for a source's column: "Date of Birth" -> "birth_date", "E-mail" -> "email"."""
    key = re.sub(r"[^0-9a-z]+", "_", str(column).strip().lower()).strip("_")
    return ALIASES.get(key, key)


def restore_zip(value: str) -> str:
    """Put back the leading zeros a spreadsheet dropped: "2134" -> "02134", "601" -> "00601"."""
    found = _ZIP_LOST_ZEROS.fullmatch(value)
    return found.group(1).zfill(5) + (found.group(2) or "") if found else value


def _tidy(row: SourceRow) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """(values under our names, our name -> the source's, errors) for one source row."""
    values, labels, errors = {}, dict(row.labels), {}
    for column, value in row.values.items():
        name = field_name(column)
        labels.setdefault(name, str(column))
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a zip, MRN or PIN a spreadsheet turned into a number
        if isinstance(value, str):
            if "\x00" in value:
                errors[labels[name]] = ["Holds a NUL character."]
                continue
            value = value.strip()
        values[name] = value
    if values.get("sex"):
        values["sex"] = _SEX_CODES.get(str(values["sex"]).lower(), str(values["sex"]).lower())
    for name in [name for name, value in values.items() if value in (None, "") and name != "birth_date"]:
        del values[name]  # blank is missing: optional fields take their default, required ones say so
    return values, labels, errors


def _birth_date(values: dict, day_first_at: str | None, today: date) -> tuple[date | None, str | None]:
    """(the date or None, a note when it is imported as unknown); raises DateUnreadable."""
    text = str(values["birth_date"] if values["birth_date"] is not None else "").strip()
    if day_first_at and birth_dates.swappable(text):
        raise birth_dates.DateUnreadable(f"{day_first_at} writes its date day first, so {text} could be either "
                                         "day or month first: use YYYY-MM-DD.")
    try:
        value = birth_dates.read(text, today)
    except birth_dates.NoSuchDate as exc:
        return None, f"{text}: {exc} Imported as unknown."
    return value, None if value else "Blank or not known: imported as unknown."


def _validate_row(row: SourceRow, *, day_first_at: str | None,
                  today: date) -> tuple[dict | None, RowProblem | None, list[RowNote]]:
    values, labels, errors = _tidy(row)
    label = lambda name: labels.get(name, name)  # noqa: E731
    mrn = str(values.get("mrn") or "").strip() or None
    if row.unreadable:
        return None, RowProblem(row.where, mrn, dict(row.unreadable), row.values), []
    notes = []
    if isinstance(values.get("zip"), str) and restore_zip(values["zip"]) != values["zip"]:
        values["zip"] = restore_zip(values["zip"])
        notes.append(RowNote(ZIP_RESTORED, row.where, mrn, label("zip"), f"Leading zeros restored: {values['zip']}."))
    born = None
    if "birth_date" not in values:
        errors[label("birth_date")] = ["Required: send null when it isn't known."]  # JSON rows only
    else:
        try:
            born, note = _birth_date(values, day_first_at, today)
        except birth_dates.DateUnreadable as exc:
            errors[label("birth_date")] = [str(exc)]
        else:
            if note:
                notes.append(RowNote(BIRTH_DATE_UNKNOWN, row.where, mrn, label("birth_date"), note))
    try:
        loaded = _SCHEMA.load({k: v for k, v in values.items() if k != "birth_date"})
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {ROW: exc.messages}
        for name, msgs in messages.items():  # a column already refused keeps its first reason
            errors.setdefault(ROW if name == "_schema" else label(name), list(msgs) if isinstance(msgs, list) else [msgs])
    if errors:
        return None, RowProblem(row.where, mrn, errors, row.values), []
    return {**loaded, "birth_date": born}, None, notes


def validate_rows(rows: Iterable[SourceRow], *, today: date | None = None) -> Validated:
    """Validate every row; a repeated MRN in one file is a problem too."""
    rows, today, result, seen = list(rows), today or date.today(), Validated(), {}
    day_first_at = next((row.where for row in rows if birth_dates.looks_day_first(_raw_birth_date(row))), None)
    for row in rows:
        values, problem, notes = _validate_row(row, day_first_at=day_first_at, today=today)
        if values is not None and values["mrn"] in seen:
            labels = _tidy(row)[1]
            problem = RowProblem(row.where, values["mrn"], {labels.get("mrn", "mrn"): [f"Repeats {seen[values['mrn']]}."]},
                                 row.values)
        if problem:
            result.problems.append(problem)
            continue
        seen[values["mrn"]] = row.where
        result.rows.append(values)
        result.notes.extend(notes)
    return result


def _raw_birth_date(row: SourceRow) -> str:
    return next((str(v) for k, v in row.values.items() if field_name(k) == "birth_date" and v is not None), "")


def _check_header(header: list[str], required: dict[str, str]) -> None:
    columns: dict[str, str] = {}
    for column in header:
        name = field_name(column)
        if name in FIELDS and name in columns:
            raise ValueError(f"The columns {columns[name]!r} and {column!r} both hold {name}: keep one.")
        columns[name] = column
    missing = [what for name, what in required.items() if name not in columns]
    if missing:
        raise ValueError(f"The file has no column for {', '.join(missing)}. The first line names the columns, "
                         "e.g. MRN,First Name,Last Name,DOB,Zip,Phone,Email.")


def parse_csv(text: str, *, required: dict[str, str] = REQUIRED_COLUMNS) -> list[SourceRow]:
    """Rows of a CSV file whose first line names the columns (common names: see ALIASES); each row's
    place is its line in the file, as an editor shows it."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise ValueError("The CSV file has no header row.")
    _check_header(list(reader.fieldnames), required)
    rows = []
    for record in reader:
        extra = record.pop(None, None)  # cells beyond the header's
        values = {k: v for k, v in record.items() if k is not None}
        line = reader.line_num - sum(str(v).count("\n") for v in values.values() if v)
        unreadable = {ROW: [f"{len(values) + len(extra)} cells, but the header names {len(values)}: a value holding "
                            "a comma needs quotes."]} if extra else {}
        rows.append(SourceRow(f"line {line}", values, unreadable=unreadable))
    return rows


def parse_fhir_bundle(text: str) -> list[SourceRow]:
    try:
        bundle = json_text.loads(text)
    except ValueError as exc:
        raise ValueError(f"The file is not JSON we accept: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("Expected a FHIR Bundle of Patient resources.")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise ValueError("entry: Not a valid list.")
    rows = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            rows.append(SourceRow(f"entry {index}", {}, unreadable={ROW: ["Not a JSON object."]}))
            continue
        problems = {f"resource.{path}" if path else "resource": texts
                    for path, texts in fhir_patient.problems(entry.get("resource")).items()}
        rows.append(SourceRow(f"entry {index}", {}, unreadable=problems) if problems else
                    SourceRow(f"entry {index}", fhir_patient.to_row(entry["resource"]), labels=FHIR_LABELS))
    return rows


def json_rows(rows: list[dict]) -> list[SourceRow]:
    """Rows sent as JSON objects, numbered from 1."""
    return [SourceRow(f"row {index}", row) for index, row in enumerate(rows, start=1)]


def parse_file(name: str, text: str) -> list[SourceRow]:
    """CSV by extension, FHIR JSON otherwise when it looks like JSON."""
    if name.lower().endswith(".csv"):
        return parse_csv(text)
    if name.lower().endswith((".json", ".ndjson")) or text.lstrip().startswith("{"):
        return parse_fhir_bundle(text)
    raise ValueError("Import a .csv file or a FHIR R4 Bundle (.json).")


def rejected_csv(problems: list[RowProblem]) -> str:
    """The rejected rows as they were read, each after its place and its problems: fix the cells and
    import this file again (the two extra columns are ignored)."""
    columns = list(dict.fromkeys(column for problem in problems for column in problem.values))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Rejected", "Problems", *columns])
    for problem in problems:
        writer.writerow([problem.row, "; ".join(problem.reasons()),
                         *(problem.values.get(column, "") for column in columns)])
    return out.getvalue()
