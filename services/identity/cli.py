"""``carekey identity ...``: clients, signing keys and accounts."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta

import click

from services.identity import settings as identity_settings
from services.identity.domain import accounts, clients
from services.identity.domain.keys import KeyRing
from shared.database import make_engine, make_session_factory, transaction

group = click.Group("identity", help="Identity provider: clients, signing keys and accounts.")


def _sessions():
    settings = identity_settings.load()
    return settings, make_session_factory(make_engine(settings.database_url))


@contextmanager
def _unit_of_work():
    _, factory = _sessions()
    with transaction(factory) as session:
        yield session


def _echo(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _fail(message: str):
    raise click.ClickException(message)


@group.group("clients")
def clients_group() -> None:
    """Register and manage OAuth/OIDC clients."""


@clients_group.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option("--first-party", is_flag=True, help="A practice's own portal: no consent page.")
@click.option("--practice", "practice_id")
@click.option("--scope", default="openid profile email")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]))
@click.option("--auth-method", "token_endpoint_auth_method", type=click.Choice(clients.AUTH_METHODS))
@click.option("--id-token-alg", "id_token_signed_response_alg", type=click.Choice(["ES256", "RS256"]), default="ES256")
@click.option("--subject-type", type=click.Choice(["pairwise", "public"]), default="pairwise")
@click.option("--sector-identifier")
@click.option("--jwks", "jwks_json", help="The client's public keys (JWKS JSON) for private_key_jwt.")
@click.option("--client-id", help="Choose the client id (default: random).")
def create(jwks_json, client_id, grant_types, **options):
    """Register a client; prints it as JSON, with client_secret once for confidential clients."""
    try:
        spec = clients.ClientSpec(**{**options, "redirect_uris": list(options["redirect_uris"]),
                                     "post_logout_redirect_uris": list(options["post_logout_redirect_uris"]),
                                     "grant_types": list(grant_types) or None,
                                     "jwks": json.loads(jwks_json) if jwks_json else None})
        with _unit_of_work() as session:
            if client_id and clients.find(session, client_id):
                _fail(f"client {client_id} exists already")
            client, secret = clients.create_client(session, spec, client_id=client_id)
            body = clients.describe(client)
    except (clients.ClientError, json.JSONDecodeError) as exc:
        _fail(str(exc))
    if secret:
        body["client_secret"] = secret
    _echo(body)


@clients_group.command("list")
def list_():
    with _unit_of_work() as session:
        _echo([clients.describe(c) for c in clients.list_clients(session)])


@clients_group.command("show")
@click.argument("client_id")
def show(client_id):
    with _unit_of_work() as session:
        client = clients.find(session, client_id) or _fail(f"no client {client_id}")
        _echo(clients.describe(client))


@clients_group.command("update")
@click.argument("client_id")
@click.option("--name")
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--scope")
@click.option("--practice", "practice_id")
@click.option("--rotate-secret", is_flag=True)
def update(client_id, rotate_secret, **options):
    """Change a client; list options replace the stored lists."""
    changes = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items() if v not in (None, ())}
    try:
        with _unit_of_work() as session:
            client = clients.find(session, client_id) or _fail(f"no client {client_id}")
            clients.update_client(session, client, changes)
            body = clients.describe(client)
            if rotate_secret:
                body["client_secret"] = clients.rotate_secret(client)
    except clients.ClientError as exc:
        _fail(str(exc))
    _echo(body)


@clients_group.command("disable")
@click.argument("client_id")
def disable(client_id):
    with _unit_of_work() as session:
        client = clients.find(session, client_id) or _fail(f"no client {client_id}")
        clients.disable_client(client)
        _echo(clients.describe(client))


@group.group("keys")
def keys_group() -> None:
    """Signing keys."""


def _keyring() -> KeyRing:
    settings, factory = _sessions()
    return KeyRing(factory, settings.key_encryption_key,
                   retire_after=timedelta(seconds=max(settings.access_token_ttl, settings.id_token_ttl) + 300))


@keys_group.command("rotate")
@click.option("--alg", type=click.Choice(["ES256", "RS256", "all"]), default="all")
def rotate(alg):
    """Sign with the published next key; publish a new next key; keep the old one until its tokens expire."""
    ring = _keyring()
    ring.ensure()
    _echo([ring.rotate(a) for a in (("ES256", "RS256") if alg == "all" else (alg,))])


@keys_group.command("list")
def list_keys():
    ring = _keyring()
    ring.ensure()
    _echo(ring.describe())


@keys_group.command("prune")
def prune():
    """Remove retired keys whose tokens have all expired."""
    click.echo(f"removed {_keyring().prune()} retired keys")


@group.group("accounts")
def accounts_group() -> None:
    """Accounts (registration creates them; this is for tests and demos)."""


@accounts_group.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--email")
@click.option("--given-name")
@click.option("--family-name")
@click.option("--birth-date", type=click.DateTime(formats=["%Y-%m-%d"]))
def create_account(username, password, email, given_name, family_name, birth_date):
    try:
        with _unit_of_work() as session:
            account = accounts.create_account(session, username=username, password=password, email=email,
                                              given_name=given_name, family_name=family_name,
                                              birth_date=birth_date.date() if birth_date else None,
                                              policy=identity_settings.load().password_policy())
            _echo(accounts.describe_account(account))
    except accounts.AccountError as exc:
        _fail(str(exc))


@accounts_group.command("link")
@click.option("--username", required=True)
@click.option("--practice", "practice_id", required=True)
@click.option("--patient", "patient_id", required=True)
@click.option("--relationship", type=click.Choice(["self", "proxy"]), default="self")
@click.option("--display-name", required=True)
def link(username, practice_id, patient_id, relationship, display_name):
    """Let an account act for a practice's patient."""
    with _unit_of_work() as session:
        account = accounts.find_by_username(session, username) or _fail(f"no account {username}")
        _echo(accounts.describe_link(accounts.link_patient(
            session, account, practice_id=practice_id, patient_id=patient_id, relationship=relationship,
            display_name=display_name)))
