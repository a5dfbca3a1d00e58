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
    from services.identity.settings import IdentitySchema
    from services.notifications.settings import NotificationsSchema
    names = {field.data_key for schema in (CommonSchema(), IdentitySchema(), NotificationsSchema())
             for field in schema.fields.values()}
    for service, port in SERVICES.items():
        names |= {field.data_key for field in service_schema(service.upper(), port, service).fields.values()}
    return names | RUNTIME_VARIABLES


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
