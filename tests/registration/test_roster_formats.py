"""Roster rows from files, and practice rules: pure parsing and validation, no database."""
from __future__ import annotations

from datetime import date

import pytest

from services.registration.domain import fhir_patient
from services.registration.domain.practices import PracticeError, PracticeSettings
from services.registration.domain.roster_formats import parse_csv, parse_file, validate_rows


def test_csv_headers_as_offices_export_them():
    rows = parse_csv("\ufeffMRN,First Name,Last Name,Date of Birth,Sex,ZIP Code,Mobile\n"
                     "a1, Ana ,Lopez,06/12/1985,F,97201-1234,555 555 0100\n")
    good, problems = validate_rows(rows)
    assert problems == []
    assert good[0] | {} == {**good[0], "mrn": "a1", "given_name": "Ana", "family_name": "Lopez",
                            "birth_date": date(1985, 6, 12), "sex": "female", "zip": "97201-1234"}


@pytest.mark.parametrize("row, field", [
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-02-30"}, "birth_date"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "2999-01-01"}, "birth_date"),
    ({"mrn": "a b", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01"}, "mrn"),
    ({"mrn": "a", "given_name": "123", "family_name": "B", "birth_date": "1985-01-01"}, "given_name"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "zip": "9720"}, "zip"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "email": "x@"}, "email"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "sex": "q"}, "sex"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "pin": "12"}, "pin"),
])
def test_each_bad_field_is_named(row, field):
    good, problems = validate_rows([("row 2", row)])
    assert good == [] and field in problems[0].errors and problems[0].row == "row 2"


def test_fhir_patient_uses_the_mr_identifier_and_the_home_address():
    row = fhir_patient.to_row({"resourceType": "Patient", "id": "x",
                          "identifier": [{"value": "ssn"}, {"type": {"coding": [{"code": "MR"}]}, "value": "mr-1"}],
                          "name": [{"use": "nickname", "given": ["Bo"]}, {"use": "official", "family": "Diaz",
                                                                          "given": ["Roberto", "Luis"]}],
                          "address": [{"use": "work", "postalCode": "10001"}, {"use": "home", "postalCode": "97201"}],
                          "birthDate": "1970-01-02"})
    assert (row["mrn"], row["given_name"], row["middle_name"], row["family_name"], row["zip"]) == \
        ("mr-1", "Roberto", "Luis", "Diaz", "97201")


@pytest.mark.parametrize("name, text, message", [
    ("roster.txt", "hello", "Import a .csv file"),
    ("roster.json", "{not json", "not JSON"),
    ("roster.json", '{"resourceType": "Patient"}', "Bundle"),
    ("roster.csv", "", "header"),
])
def test_unreadable_files_are_refused_clearly(name, text, message):
    with pytest.raises(ValueError, match=message):
        parse_file(name, text)


@pytest.mark.parametrize("values, message", [
    ({"paths": ["fax"]}, "paths"),
    ({"code_channels": [], "office_pin": False}, "at least one way"),
    ({"invitation_days": 0}, "invitation_days"),
    ({"certain_threshold": 0.5, "probable_threshold": 0.7}, "certain"),
    ({"proxy": {"full_access_under": 19, "teen_until": 18}}, "Proxy ages"),
    ({"colour": "blue"}, "Unknown"),
])
def test_practice_rules_are_checked(values, message):
    with pytest.raises(PracticeError, match=message):
        PracticeSettings.from_dict(values)


def test_practice_rules_round_trip():
    settings = PracticeSettings.from_dict({"paths": ["invitation"], "proxy": {"adult_proxy_days": 30}})
    assert PracticeSettings.from_dict(settings.as_dict()) == settings
    assert settings.invitation_days == 14
