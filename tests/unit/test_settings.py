"""Settings are typed, validated at start-up, and insecure values are refused outside dev."""
from __future__ import annotations

import base64

import pytest

import shared.settings
from services import SERVICES, registry
from shared.settings import SettingsError, load_common, load_outbox_purge

PROD = {
    "CAREKEY_ENV": "prod",
    "AMQP_URL": "amqps://carekey:pw@rabbitmq.internal:5671/carekey",
    "IDENTITY_DATABASE_URL": "postgresql://identity@db.internal/identity",
    "IDENTITY_SECRET_KEY": "k" * 48,
    "IDENTITY_PUBLIC_URL": "https://id.carekey.example",
    "IDENTITY_KEY_ENCRYPTION_KEY": base64.b64encode(bytes(range(32))).decode(),
    "IDENTITY_PAIRWISE_SALT": "p" * 40,
    # identity mints tokens for these two: their URLs are their audiences
    "RECORDS_PUBLIC_URL": "https://records.carekey.example",
    "REGISTRATION_PUBLIC_URL": "https://register.carekey.example",
}


def test_dev_defaults_run_embedded():
    settings = registry.settings("identity", {})
    assert settings.database_url.startswith("sqlite:///var/identity")
    assert settings.common.amqp_url.startswith("sqlalchemy+sqlite:///var/")
    assert settings.port == 8001 and settings.public_url == "http://127.0.0.1:8001"


@pytest.mark.parametrize("service, port", list(SERVICES.items()))
def test_each_service_has_its_own_prefix_and_port(service, port):
    settings = registry.settings(service, {f"{service.upper()}_PORT": str(port + 1000)})
    assert settings.service == service and settings.port == port + 1000


def test_valid_production_settings_load():
    settings = registry.settings("identity", PROD)
    assert settings.database_url == PROD["IDENTITY_DATABASE_URL"]
    assert settings.public_url == "https://id.carekey.example"


@pytest.mark.parametrize("change, variable", [
    ({"IDENTITY_SECRET_KEY": "dev-identity-secret-change-me-not-for-production-xx"}, "IDENTITY_SECRET_KEY"),
    ({"IDENTITY_SECRET_KEY": "short-but-16-chars"}, "IDENTITY_SECRET_KEY"),
    ({"IDENTITY_SECRET_KEY": ""}, "IDENTITY_SECRET_KEY"),
    ({"IDENTITY_PUBLIC_URL": "http://id.carekey.example"}, "IDENTITY_PUBLIC_URL"),
    ({"IDENTITY_PUBLIC_URL": ""}, "IDENTITY_PUBLIC_URL"),
    ({"IDENTITY_DATABASE_URL": "sqlite:///var/identity.sqlite"}, "IDENTITY_DATABASE_URL"),
    ({"IDENTITY_DATABASE_URL": ""}, "IDENTITY_DATABASE_URL"),
    ({"IDENTITY_DATABASE_URL": "mysql://db/identity"}, "IDENTITY_DATABASE_URL"),
    ({"AMQP_URL": "sqlalchemy+sqlite:///var/broker.sqlite"}, "AMQP_URL"),
    ({"AMQP_URL": ""}, "AMQP_URL"),
    ({"IDENTITY_PORT": "eighty"}, "IDENTITY_PORT"),
    ({"IDENTITY_PORT": "70000"}, "IDENTITY_PORT"),
    ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"IDENTITY_KEY_ENCRYPTION_KEY": ""}, "IDENTITY_KEY_ENCRYPTION_KEY"),
    ({"IDENTITY_KEY_ENCRYPTION_KEY": "bm90LTMyLWJ5dGVz"}, "IDENTITY_KEY_ENCRYPTION_KEY"),
    ({"IDENTITY_KEY_ENCRYPTION_KEY": "%%%not base64%%%"}, "IDENTITY_KEY_ENCRYPTION_KEY"),
    ({"IDENTITY_KEY_ENCRYPTION_KEY": "ZGV2LWNoYW5nZS1tZS1rZXktZW5jcnlwdGlvbi1rZXk="}, "IDENTITY_KEY_ENCRYPTION_KEY"),
    ({"IDENTITY_PAIRWISE_SALT": "short"}, "IDENTITY_PAIRWISE_SALT"),
    ({"IDENTITY_ACCESS_TOKEN_TTL": "999999"}, "IDENTITY_ACCESS_TOKEN_TTL"),
    ({"IDENTITY_SIGNING_ALG": "HS256"}, "IDENTITY_SIGNING_ALG"),
])
def test_bad_or_insecure_setting_outside_dev_is_refused_naming_the_variable(change, variable):
    with pytest.raises(SettingsError) as failure:
        registry.settings("identity", {**PROD, **change})
    assert variable in str(failure.value)


def test_unknown_environment_is_refused():
    with pytest.raises(SettingsError, match="CAREKEY_ENV"):
        load_common({"CAREKEY_ENV": "staging"})


def test_placeholder_secret_is_allowed_in_dev_with_a_loud_warning(caplog, monkeypatch):
    monkeypatch.setattr(shared.settings, "_warned", set())  # warned once per process
    settings = registry.settings("records", {"RECORDS_SECRET_KEY": "records-change-me-placeholder-value-123"})
    assert settings.secret_key.startswith("records-change-me")
    assert any("RECORDS_SECRET_KEY" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_a_moved_port_moves_every_url_derived_from_it():
    moved = {"IDENTITY_PORT": "9001", "REGISTRATION_PORT": "9002", "RECORDS_PORT": "9004"}
    identity = registry.settings("identity", moved)
    assert (identity.issuer, identity.registration_audience, identity.records_audience) == (
        "http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9004")
    registration = registry.settings("registration", moved)
    assert (registration.identity_issuer, registration.audience) == ("http://127.0.0.1:9001", "http://127.0.0.1:9002")
    records = registry.settings("records", moved)
    assert (records.identity_issuer, records.audience) == ("http://127.0.0.1:9001", "http://127.0.0.1:9004")
    # a public URL wins over a host and port
    assert registry.settings("registration", {**moved, "IDENTITY_PUBLIC_URL": "https://id.example/"}
                             ).identity_issuer == "https://id.example"


@pytest.mark.parametrize("service, environ, named", [
    ("registration", {"IDENTITY_PORT": "9001", "REGISTRATION_IDENTITY_ISSUER": "http://127.0.0.1:8001"},
     "REGISTRATION_IDENTITY_ISSUER: http://127.0.0.1:8001 contradicts identity's URL (http://127.0.0.1:9001)"),
    ("records", {"IDENTITY_PUBLIC_URL": "https://id.example", "RECORDS_IDENTITY_ISSUER": "https://other.example"},
     "RECORDS_IDENTITY_ISSUER: https://other.example contradicts identity's URL"),
    ("identity", {"REGISTRATION_PORT": "9002", "IDENTITY_REGISTRATION_AUDIENCE": "http://127.0.0.1:8002"},
     "IDENTITY_REGISTRATION_AUDIENCE: http://127.0.0.1:8002 contradicts registration's URL"),
    ("identity", {"RECORDS_AUDIENCE": "https://api.example", "IDENTITY_RECORDS_AUDIENCE": "https://records.example"},
     "IDENTITY_RECORDS_AUDIENCE: https://records.example contradicts RECORDS_AUDIENCE"),
    ("registration", {"REGISTRATION_PORT": "9002", "IDENTITY_REGISTRATION_AUDIENCE": "http://127.0.0.1:8002"},
     "REGISTRATION_AUDIENCE: http://127.0.0.1:9002 contradicts IDENTITY_REGISTRATION_AUDIENCE"),
    ("records", {"IDENTITY_RECORDS_AUDIENCE": "https://records.example"},
     "RECORDS_AUDIENCE: http://127.0.0.1:8004 contradicts IDENTITY_RECORDS_AUDIENCE"),
])
def test_issuer_and_audience_settings_that_contradict_each_other_stop_the_service(service, environ, named):
    with pytest.raises(SettingsError) as refused:
        registry.settings(service, environ)
    assert named in str(refused.value)


def test_outside_dev_the_issuer_and_audiences_are_never_guessed():
    with pytest.raises(SettingsError, match="IDENTITY_RECORDS_AUDIENCE: required outside dev"):
        registry.settings("identity", {k: v for k, v in PROD.items() if k != "RECORDS_PUBLIC_URL"})
    prod = {"CAREKEY_ENV": "prod", "AMQP_URL": PROD["AMQP_URL"], "REGISTRATION_SECRET_KEY": "r" * 40,
            "REGISTRATION_DATABASE_URL": "postgresql://r@db/r", "REGISTRATION_PUBLIC_URL": "https://register.example",
            "REGISTRATION_CLIENT_ID": "carekey-registration", "REGISTRATION_CLIENT_SECRET": "s" * 40}
    with pytest.raises(SettingsError, match="REGISTRATION_IDENTITY_ISSUER: required outside dev"):
        registry.settings("registration", prod)
    assert registry.settings("registration", {**prod, "IDENTITY_PUBLIC_URL": "https://id.example"}
                             ).identity_issuer == "https://id.example"


def test_the_relay_keeps_published_outbox_rows_a_day_and_purges_every_ten_minutes_by_default():
    purge = load_outbox_purge({})
    assert (purge.retention_seconds, purge.interval_seconds, purge.enabled) == (86400, 600, True)
    assert not load_outbox_purge({"OUTBOX_PURGE_INTERVAL_SECONDS": "0"}).enabled


@pytest.mark.parametrize("variable", ["OUTBOX_RETENTION_SECONDS", "OUTBOX_PURGE_INTERVAL_SECONDS"])
@pytest.mark.parametrize("value", ["-1", "a day"])
def test_a_bad_purge_schedule_is_refused_naming_the_variable(variable, value):
    with pytest.raises(SettingsError) as failure:
        load_outbox_purge({variable: value})
    assert variable in str(failure.value)
