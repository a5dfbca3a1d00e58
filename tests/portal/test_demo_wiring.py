"""`make run`'s demo portals: the identity seed registers them (secrets written owner-only, kept
while they match, rotated when lost, or taken from the environment), the launcher wires each
portal process from that file, and the walk-through names what to open and who to be."""
from __future__ import annotations

import stat
from datetime import date
from types import SimpleNamespace

import pytest

from services.demo import portals as demo_portals
from services.demo.portal_clients import PORTALS, read_credentials, seed_account, seed_portals, write_credentials
from services.identity.domain import accounts, clients, secrets


def test_seed_registers_both_portals_and_writes_their_secrets_owner_only(rollback_session, tmp_path):
    session, path = rollback_session("identity"), tmp_path / "var" / "demo-portals.json"
    lines = seed_portals(session, {}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = read_credentials(path)
    for portal in PORTALS:
        client = clients.find(session, portal.client_id)
        assert client.first_party and client.practice_id == portal.practice_id
        assert client.redirect_uris == [f"http://127.0.0.1:{portal.default_port}/callback"]
        assert client.backchannel_logout_uri == f"http://127.0.0.1:{portal.default_port}/backchannel-logout"
        assert {"launch/patient", "patient/*.rs", "openid"} <= set(client.scope.split())
        assert secrets.matches(written[portal.practice_id]["client_secret"], client.secret_digest)
    assert len(lines) == len(PORTALS)


def test_seeding_again_keeps_matching_secrets_rotates_lost_ones_and_follows_moved_ports(rollback_session, tmp_path):
    session, path = rollback_session("identity"), tmp_path / "demo-portals.json"
    seed_portals(session, {}, path)
    first = read_credentials(path)
    seed_portals(session, {}, path)
    assert read_credentials(path) == first
    path.unlink()
    seed_portals(session, {"PORTAL_RIVERSIDE_PORT": "9101"}, path)
    again = read_credentials(path)
    assert again["riverside"]["client_secret"] != first["riverside"]["client_secret"]
    riverside = clients.find(session, "portal-riverside")
    assert secrets.matches(again["riverside"]["client_secret"], riverside.secret_digest)
    assert not secrets.matches(first["riverside"]["client_secret"], riverside.secret_digest)
    assert riverside.redirect_uris == ["http://127.0.0.1:9101/callback"]


def test_a_secret_chosen_in_the_environment_is_used_and_not_written(rollback_session, tmp_path):
    session, path = rollback_session("identity"), tmp_path / "demo-portals.json"
    chosen = "dev-only-riverside-portal-secret-0123456789"
    seed_portals(session, {"DEMO_PORTAL_RIVERSIDE_SECRET": chosen}, path)
    assert secrets.matches(chosen, clients.find(session, "portal-riverside").secret_digest)
    assert "riverside" not in read_credentials(path) and "hillside" in read_credentials(path)


def test_the_demo_account_is_sofia_at_hillside_with_her_son_and_seeding_is_idempotent(rollback_session):
    session = rollback_session("identity")
    seed_account(session)
    seed_account(session)
    account = accounts.find_by_username(session, "sofia.demo")
    links = {(l.practice_id, l.patient_id, l.relationship) for l in accounts.valid_links(session, account.id)}
    assert links == {("hillside", "hs-2002", "self"), ("hillside", "hs-2003", "proxy")}


def services_settings():
    return {name: SimpleNamespace(public_url=f"http://127.0.0.1:{port}")
            for name, port in (("identity", 8001), ("registration", 8002), ("notifications", 8003), ("records", 8004))}


def test_each_portal_process_gets_its_credentials_and_the_services_urls(tmp_path):
    write_credentials(tmp_path / "demo-portals.json", {
        "riverside": {"client_id": "portal-riverside", "client_secret": "r-secret"},
        "hillside": {"client_id": "portal-hillside", "client_secret": "h-secret"}})
    found = {p.portal.practice_id: p for p in demo_portals.processes({"PORTAL_HILLSIDE_PORT": "9102"},
                                                                     services_settings(), var_dir=tmp_path)}
    riverside, hillside = found["riverside"].env, found["hillside"].env
    assert (riverside["PORTAL_CLIENT_ID"], riverside["PORTAL_CLIENT_SECRET"], riverside["PORT"]) == (
        "portal-riverside", "r-secret", "8101")
    assert (hillside["PORTAL_CLIENT_SECRET"], hillside["PORT"], found["hillside"].url) == (
        "h-secret", "9102", "http://127.0.0.1:9102")
    assert riverside["PORTAL_ISSUER"] == "http://127.0.0.1:8001"
    assert riverside["PORTAL_RECORDS_URL"] == "http://127.0.0.1:8004"
    assert riverside["PORTAL_REGISTRATION_URL"] == "http://127.0.0.1:8002"
    assert riverside["PORTAL_SECRET_KEY"] != hillside["PORTAL_SECRET_KEY"]
    assert "r-secret" not in " ".join(found["riverside"].command), "secrets travel in the environment only"


def test_without_seeded_credentials_the_launcher_says_what_to_run(tmp_path):
    with pytest.raises(RuntimeError, match="carekey demo seed"):
        demo_portals.processes({}, services_settings(), var_dir=tmp_path)


def test_the_walk_through_names_the_portals_the_outbox_and_the_patients(tmp_path):
    write_credentials(tmp_path / "demo-portals.json", {
        p.practice_id: {"client_id": p.client_id, "client_secret": "x"} for p in PORTALS})
    portals = demo_portals.processes({}, services_settings(), var_dir=tmp_path)
    text = demo_portals.guide(services_settings(), portals, today=date(2026, 6, 1))
    for expected in ("http://127.0.0.1:8101", "http://127.0.0.1:8102", "http://127.0.0.1:8003/outbox",
                     "Riverside Family Practice", "Hillside Medical Group", "Mia Rivera", "sofia.demo"):
        assert expected in text
