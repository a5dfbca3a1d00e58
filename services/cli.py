"""The ``carekey`` command: suite-wide commands, plus one group per service."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import click

from services import SERVICES, registry
from shared.logging import configure_logging
from shared.settings import SettingsError, load_common, load_outbox_purge

SERVICE_CHOICE = click.Choice(list(SERVICES))


class CareKeyGroup(click.Group):
    """Turns a settings error into a one-line message naming the variable, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=CareKeyGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """CareKey: one patient identity for every practice portal."""
    if ctx.invoked_subcommand != "run":  # `run` writes the layout; every other command follows it
        from services.launcher import adopt_layout
        adopt_layout(os.environ)


# -- database --------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Each service's own database and migrations."""


def _services(selected: tuple[str, ...]) -> list[str]:
    return list(selected) or list(SERVICES)


@db.command()
@click.option("--service", "selected", multiple=True, type=SERVICE_CHOICE, help="Default: every service.")
@click.option("--revision", default="head", show_default=True)
def upgrade(selected: tuple[str, ...], revision: str) -> None:
    """Migrate every service's database to the latest revision."""
    from shared.migrations import upgrade as run_upgrade
    for service in _services(selected):
        run_upgrade(registry.migrations(service, registry.settings(service)), revision)
        click.echo(f"{service}: migrated to {revision}")


@db.command()
@click.option("--service", "selected", multiple=True, type=SERVICE_CHOICE)
def check(selected: tuple[str, ...]) -> None:
    """Fail when a service's models and migrations disagree."""
    from shared.migrations import check as run_check
    for service in _services(selected):
        run_check(registry.migrations(service, registry.settings(service)))
        click.echo(f"{service}: models match migrations")


@db.command()
@click.option("--service", required=True, type=SERVICE_CHOICE)
@click.option("-m", "--message", required=True)
def revision(service: str, message: str) -> None:
    """Write a new migration from the difference between models and database."""
    from alembic import command
    command.revision(registry.migrations(service, registry.settings(service)), message=message,
                     autogenerate=True)


# -- processes -------------------------------------------------------------------------------
@main.command()
@click.argument("service", type=SERVICE_CHOICE)
def serve(service: str) -> None:
    """Serve one service with the embedded server (production uses gunicorn, see deploy/)."""
    from werkzeug.serving import run_simple
    settings = registry.settings(service)
    app = registry.create_app(service)
    click.echo(f"{service} listening on http://{settings.host}:{settings.port}", err=True)
    run_simple(settings.host, settings.port, app, threaded=True, use_reloader=False)


@main.command()
@click.argument("selected", nargs=-1, type=SERVICE_CHOICE)
def relay(selected: tuple[str, ...]) -> None:
    """Publish each service's committed outbox events to the broker, and delete the published ones
    older than OUTBOX_RETENTION_SECONDS every OUTBOX_PURGE_INTERVAL_SECONDS, until stopped."""
    from shared.database import make_engine, make_session_factory
    from shared.messaging.outbox import OutboxRelay
    names = [s for s in _services(selected) if registry.outbox(s) is not None]
    common, purge = load_common(), load_outbox_purge()
    configure_logging("outbox-relay", level=common.log_level, json=common.log_json)
    stop = threading.Event()
    _stop_on_signals(stop)
    threads = []
    for service in names:
        settings = registry.settings(service)
        relay_ = OutboxRelay(make_session_factory(make_engine(settings.database_url)), registry.outbox(service),
                             settings.common.amqp_url, queues=_all_queues(), purge=purge)
        thread = threading.Thread(target=relay_.run, args=(stop,), name=f"relay-{service}")
        thread.start()
        threads.append(thread)
    click.echo(f"relaying outbox events of: {', '.join(names)}; "
               + (f"purging those published over {purge.retention_seconds} s ago every {purge.interval_seconds} s"
                  if purge.enabled else "never purging published ones"), err=True)
    for thread in threads:
        thread.join()


def _all_queues() -> list:
    return [queue for work_queue in registry.work_queues() for queue in work_queue.all_queues()]


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(_signum, _frame):
        stop.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@main.group()
def broker() -> None:
    """The message broker's topology."""


@broker.command()
def setup() -> None:
    """Declare the events exchange and every queue (idempotent)."""
    from shared.messaging.broker import connect
    from shared.messaging.topology import declare
    with connect(load_common().amqp_url) as connection:
        declare(connection, _all_queues())
    click.echo("broker topology declared")


@broker.command()
def definitions() -> None:
    """Print RabbitMQ definitions (exchange, queues, bindings) for deploy/rabbitmq/definitions.json."""
    import json
    from shared.messaging.topology import rabbitmq_definitions
    click.echo(json.dumps(rabbitmq_definitions(_all_queues()), indent=2, sort_keys=True))


@main.command()
def run() -> None:
    """Run the whole suite locally (the embedded default): migrate, seed, start, print the URLs."""
    from services.launcher import run_suite
    sys.exit(run_suite())


@main.group()
def demo() -> None:
    """Demo data for the embedded default."""


@demo.command()
def seed() -> None:
    """Seed the demo practices and patients (idempotent)."""
    logging.basicConfig(level=logging.WARNING)
    from services import demo as demo_data
    for service in SERVICES:
        seeder = demo_data.for_service(service)
        if seeder is None:
            continue
        app = registry.create_app(service, registry.settings(service))
        with app.app_context():
            lines = seeder.seed(app)
        for line in lines:
            click.echo(f"{service}: {line}")


for _service in SERVICES:
    main.add_command(registry.cli_group(_service))


if __name__ == "__main__":
    main()
