"""Roster rows from files, and practice rules: pure parsing and validation, no database. What real
files do to a roster (spreadsheet damage, blank and impossible dates) and messages that name the file's
own line and column."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from services.registration.domain import birth_dates, fhir_patient, matching
from services.registration.domain.practices import PracticeError, PracticeSettings
from services.registration.domain.roster_formats import (BIRTH_DATE_UNKNOWN, ZIP_RESTORED, SourceRow, json_rows,
                                                         parse_csv, parse_file, rejected_csv, restore_zip,
                                                         validate_rows)

TODAY = date(2026, 12, 1)
HEADER = "MRN,First Name,Last Name,DOB,Zip Code,Mobile\n"


def _one(text: str):
    return validate_rows(parse_csv(HEADER + text), today=TODAY)


def test_csv_headers_as_offices_export_them():
    rows = parse_csv("\ufeffMRN,First Name,Last Name,Date of Birth,Sex,ZIP Code,Mobile,E-mail\n"
                     "a1, Ana ,Lopez,06/12/1985,F,97201-1234,555 555 0100,ana@mail.example\n")
    checked = validate_rows(rows, today=TODAY)
    assert checked.problems == [] and checked.notes == []
    assert checked.rows[0] | {} == {**checked.rows[0], "mrn": "a1", "given_name": "Ana", "family_name": "Lopez",
                                    "birth_date": date(1985, 6, 12), "sex": "female", "zip": "97201-1234",
                                    "email": "ana@mail.example"}


@pytest.mark.parametrize("text, expected", [
    ("1985-06-12", date(1985, 6, 12)), ("19850612", date(1985, 6, 12)), ("1985-06-12 00:00:00", date(1985, 6, 12)),
    ("1985-06-12T00:00:00Z", date(1985, 6, 12)), ("6/12/1985", date(1985, 6, 12)), ("06-12-1985", date(1985, 6, 12)),
    ("6/12/1985 0:00", date(1985, 6, 12)), ("6/12/1985 12:00:00 AM", date(1985, 6, 12)),
    ("6/12/85", date(1985, 6, 12)),           # 2085 would be in the future: the century is certain
    ("12/31/27", date(1927, 12, 31)),
    ("", None), ("unknown", None), ("N/A", None), ("-", None),
])
def test_the_date_forms_read(text, expected):
    assert birth_dates.read(text, TODAY) == expected


@pytest.mark.parametrize("text, error, says", [
    ("6/12/05", birth_dates.DateUnreadable, "1905 or 2005"),   # a centenarian or a child: never guessed
    ("31/12/1985", birth_dates.DateUnreadable, "12/31/1985"),  # day first: refused, with the fix
    ("12.06.1985", birth_dates.DateUnreadable, "1985-06-12"),
    ("June 12", birth_dates.DateUnreadable, "06/12/1985"),
    ("1985-06-12 13:45", birth_dates.DateUnreadable, "like"),
    ("02/30/1985", birth_dates.NoSuchDate, "no such day"),
    ("00/00/0000", birth_dates.NoSuchDate, "no such day"),
    ("2027-01-01", birth_dates.NoSuchDate, "future"),
    ("1900-01-01", birth_dates.NoSuchDate, "before 1901"),
])
def test_dates_that_are_refused_or_impossible(text, error, says):
    with pytest.raises(error, match=says):
        birth_dates.read(text, TODAY)


def test_problems_name_the_files_own_line_and_column():
    checked = _one("a1,Ann,Lee,1985-06-12,97201,\n"
                   'a2,"Bo\nBo",Ng,June 12,97201,555\n'       # a quoted cell over two lines: it starts on line 3
                   "a3,Cy,Oz,1985-01-01,ABCDE,\n")
    assert [(p.row, p.errors) for p in checked.problems] == [
        ("line 3", {"DOB": ["Use a date like 1985-06-12 or 06/12/1985."],
                    "Mobile": ["Use a phone number such as (555) 555-0123."]}),
        ("line 5", {"Zip Code": ["Use a US zip code: 12345 or 12345-6789."]})]
    assert checked.problems[1].messages() == ['line 5 (MRN a3), column "Zip Code": Use a US zip code: 12345 or '
                                              '12345-6789.']


def test_json_rows_and_fhir_entries_are_named_as_their_sender_names_them():
    checked = validate_rows(json_rows([{"mrn": "a", "first_name": "", "last_name": "B", "dob": "1985-01-01"}]))
    assert checked.problems[0].row == "row 1" and checked.problems[0].errors == {"first_name": ["Required, but "
                                                                                               "blank or missing."]}
    rows = parse_file("r.json", '{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", '
                                '"id": "p", "name": [{"family": "B", "given": ["A"]}], "birthDate": "1985-02-30",'
                                '"address": [{"postalCode": "123"}]}}]}')
    checked = validate_rows(rows, today=TODAY)
    assert checked.problems[0].row == "entry 1" and set(checked.problems[0].errors) == {"address.postalCode"}


@pytest.mark.parametrize("written, restored", [
    ("2134", "02134"), ("2134-1234", "02134-1234"), ("21341234", "021341234"), ("601", "00601"),
    ("97201", "97201"), ("97201-1234", "97201-1234"), ("123", "123"),  # 00123 is no US zip: left to be refused
])
def test_a_zip_code_that_lost_its_leading_zeros(written, restored):
    assert restore_zip(written) == restored


def test_restored_zips_and_unknown_birth_dates_are_imported_with_a_note():
    checked = _one("a1,Ann,Lee,1985-06-12,2134,\n"
                   "a2,Bo,Ng,,97201,\n"
                   "a3,Cy,Oz,02/30/1985,97201,\n"
                   "a4,Di,Po,unknown,97201,\n"
                   "a5,Ed,Qu,1900-01-01,97201,\n")
    assert checked.problems == []
    assert [(r["mrn"], r["zip"], r["birth_date"]) for r in checked.rows] == [
        ("a1", "02134", date(1985, 6, 12)), ("a2", "97201", None), ("a3", "97201", None), ("a4", "97201", None),
        ("a5", "97201", None)]
    assert [(n.kind, n.row, n.column) for n in checked.notes] == [
        (ZIP_RESTORED, "line 2", "Zip Code"), (BIRTH_DATE_UNKNOWN, "line 3", "DOB"),
        (BIRTH_DATE_UNKNOWN, "line 4", "DOB"), (BIRTH_DATE_UNKNOWN, "line 5", "DOB"),
        (BIRTH_DATE_UNKNOWN, "line 6", "DOB")]
    assert "no such day" in checked.notes[2].note


def test_a_file_writing_dates_day_first_has_its_ambiguous_dates_refused():
    checked = _one("a1,Ann,Lee,03/04/1985,97201,\n"   # read alone: March 4th
                   "a2,Bo,Ng,25/04/1990,97201,\n"     # day first: so is line 2 April 3rd?
                   "a3,Cy,Oz,05/05/1985,97201,\n"     # the same either way
                   "a4,Di,Po,1985-04-03,97201,\n")
    assert {p.row: list(p.errors) for p in checked.problems} == {"line 2": ["DOB"], "line 3": ["DOB"]}
    assert "line 3 writes its date day first" in checked.problems[0].errors["DOB"][0]
    assert [r["mrn"] for r in checked.rows] == ["a3", "a4"]


@pytest.mark.parametrize("text, message", [
    ("MRN,First,Surname,Zip\n", "no column for the date of birth"),
    ("First,Last,DOB\n", "no column for the MRN"),
    ("MRN,First,Last,DOB,Zip,Postal Code\n", "'Zip' and 'Postal Code' both hold zip"),
])
def test_a_file_without_a_required_column_or_with_two_for_one_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_csv(text)


def test_a_row_with_more_cells_than_the_header_and_a_nul_are_problems():
    checked = _one("a1,Ann,Lee,1985-06-12,97201,555 555 0100,12 Oak St\n"   # an unquoted comma shifted the row
                   "a2,B\x00o,Ng,1985-06-12,97201,\n")
    assert [(p.row, p.errors) for p in checked.problems] == [
        ("line 2", {"_row": ["7 cells, but the header names 6: a value holding a comma needs quotes."]}),
        ("line 3", {"First Name": ["Holds a NUL character."]})]


@pytest.mark.parametrize("row, field", [
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "31/12/1985"}, "birth_date"),
    ({"mrn": "a", "given_name": "A", "family_name": "B"}, "birth_date"),
    ({"mrn": "a b", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01"}, "mrn"),
    ({"mrn": "a", "given_name": "123", "family_name": "B", "birth_date": "1985-01-01"}, "given_name"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "zip": "97"}, "zip"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "email": "x@"}, "email"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "sex": "q"}, "sex"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "pin": "12"}, "pin"),
    ({"mrn": "a", "given_name": ["A"], "family_name": "B", "birth_date": "1985-01-01"}, "given_name"),
    ({"mrn": "a", "given_name": "A", "family_name": "B", "birth_date": "1985-01-01", "zip": ["2134"]}, "zip"),
])
def test_each_bad_field_is_named(row, field):
    checked = validate_rows([SourceRow("row 2", row)], today=TODAY)
    assert checked.rows == [] and field in checked.problems[0].errors and checked.problems[0].row == "row 2"


def test_numbers_a_spreadsheet_made_of_a_zip_and_an_mrn_are_read_as_text():
    checked = validate_rows(json_rows([{"mrn": 1001, "given_name": "A", "family_name": "B", "birth_date": None,
                                        "zip": 2134}]), today=TODAY)
    assert (checked.rows[0]["mrn"], checked.rows[0]["zip"], checked.rows[0]["birth_date"]) == ("1001", "02134", None)


def test_the_rejected_rows_report_can_be_fixed_and_imported_again():
    checked = _one("a1,Ann,Lee,31/12/1985,97201,\n"
                   "a2,Bo,Ng,1985-06-12,9720X,\n"
                   "a3,Cy,Oz,1985-06-12,97201,\n")
    report = rejected_csv(checked.problems)
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["Rejected", "Problems", "MRN", "First Name", "Last Name", "DOB", "Zip Code", "Mobile"]
    assert lines[1][:2] == ["line 2", 'column "DOB": 31/12/1985 reads day first (there is no month 31): write the '
                                      'month first, 12/31/1985, or use YYYY-MM-DD.']
    assert lines[2][0] == "line 3" and lines[2][6] == "9720X"
    fixed = report.replace("31/12/1985", "12/31/1985").replace("9720X", "97201")
    again = validate_rows(parse_csv(fixed), today=TODAY)
    assert again.problems == [] and [r["mrn"] for r in again.rows] == ["a1", "a2"]


def test_an_entry_with_an_unknown_birth_date_is_never_certain():
    """Rule 3 of the matcher: certain needs the date of birth on both sides. A record imported with its
    date unknown matches at most probable, however much else agrees (so only the phone on file, typed by
    the person, can prove it at registration)."""
    on_file = matching.Person(given="Ann", family="Lee", birth_date=None, sex="female", zip="97201",
                              phone="5555550100", email="ann.lee@mail.example", address="12 Oak St")
    query = matching.Person(given="Ann", family="Lee", birth_date=date(1985, 6, 12), sex="female", zip="97201",
                            phone="5555550100", email="ann.lee@mail.example", address="12 Oak St")
    assert matching.compare(query, on_file).grade == matching.PROBABLE
    assert matching.compare(query, on_file, matching.Thresholds(certain=0.5, probable=0.4, possible=0.3)).grade \
        != matching.CERTAIN


def test_fhir_patient_uses_the_mr_identifier_and_the_home_address():
    row = fhir_patient.to_row({"resourceType": "Patient", "id": "x",
                               "identifier": [{"value": "ssn"},
                                              {"type": {"coding": [{"code": "MR"}]}, "value": "mr-1"}],
                               "name": [{"use": "nickname", "given": ["Bo"]}, {"use": "official", "family": "Diaz",
                                                                               "given": ["Roberto", "Luis"]}],
                               "address": [{"use": "work", "postalCode": "10001"},
                                           {"use": "home", "postalCode": "97201"}],
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
    ({"match_per_minute": 0}, "match_per_minute"),
    ({"match_per_minute": 60_001}, "match_per_minute"),
    ({"match_per_minute": "600"}, "match_per_minute"),
    ({"match_per_minute": True}, "match_per_minute"),
    ({"colour": "blue"}, "Unknown"),
])
def test_practice_rules_are_checked(values, message):
    with pytest.raises(PracticeError, match=message):
        PracticeSettings.from_dict(values)


def test_practice_rules_round_trip():
    settings = PracticeSettings.from_dict({"paths": ["invitation"], "proxy": {"adult_proxy_days": 30},
                                           "match_per_minute": 1200})
    assert PracticeSettings.from_dict(settings.as_dict()) == settings
    assert settings.invitation_days == 14 and PracticeSettings().match_per_minute == 600
