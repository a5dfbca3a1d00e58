"""Roster imports that real files survive, over the operator API and the command line: spreadsheet
damage repaired and noted, unknown birth dates, messages naming the file's own line and column, and
``on_error=skip`` / ``--skip-invalid`` importing the good rows with a report of the rest, while the
default stays all or nothing."""
from __future__ import annotations

import csv
import io
import uuid

import pytest

from tests.registration.conftest import registration_cli, unique_family

HEADER = "MRN,First Name,Last Name,DOB,Zip Code,Mobile,Email\n"


def _file() -> tuple[str, list[str]]:
    """Three good rows (one zip missing its zero, one blank birth date) and two bad ones."""
    mrns = [f"s-{uuid.uuid4().hex[:6]}" for _ in range(5)]
    lines = [f"{mrns[0]},Ann,{unique_family()},06/13/85,2134,(555) 555-0101,",
             f"{mrns[1]},Bo,{unique_family()},,97201,,",
             f"{mrns[2]},Cy,{unique_family()},31/12/1980,97201,,",      # day first: refused
             f"{mrns[3]},Di,{unique_family()},1985-06-12,9720X,,",       # not a zip
             f"{mrns[4]},Ed,{unique_family()},1985-06-12,97201,,ed@mail.example"]
    return HEADER + "\n".join(lines) + "\n", mrns


def _post_csv(operator, practice, text: str, **params):
    return operator.call("POST", f"/api/practices/{practice.id}/roster", data=text.encode(), params=params,
                         headers={"Content-Type": "text/csv"})


def test_by_default_a_file_with_bad_rows_imports_nothing_and_names_lines_and_columns(operator, practice):
    text, mrns = _file()
    response = _post_csv(operator, practice, text)
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
    problems = {p["row"]: p["errors"] for p in response.json()["problems"]}
    assert set(problems) == {"line 4", "line 5"}
    assert list(problems["line 4"]) == ["DOB"] and "12/31/1980" in problems["line 4"]["DOB"][0]
    assert list(problems["line 5"]) == ["Zip Code"]
    assert all(operator.call("GET", f"/api/practices/{practice.id}/roster/{m}").status_code == 404 for m in mrns)


def test_on_error_skip_imports_the_good_rows_and_lists_the_rest(operator, practice):
    text, mrns = _file()
    response = _post_csv(operator, practice, text, on_error="skip")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"]) == (3, 0)
    assert [(p["row"], p["mrn"], list(p["errors"])) for p in body["rejected"]] == [
        ("line 4", mrns[2], ["DOB"]), ("line 5", mrns[3], ["Zip Code"])]
    assert [(n["kind"], n["row"], n["column"]) for n in body["notes"]] == [
        ("zip_restored", "line 2", "Zip Code"), ("birth_date_unknown", "line 3", "DOB")]
    first = operator.call("GET", f"/api/practices/{practice.id}/roster/{mrns[0]}").json()
    assert (first["zip"], first["birth_date"]) == ("02134", "1985-06-13")
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/{mrns[1]}").json()["birth_date"] is None
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/{mrns[2]}").status_code == 404
    audit = operator.call("GET", f"/api/practices/{practice.id}/audit?action=roster").json()[0]
    assert audit["details"] == {"created": 3, "updated": 0, "rejected": 2}


@pytest.mark.parametrize("value", ["ignore", "", "SKIP"])
def test_on_error_takes_reject_or_skip_only(operator, practice, value):
    response = _post_csv(operator, practice, _file()[0], on_error=value)
    assert response.status_code == 400 and "on_error" in response.json()["detail"]


def test_a_fhir_bundle_without_birth_dates_imports_them_as_unknown(operator, practice):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"value": f"u-{uuid.uuid4().hex[:6]}"}],
                      "name": [{"family": unique_family(), "given": ["Lee"]}],
                      "address": [{"postalCode": "601"}]}}]}
    response = operator.call("POST", f"/api/practices/{practice.id}/roster", json=bundle)
    assert response.status_code == 200, response.text
    assert [(n["kind"], n["row"], n["column"]) for n in response.json()["notes"]] == [
        ("zip_restored", "entry 1", "address.postalCode"), ("birth_date_unknown", "entry 1", "birthDate")]
    mrn = bundle["entry"][0]["resource"]["identifier"][0]["value"]
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/{mrn}").json()["zip"] == "00601"


def test_the_cli_skips_invalid_rows_into_a_report_that_can_be_fixed_and_imported(tmp_path, suite, practice,
                                                                                   operator):
    text, mrns = _file()
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    refused = registration_cli(suite, "roster", "import", str(roster), "--practice", practice.id)
    assert refused.returncode != 0 and "nothing was imported" in refused.stderr and "--skip-invalid" in refused.stderr
    assert f'line 5 (MRN {mrns[3]}), column "Zip Code": Use a US zip code' in refused.stderr
    assert not (tmp_path / "roster.csv.rejected.csv").exists()
    assert registration_cli(suite, "roster", "import", str(roster), "--practice", practice.id, "--report",
                str(tmp_path / "r.csv")).returncode == 2  # --report goes with --skip-invalid

    done = registration_cli(suite, "roster", "import", str(roster), "--practice", practice.id, "--skip-invalid")
    assert done.returncode == 0, done.stderr
    report = tmp_path / "roster.csv.rejected.csv"
    assert "imported 3 rows: 3 new" in done.stdout and f"rejected 2 rows: each with its problems in {report}" \
        in done.stdout
    assert f'line 3 (MRN {mrns[1]}), column "DOB": Blank or not known: imported as unknown.' in done.stderr
    assert "restored the leading zeros a spreadsheet dropped from 1 zip codes (first: line 2" in done.stderr
    rejected = list(csv.DictReader(io.StringIO(report.read_text())))
    assert [(r["Rejected"], r["MRN"]) for r in rejected] == [("line 4", mrns[2]), ("line 5", mrns[3])]
    assert rejected[1]["Problems"].startswith('column "Zip Code": ')

    report.write_text(report.read_text().replace("31/12/1980", "12/31/1980").replace("9720X", "97201"))
    again = registration_cli(suite, "roster", "import", str(report), "--practice", practice.id)
    assert again.returncode == 0, again.stderr
    assert "imported 2 rows: 2 new" in again.stdout
    assert operator.call("GET", f"/api/practices/{practice.id}/roster/{mrns[2]}").json()["birth_date"] == "1980-12-31"
