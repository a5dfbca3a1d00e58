"""``carekey notifications ...``: the delivery worker."""
from __future__ import annotations

import click

from services.notifications import settings as notifications_settings
from shared.logging import configure_logging

group = click.Group("notifications", help="Notifications: email, text and voice delivery.")


@group.command()
def worker() -> None:
    """Consume notification requests and deliver them, until SIGTERM."""
    from services.notifications.worker import run
    settings = notifications_settings.load()
    configure_logging("notifications-worker", level=settings.common.log_level, json=settings.common.log_json)
    click.echo("notifications worker consuming", err=True)
    run(settings)
