"""Signing keys: encrypted at rest, rotated through a published ``next`` key, retired keys kept in
the JWKS until their tokens have expired, then pruned; and the ``carekey identity keys`` commands."""
from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidTag
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import select, update

from services.identity.db.models import SigningKey
from services.identity.domain.keys import KeyEncryptor, KeyRing
from shared.database import transaction
from tests.identity.steps import bearer, decode, login_and_exchange

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def _rows(identity_db) -> list[SigningKey]:
    with identity_db() as session:
        return list(session.scalars(select(SigningKey)).all())


def _row(identity_db, kid: str) -> SigningKey | None:
    with identity_db() as session:
        return session.get(SigningKey, kid)


def _app_keyring(identity_app) -> KeyRing:
    return identity_app.extensions["carekey.identity"].keyring


def _published_kids(api, identity_app) -> set[str]:
    _app_keyring(identity_app).invalidate()
    return {key["kid"] for key in api.get("/.well-known/jwks.json").json["keys"]}


def _header_kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


# -- encryption at rest ------------------------------------------------------------------------
def test_private_keys_are_stored_encrypted_and_bound_to_their_kid(api, identity_db, suite):
    assert api.get("/.well-known/jwks.json").status_code == 200  # the app has made its first keys
    rows = _rows(identity_db)
    assert {row.alg for row in rows if row.state == "active"} == {"ES256", "RS256"}
    kek = suite.settings["identity"].key_encryption_key
    right = KeyEncryptor(kek)
    for row in rows:
        stored = row.private_jwk_encrypted
        assert '"d"' not in stored and "{" not in stored, "no JSON plaintext at rest"
        raw = base64.b64decode(stored, validate=True)
        assert b'"d"' not in raw and b'"kty"' not in raw
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw.decode("latin-1"))

        plaintext = right.decrypt(stored, row.kid)
        private = json.loads(plaintext)
        assert private["d"] and private["kty"] == row.public_jwk["kty"]
        public_members = ("x", "y") if row.alg == "ES256" else ("n", "e")
        assert all(private[m] == row.public_jwk[m] for m in public_members), "it is this row's key pair"
        assert plaintext not in raw and private["d"].encode() not in raw

        other_kek = os.urandom(32)
        assert other_kek != kek
        with pytest.raises(InvalidTag):
            KeyEncryptor(other_kek).decrypt(stored, row.kid)
        with pytest.raises(InvalidTag):
            right.decrypt(stored, row.kid[::-1] if row.kid[::-1] != row.kid else row.kid + "x")
        other_row = next(r for r in rows if r.kid != row.kid)
        with pytest.raises(InvalidTag):  # moved to another row, it does not decrypt
            right.decrypt(stored, other_row.kid)


def test_key_encryptor_uses_a_fresh_nonce_and_detects_tampering():
    encryptor = KeyEncryptor(os.urandom(32))
    first, second = encryptor.encrypt(b'{"d": "secret"}', "kid-1"), encryptor.encrypt(b'{"d": "secret"}', "kid-1")
    assert first != second
    assert encryptor.decrypt(first, "kid-1") == encryptor.decrypt(second, "kid-1") == b'{"d": "secret"}'
    raw = bytearray(base64.b64decode(first))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        encryptor.decrypt(base64.b64encode(bytes(raw)).decode(), "kid-1")


# -- rotation ----------------------------------------------------------------------------------
def _sign_in(browser, api, make_client, make_account) -> dict:
    token, _ = login_and_exchange(browser, api, make_client(), make_account())
    return token


def test_rotation_publishes_next_before_it_signs_keeps_retired_keys_then_prunes_them(
        browser, api, identity_app, identity_db, make_client, make_account, suite):
    app_ring = _app_keyring(identity_app)
    api.get("/.well-known/jwks.json")
    ring = KeyRing(identity_db, suite.settings["identity"].key_encryption_key, retire_after=timedelta(minutes=20))

    app_ring.invalidate()
    old_token = _sign_in(browser, api, make_client, make_account)
    old_kid = decode(api, old_token["id_token"]).header["kid"]
    assert _row(identity_db, old_kid).state == "active" and _row(identity_db, old_kid).alg == "ES256"
    assert _header_kid(old_token["access_token"]) == old_kid

    # first rotation: a key becomes active, a fresh next key is published, the old one is retired
    first = ring.rotate("ES256")
    assert first["alg"] == "ES256" and len({first["active"], first["next"], old_kid}) == 3
    retired = _row(identity_db, old_kid)
    assert retired.state == "retired" and retired.retired_at is not None
    publish_until = retired.publish_until.replace(tzinfo=retired.publish_until.tzinfo or UTC)
    assert timedelta(minutes=19) < publish_until - datetime.now(UTC) <= timedelta(minutes=20)
    assert _row(identity_db, first["active"]).state == "active"
    assert _row(identity_db, first["next"]).state == "next"
    assert {r.kid for r in _rows(identity_db) if r.alg == "ES256" and r.state == "active"} == {first["active"]}

    published = _published_kids(api, identity_app)
    assert {old_kid, first["active"], first["next"]} <= published
    # tokens signed before the rotation still verify against the published keys, and still work here
    assert decode(api, old_token["id_token"]).claims["aud"]
    assert api.get("/userinfo", headers=bearer(old_token["access_token"])).status_code == 200

    app_ring.invalidate()
    after_first = _sign_in(browser, api, make_client, make_account)
    assert decode(api, after_first["id_token"]).header["kid"] == first["active"]
    assert _header_kid(after_first["access_token"]) == first["active"]
    assert first["next"] not in {_header_kid(after_first["id_token"]), _header_kid(after_first["access_token"])}

    # second rotation: the key published as next (never used to sign) is the one that signs now
    second = ring.rotate("ES256")
    assert second["active"] == first["next"] and second["next"] not in (first["active"], first["next"])
    assert _row(identity_db, first["active"]).state == "retired"
    app_ring.invalidate()
    after_second = _sign_in(browser, api, make_client, make_account)
    assert decode(api, after_second["id_token"]).header["kid"] == first["next"]
    assert {old_kid, first["active"], first["next"], second["next"]} <= _published_kids(api, identity_app)

    # nothing expired yet: prune keeps every retired key
    assert ring.prune() == 0
    assert _row(identity_db, old_kid) is not None

    # once the oldest key's tokens have all expired, prune removes it and the JWKS drops it
    with transaction(identity_db) as session:
        session.execute(update(SigningKey).where(SigningKey.kid == old_kid)
                        .values(publish_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert old_kid not in _published_kids(api, identity_app), "an expired retired key is not published"
    assert ring.prune() == 1
    assert _row(identity_db, old_kid) is None
    published = _published_kids(api, identity_app)
    assert old_kid not in published and {first["active"], first["next"], second["next"]} <= published
    with pytest.raises((JoseError, ValueError)):
        decode(api, old_token["id_token"])
    assert api.get("/userinfo", headers=bearer(old_token["access_token"])).status_code == 401
    assert api.get("/userinfo", headers=bearer(after_first["access_token"])).status_code == 200


def test_rotate_refuses_an_unknown_algorithm(identity_db, suite):
    ring = KeyRing(identity_db, suite.settings["identity"].key_encryption_key, retire_after=timedelta(minutes=5))
    before = {(r.kid, r.state) for r in _rows(identity_db)}
    with pytest.raises(ValueError):
        ring.rotate("HS256")
    assert {(r.kid, r.state) for r in _rows(identity_db)} == before


def test_next_key_is_published_but_its_private_part_never_is(api, identity_app, identity_db, suite):
    ring = KeyRing(identity_db, suite.settings["identity"].key_encryption_key, retire_after=timedelta(minutes=20))
    api.get("/.well-known/jwks.json")
    rotated = ring.rotate("ES256")
    _app_keyring(identity_app).invalidate()
    keys = {key["kid"]: key for key in api.get("/.well-known/jwks.json").json["keys"]}
    upcoming = keys[rotated["next"]]
    assert upcoming["alg"] == "ES256" and upcoming["use"] == "sig" and not PRIVATE_MEMBERS & set(upcoming)
    ECKey.import_key(upcoming)  # a usable public key


# -- the command line --------------------------------------------------------------------------
def _cli_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IDENTITY_", "CAREKEY_")) and k not in ("DATABASE_URL", "AMQP_URL")}
    env.update(CAREKEY_ENV="test", IDENTITY_DATABASE_URL=f"sqlite:///{tmp_path / 'identity.sqlite'}",
               AMQP_URL=f"sqlalchemy+sqlite:///{tmp_path / 'broker.sqlite'}")
    return env


def _run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def _json_out(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def key_cli(tmp_path_factory):
    """A private, migrated SQLite identity database and a runner for ``carekey`` against it."""
    env = _cli_env(tmp_path_factory.mktemp("keys-cli"))
    upgraded = _run(env, "db", "upgrade", "--service", "identity")
    assert upgraded.returncode == 0, upgraded.stderr
    return lambda *args: _run(env, *args), env


def test_cli_rotate_and_list_print_json_and_follow_the_states(key_cli):
    run, env = key_cli
    listed = _json_out(run("identity", "keys", "list"))
    assert isinstance(listed, list)
    active = {k["alg"]: k["kid"] for k in listed if k["state"] == "active"}
    assert set(active) == {"ES256", "RS256"}
    for key in listed:
        assert set(key) == {"kid", "alg", "state", "created_at", "publish_until"}, "no key material is printed"

    rotated = _json_out(run("identity", "keys", "rotate", "--alg", "ES256"))
    assert isinstance(rotated, list) and len(rotated) == 1
    assert rotated[0]["alg"] == "ES256" and rotated[0]["active"] != active["ES256"]
    states = {k["kid"]: k for k in _json_out(run("identity", "keys", "list"))}
    assert states[active["ES256"]]["state"] == "retired" and states[active["ES256"]]["publish_until"]
    assert states[rotated[0]["active"]]["state"] == "active"
    assert states[rotated[0]["next"]]["state"] == "next"
    assert states[active["RS256"]]["state"] == "active", "only the requested algorithm rotates"

    again = _json_out(run("identity", "keys", "rotate", "--alg", "ES256"))
    assert again[0]["active"] == rotated[0]["next"], "the published next key is the one activated"

    pruned = run("identity", "keys", "prune")
    assert pruned.returncode == 0 and "removed 0 retired keys" in pruned.stdout
    database = env["IDENTITY_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE signing_keys SET publish_until = ? WHERE kid = ?",
                           ((datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                            active["ES256"]))
    pruned = run("identity", "keys", "prune")
    assert pruned.returncode == 0 and "removed 1 retired keys" in pruned.stdout
    assert active["ES256"] not in {k["kid"] for k in _json_out(run("identity", "keys", "list"))}


def test_cli_rotate_all_rotates_both_algorithms(key_cli):
    run, _ = key_cli
    rotated = _json_out(run("identity", "keys", "rotate"))
    assert sorted(entry["alg"] for entry in rotated) == ["ES256", "RS256"]
    states = {k["kid"]: k["state"] for k in _json_out(run("identity", "keys", "list"))}
    for entry in rotated:
        assert states[entry["active"]] == "active" and states[entry["next"]] == "next"


def test_cli_refuses_an_unknown_algorithm_without_a_traceback(key_cli):
    run, _ = key_cli
    result = run("identity", "keys", "rotate", "--alg", "HS256")
    assert result.returncode != 0 and result.stdout == ""
    assert "Traceback" not in result.stderr and "HS256" in result.stderr


def test_cli_key_times_carry_a_utc_offset(key_cli):
    run, _ = key_cli
    _json_out(run("identity", "keys", "rotate", "--alg", "ES256"))
    for key in _json_out(run("identity", "keys", "list")):
        for name in ("created_at", "publish_until"):
            if key[name] is not None:
                assert datetime.fromisoformat(key[name]).utcoffset() == timedelta(0), (name, key[name])
