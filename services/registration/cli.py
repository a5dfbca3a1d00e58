"""``carekey registration ...``: practices, roster imports, invitations and office codes."""
from __future__ import annotations

import json
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click

from services.registration import settings as registration_settings
from services.registration.domain import (audit, enrollment, invitations, match_queries, office_codes, practices,
                                          roster, roster_formats)
from services.registration.domain.practices import PracticeError, PracticeSettings
from shared.database import make_engine, make_session_factory, transaction

group = click.Group("registration", help="Registration: practices, rosters, invitations and matching.")


@contextmanager
def _unit_of_work():
    settings = registration_settings.load()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session, settings
    finally:
        engine.dispose()


def _practice(session, practice_id: str):
    found = practices.get(session, practice_id)
    if found is None:
        raise click.ClickException(f"No practice {practice_id!r}: create it with `carekey registration practice`.")
    return found


@group.command("practice")
@click.argument("practice_id")
@click.option("--name", help="The practice's name, as patients know it.")
@click.option("--settings", "settings_json", help="Registration rules as JSON (see the README), merged into the "
                                                  "current ones.")
def practice(practice_id: str, name: str | None, settings_json: str | None) -> None:
    """Create a practice or change its name and rules; prints the result."""
    try:
        changes = json.loads(settings_json) if settings_json else {}
        if not isinstance(changes, dict):
            raise click.ClickException("--settings takes a JSON object.")
        with _unit_of_work() as (session, _):
            current = practices.get(session, practice_id)
            if current is None and not name:
                raise click.ClickException("A new practice needs --name.")
            merged = {**(current.settings.as_dict() if current else {}), **changes}
            view = practices.save(session, practice_id, name=name or current.name,
                                  settings=PracticeSettings.from_dict(merged))
            described = {"id": view.id, "name": view.name, "settings": view.settings.as_dict()}
    except (PracticeError, json.JSONDecodeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(described, indent=2))


@group.group("roster")
def roster_group() -> None:
    """A practice's roster: the demographics the office has on file."""


@roster_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--practice", "practice_id", required=True)
@click.option("--skip-invalid", is_flag=True, help="Import the good rows; write the rejected ones, with their "
                                                   "problems, to the --report file. Without it, any bad row "
                                                   "imports nothing.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="With --skip-invalid: where the rejected rows go (CSV; default FILE.rejected.csv). Fix the "
                   "cells and import it again.")
def import_roster(file: Path, practice_id: str, skip_invalid: bool, report: Path | None) -> None:
    """Import a CSV file or a FHIR R4 Bundle of Patients; upserts by MRN."""
    if report and not skip_invalid:
        raise click.UsageError("--report goes with --skip-invalid.")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("The file is not UTF-8 text.") from None
    try:
        rows = roster_formats.parse_file(file.name, text)
        with _unit_of_work() as (session, settings):
            _practice(session, practice_id)
            result = roster.import_rows(session, practice_id, rows, pepper=settings.secret_key,
                                        skip_invalid=skip_invalid)
    except roster.RosterRejected as exc:
        for problem in exc.problems:
            for line in problem.messages():
                click.echo(line, err=True)
        raise click.ClickException(f"{exc} Fix them, or import the good rows with --skip-invalid.") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    restored = [note for note in result.notes if note.kind == roster_formats.ZIP_RESTORED]
    for note in result.notes:
        if note.kind != roster_formats.ZIP_RESTORED:
            click.echo(note.message(), err=True)
    if restored:
        click.echo(f"restored the leading zeros a spreadsheet dropped from {len(restored)} zip codes "
                   f"(first: {restored[0].message()})", err=True)
    click.echo(f"imported {result.created + result.updated} rows: {result.created} new, {result.updated} updated")
    if result.rejected:
        report = report or file.with_name(file.name + ".rejected.csv")
        report.write_text(roster_formats.rejected_csv(result.rejected), encoding="utf-8")
        click.echo(f"rejected {len(result.rejected)} rows: each with its problems in {report}")


@group.command("match")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--practice", "practice_id", required=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the CSV here "
              "(default: standard output).")
def match(file: Path, practice_id: str, output: Path | None) -> None:
    """Match every query in FILE (CSV with a roster's columns, or a FHIR Bundle of Parameters or
    Patients) against the practice's roster: one CSV line per query with the best candidate's grade,
    score and MRN (see the README)."""
    try:
        queries = match_queries.read_file(file.name, file.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise click.ClickException("The file is not UTF-8 text.") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    with _unit_of_work() as (session, _):
        found = _practice(session, practice_id)
        limits = enrollment.thresholds(found)
        answered = ((query, roster.search(session, found.id, query.query.person, limits, limit=query.query.count,
                                          only_certain=query.query.only_certain) if query.query else [])
                    for query in queries)
        with output.open("w", encoding="utf-8") if output else nullcontext() as out:
            for line in match_queries.results_csv(answered):
                click.echo(line, nl=False, file=out)
        audit.record(session, "match", "answered", practice_id=found.id, actor="cli", ip=None, batch=len(queries))


@group.command("invite")
@click.option("--practice", "practice_id", required=True)
@click.option("--mrn", required=True)
def invite(practice_id: str, mrn: str) -> None:
    """Email an invitation to the patient (a resend voids the earlier link)."""
    with _unit_of_work() as (session, settings):
        found = _practice(session, practice_id)
        entry = roster.by_mrn(session, practice_id, mrn)
        if entry is None:
            raise click.ClickException(f"No MRN {mrn!r} on {practice_id}'s roster.")
        try:
            sent = invitations.invite(session, found, entry, public_url=settings.public_url,
                                      pepper=settings.secret_key)
        except invitations.InvitationError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(json.dumps(invitations.describe(sent.invitation), indent=2))


@group.command("code")
@click.option("--practice", "practice_id", required=True)
@click.option("--mrn", required=True)
@click.option("--kind", type=click.Choice(office_codes.KINDS), default="security", show_default=True)
@click.option("--relationship", type=click.Choice(office_codes.RELATIONSHIPS), help="For a proxy code.")
@click.option("--patient-agreed", is_flag=True, help="For a proxy code: the teen's or adult's agreement is on file.")
def code(practice_id: str, mrn: str, kind: str, relationship: str | None, patient_agreed: bool) -> None:
    """Issue an office security code or proxy code; prints it once, to hand to the person."""
    with _unit_of_work() as (session, settings):
        found = _practice(session, practice_id)
        entry = roster.by_mrn(session, practice_id, mrn)
        if entry is None:
            raise click.ClickException(f"No MRN {mrn!r} on {practice_id}'s roster.")
        try:
            row, value = office_codes.issue(session, found, entry, kind, pepper=settings.secret_key,
                                            relationship=relationship)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        row.patient_agreed = patient_agreed
        click.echo(f"{kind} code for {mrn}: {value} (expires {row.expires_at:%Y-%m-%d})")
