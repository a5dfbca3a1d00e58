"""There is no Docker engine here, so the compose file and image are checked against the code:
services, ports, environment variables, commands and queue names."""
from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services import SERVICES, registry
from shared.settings import CommonSchema, service_schema

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = ["identity", "registration", "notifications", "records"]
RUNTIME_VARIABLES = {"PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_CLASS", "GUNICORN_KEEPALIVE",
                     "GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR"}


def known_variables() -> set[str]:
    from examples.portal.settings import VARIABLES as PORTAL_VARIABLES
    from services.demo.portal_clients import PORTALS
    from services.identity.settings import IdentitySchema
    from services.notifications.settings import NotificationsSchema
    from services.records.settings import RecordsSchema
    from services.registration.settings import RegistrationSchema
    names = {field.data_key for schema in (CommonSchema(), IdentitySchema(), NotificationsSchema(),
                                           RegistrationSchema(), RecordsSchema())
             for field in schema.fields.values()}
    for service, port in SERVICES.items():
        names |= {field.data_key for field in service_schema(service.upper(), port, service).fields.values()}
    return names | RUNTIME_VARIABLES | set(PORTAL_VARIABLES) | {p.secret_variable() for p in PORTALS}


def test_compose_has_backends_mail_catcher_migrate_job_and_every_service():
    assert set(COMPOSE["services"]) >= {"postgres", "rabbitmq", "mailcatcher", "migrate", *APP_SERVICES,
                                        "notifications-worker", "outbox-relay"}


@pytest.mark.parametrize("backend", ["postgres", "rabbitmq"])
def test_backends_have_health_checks(backend):
    assert COMPOSE["services"][backend]["healthcheck"]["test"]


def test_migrate_job_waits_for_healthy_backends_and_migrates_and_declares_queues():
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "rabbitmq": {"condition": "service_healthy"}}
    command = " ".join(migrate["command"])
    assert "carekey db upgrade" in command and "carekey broker setup" in command
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_service_runs_its_wsgi_app_under_gunicorn_on_its_port(service):
    spec = COMPOSE["services"][service]
    port = SERVICES[service]
    assert spec["command"][0] == "gunicorn"
    module, _, attribute = spec["command"][-1].partition(":")
    assert module == f"services.{service}.wsgi" and attribute == "app"
    assert importlib.util.find_spec(module) is not None
    assert spec["ports"] == [f"{port}:{port}"]
    assert spec["environment"]["PORT"] == str(port) and spec["environment"][f"{service.upper()}_PORT"] == str(port)
    assert spec["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert "/readyz" in " ".join(spec["healthcheck"]["test"])


@pytest.mark.parametrize("service", [s for s in COMPOSE["services"] if s not in ("postgres", "rabbitmq", "mailcatcher")])
def test_every_environment_variable_is_a_real_setting(service):
    unknown = set(COMPOSE["services"][service]["environment"]) - known_variables()
    assert not unknown, f"{service} sets variables no code reads: {unknown}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_service_has_its_own_database_created_by_postgres_init(service):
    env = COMPOSE["services"][service]["environment"]
    database = env[f"{service.upper()}_DATABASE_URL"].rsplit("/", 1)[1]
    assert database == service
    init = (ROOT / "deploy/postgres/create-databases.sql").read_text()
    assert f"CREATE DATABASE {service};" in init
    urls = [env[f"{other.upper()}_DATABASE_URL"] for other in APP_SERVICES]
    assert len(set(urls)) == len(urls)


def test_worker_and_relay_commands_exist_in_the_cli():
    from click.testing import CliRunner
    from services.cli import main
    for service in ("notifications-worker", "outbox-relay"):
        args = COMPOSE["services"][service]["command"][1:]
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, (service, result.output)
    relayed = COMPOSE["services"]["outbox-relay"]["command"][2:]
    assert set(relayed) == {s for s in SERVICES if registry.outbox(s) is not None}


def test_rabbitmq_definitions_match_the_queues_the_code_declares():
    committed = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    generated = subprocess.run([sys.executable, "-m", "services.cli", "broker", "definitions"],
                               capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert committed == json.loads(generated), "run: carekey broker definitions > deploy/rabbitmq/definitions.json"
    names = {queue["name"] for queue in committed["queues"]}
    from services.notifications.queues import REQUESTS
    assert {REQUESTS.name, REQUESTS.dead_letter_name, REQUESTS.retry_name(1)} <= names


def test_image_is_slim_non_root_and_runs_gunicorn_with_the_shared_config():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "--require-hashes -r /src/requirements.lock" in dockerfile
    assert "deploy/gunicorn.conf.py" in dockerfile
    assert (ROOT / "deploy/gunicorn.conf.py").exists()


# -- the demo practices' portals (examples/portal) ----------------------------------------------------
def demo_portals():
    from services.demo.portal_clients import PORTALS
    return PORTALS


@pytest.mark.parametrize("portal", demo_portals(), ids=lambda p: p.practice_id)
def test_each_demo_portal_runs_under_gunicorn_with_the_client_the_demo_seed_registers(portal):
    spec = COMPOSE["services"][f"portal-{portal.practice_id}"]
    env = spec["environment"]
    assert spec["command"][0] == "gunicorn" and spec["command"][-1] == "examples.portal.wsgi:app"
    assert importlib.util.find_spec("examples.portal.wsgi") is not None
    assert spec["ports"] == [f"{portal.default_port}:{portal.default_port}"] and env["PORT"] == str(portal.default_port)
    assert env["PORTAL_PRACTICE_ID"] == portal.practice_id and env["PORTAL_NAME"] == portal.name
    assert env["PORTAL_CLIENT_ID"] == portal.client_id
    seed = COMPOSE["services"]["demo-seed"]
    assert env["PORTAL_CLIENT_SECRET"] == seed["environment"][portal.secret_variable()]
    assert env["PORTAL_PUBLIC_URL"] == portal.base_url({}), "the seed registers its redirect URIs under this URL"
    assert env["PORTAL_ISSUER"] == COMPOSE["services"]["identity"]["environment"]["IDENTITY_PUBLIC_URL"]
    assert env["PORTAL_ISSUER_INTERNAL_URL"] == f"http://identity:{SERVICES['identity']}"
    assert env["PORTAL_RECORDS_URL"] == f"http://records:{SERVICES['records']}"
    assert spec["depends_on"] == {"demo-seed": {"condition": "service_completed_successfully"},
                                  "identity": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(spec["healthcheck"]["test"])
    database = env["PORTAL_DATABASE_URL"].rsplit("/", 1)[1]
    assert f"CREATE DATABASE {database};" in (ROOT / "deploy/postgres/create-databases.sql").read_text()


def test_portal_settings_in_compose_are_accepted_by_the_portal():
    from examples.portal.settings import PortalSettings
    for practice in ("riverside", "hillside"):
        env = COMPOSE["services"][f"portal-{practice}"]["environment"]
        settings = PortalSettings.from_env({key: str(value) for key, value in env.items()})
        assert settings.practice_id == practice and settings.practice_name("hillside") == "Hillside Medical Group"


def test_demo_seed_runs_once_after_the_migrations_and_the_image_ships_the_portal():
    seed = COMPOSE["services"]["demo-seed"]
    assert seed["command"] == ["carekey", "demo", "seed"] and seed["restart"] == "no"
    assert seed["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert "COPY examples /src/examples" in (ROOT / "deploy/Dockerfile").read_text()
