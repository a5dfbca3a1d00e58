"""``carekey records ...``: each practice's access rules, teen consents, result releases, and
loading a practice's records into the built-in store."""
from __future__ import annotations

import json
from contextlib import contextmanager

import click

from services.records import settings as records_settings
from services.records.db.models import Practice
from services.records.db.repositories import save_practice, set_teen_consent
from services.records.domain.policy import RELEASE_TAG, is_released
from services.records.sources.store import put, set_shared
from shared.database import make_engine, make_session_factory, transaction

group = click.Group("records", help="Records gateway: FHIR R4 reads for patients and their proxies.")


@contextmanager
def _unit_of_work():
    settings = records_settings.load()
    with transaction(make_session_factory(make_engine(settings.database_url))) as session:
        yield session


def _describe(row: Practice) -> dict:
    return {"id": row.id, "name": row.name, "notes_enabled": row.notes_enabled,
            "proxy_full_under": row.proxy_full_under, "adult_at": row.adult_at}


@group.command("practice")
@click.argument("practice_id")
@click.option("--name")
@click.option("--notes/--no-notes", "notes_enabled", default=None,
              help="Serve clinical notes (on for a new practice; see the README on information blocking).")
@click.option("--proxy-full-under", type=int, help="Proxies see everything for patients younger than this (12).")
@click.option("--adult-at", type=int, help="From this age a patient is an adult (18); between the two, a proxy "
                                           "needs the teen's consent.")
def practice(practice_id: str, **changes) -> None:
    """Create a practice's access rules, or change them; prints the result."""
    try:
        with _unit_of_work() as session:
            row = save_practice(session, practice_id, **changes)
            described = _describe(row)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(described, indent=2))


@group.command("teen-consent")
@click.argument("practice_id")
@click.argument("patient_id")
@click.option("--withdraw", is_flag=True, help="The teen no longer agrees.")
def teen_consent(practice_id: str, patient_id: str, withdraw: bool) -> None:
    """Record that a teen agreed (or no longer agrees) that their proxies may see their records."""
    with _unit_of_work() as session:
        set_teen_consent(session, practice_id, patient_id, not withdraw)
    click.echo(f"{practice_id}/{patient_id}: teen consent {'withdrawn' if withdraw else 'on file'}")


@group.command("release")
@click.argument("practice_id")
@click.argument("resource_type", type=click.Choice(["Observation", "DiagnosticReport"]))
@click.argument("resource_id")
@click.option("--withdraw", is_flag=True)
def release(practice_id: str, resource_type: str, resource_id: str, withdraw: bool) -> None:
    """Release a lab result in the built-in store to the patient (or withdraw it)."""
    with _unit_of_work() as session:
        if not set_shared(session, practice_id, resource_type, resource_id, not withdraw):
            raise click.ClickException(f"no {resource_type}/{resource_id} at {practice_id}")
    click.echo(f"{practice_id}: {resource_type}/{resource_id} {'withdrawn' if withdraw else 'released'}")


@group.command("load")
@click.argument("practice_id")
@click.argument("bundle", type=click.File("r"))
def load(practice_id: str, bundle) -> None:
    """Load a FHIR R4 Bundle (JSON) into the built-in store for a practice. Lab results tagged
    ``https://carekey.example/release|shared`` are released; the rest are held."""
    try:
        document = json.load(bundle)
        resources = [entry["resource"] for entry in document.get("entry", [])]
        with _unit_of_work() as session:
            for resource in resources:
                put(session, practice_id, resource, shared=is_released(resource))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.ClickException(f"cannot load {bundle.name}: {exc}") from None
    click.echo(f"{practice_id}: loaded {len(resources)} resources (release tag: {RELEASE_TAG}|shared)")
