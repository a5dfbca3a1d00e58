"""``carekey registration ...``: practices, roster imports, invitations and office codes."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import click

from services.registration import settings as registration_settings
from services.registration.domain import invitations, office_codes, practices, roster, roster_formats
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
def import_roster(file: Path, practice_id: str) -> None:
    """Import a CSV file or a FHIR R4 Bundle of Patients; upserts by MRN; any bad row imports nothing."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("The file is not UTF-8 text.") from None
    try:
        raw = roster_formats.parse_file(file.name, text)
        with _unit_of_work() as (session, settings):
            _practice(session, practice_id)
            result = roster.import_rows(session, practice_id, raw, pepper=settings.secret_key)
    except roster.RosterRejected as exc:
        for problem in exc.problems:
            detail = "; ".join(f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                               for field, msgs in problem.errors.items())
            click.echo(f"{problem.row}{' (MRN ' + problem.mrn + ')' if problem.mrn else ''}: {detail}", err=True)
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {result.created + result.updated} rows: {result.created} new, {result.updated} updated")


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
