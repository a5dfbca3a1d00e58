"""Records' settings are checked once, at start-up, and a bad one names its variable."""
from __future__ import annotations

import pytest

from services.records import settings as records_settings
from shared.settings import SettingsError

BASE = {"CAREKEY_ENV": "test", "AMQP_URL": "memory://", "RECORDS_DATABASE_URL": "sqlite:///var/x.sqlite"}


def load(**values: str):
    return records_settings.load({**BASE, **values})


def test_defaults_point_at_the_local_identity_service_and_this_api():
    settings = load()
    assert settings.identity_issuer == "http://127.0.0.1:8001" and settings.audience == "http://127.0.0.1:8004"
    assert not settings.introspect and settings.cache_seconds == 30 and settings.fhir_sources == {}
    assert settings.database_url == BASE["RECORDS_DATABASE_URL"], "the base settings show through"


def test_fhir_sources_are_typed():
    settings = load(RECORDS_FHIR_SOURCES='{"northside": {"base_url": "https://fhir.northside.example/r4/", '
                                         '"auth": "bearer", "token": "t0k3n"}}')
    source = settings.fhir_sources["northside"]
    assert source.base_url == "https://fhir.northside.example/r4" and source.token == "t0k3n"


@pytest.mark.parametrize("values, variable", [
    ({"RECORDS_INTROSPECT": "true"}, "RECORDS_INTROSPECT_CLIENT_ID"),
    ({"RECORDS_FHIR_SOURCES": "[1, 2]"}, "RECORDS_FHIR_SOURCES"),
    ({"RECORDS_FHIR_SOURCES": "{nope"}, "RECORDS_FHIR_SOURCES"),
    ({"RECORDS_FHIR_SOURCES": '{"p": {"base_url": "ftp://x"}}'}, "RECORDS_FHIR_SOURCES"),
    ({"RECORDS_FHIR_SOURCES": '{"p": {"base_url": "https://x.example", "auth": "bearer"}}'}, "RECORDS_FHIR_SOURCES"),
    ({"RECORDS_FHIR_SOURCES": '{"p": {"base_url": "https://x.example", "auth": "basic"}}'}, "RECORDS_FHIR_SOURCES"),
    ({"RECORDS_CACHE_SECONDS": "9999"}, "RECORDS_CACHE_SECONDS"),
    ({"RECORDS_IDENTITY_ISSUER": "not a url"}, "RECORDS_IDENTITY_ISSUER"),
])
def test_bad_values_name_their_variable(values, variable):
    with pytest.raises(SettingsError, match=variable):
        load(**values)


def test_production_needs_https_and_real_secrets():
    prod = {"CAREKEY_ENV": "prod", "AMQP_URL": "amqp://u:p@mq//", "RECORDS_DATABASE_URL": "postgresql://x@db/records",
            "RECORDS_SECRET_KEY": "s" * 40, "RECORDS_PUBLIC_URL": "https://records.example"}
    with pytest.raises(SettingsError, match="RECORDS_IDENTITY_ISSUER"):
        records_settings.load(prod)
    with pytest.raises(SettingsError, match="RECORDS_IDENTITY_ISSUER"):
        records_settings.load({**prod, "RECORDS_IDENTITY_ISSUER": "http://id.example"})
    ok = records_settings.load({**prod, "RECORDS_IDENTITY_ISSUER": "https://id.example"})
    assert ok.audience == "https://records.example"
    with pytest.raises(SettingsError, match="RECORDS_INTROSPECT_CLIENT_SECRET"):
        records_settings.load({**prod, "RECORDS_IDENTITY_ISSUER": "https://id.example", "RECORDS_INTROSPECT": "1",
                               "RECORDS_INTROSPECT_CLIENT_ID": "rs", "RECORDS_INTROSPECT_CLIENT_SECRET": "short"})
