"""The `carekey` command: each service's subcommands, and a clear line for a bad setting."""
from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from services import SERVICES
from services.cli import main


def test_top_level_commands_and_one_group_per_service():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "run", "serve", "relay", "broker", "demo", *SERVICES):
        assert f"  {command}" in result.output


def test_db_upgrade_and_check_migrate_every_service(tmp_path):
    env = {**os.environ, "CAREKEY_ENV": "dev"}
    env.pop("AMQP_URL", None)
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = f"sqlite:///{tmp_path / service}.sqlite"
    upgrade = subprocess.run([sys.executable, "-m", "services.cli", "db", "upgrade"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    check = subprocess.run([sys.executable, "-m", "services.cli", "db", "check"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert [f"{service}: models match migrations" for service in SERVICES] == \
        [line for line in check.stdout.splitlines() if "models match" in line]


def test_insecure_production_setting_stops_start_up_naming_the_variable():
    env = {**os.environ, "CAREKEY_ENV": "prod", "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672//",
           "IDENTITY_DATABASE_URL": "postgresql://x@127.0.0.1/identity",
           "IDENTITY_PUBLIC_URL": "https://id.example", "IDENTITY_SECRET_KEY": "too-short-secret"}
    result = subprocess.run([sys.executable, "-m", "services.cli", "serve", "identity"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "IDENTITY_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


def test_gunicorn_entry_point_refuses_bad_settings_too():
    env = {**os.environ, "CAREKEY_ENV": "prod"}
    env.pop("AMQP_URL", None)
    result = subprocess.run([sys.executable, "-c", "import services.identity.wsgi"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "AMQP_URL" in result.stderr


def test_relay_refuses_a_bad_purge_schedule_naming_the_variable():
    env = {**os.environ, "CAREKEY_ENV": "dev", "OUTBOX_RETENTION_SECONDS": "a week"}
    result = subprocess.run([sys.executable, "-m", "services.cli", "relay", "identity"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "OUTBOX_RETENTION_SECONDS" in result.stderr and "Traceback" not in result.stderr
