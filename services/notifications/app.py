"""Notifications' app factory: health, the Twilio status callback, and (embedded) the local outbox."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from services.notifications import settings as notifications_settings
from services.notifications.db.models import STATUSES, Notification, outbox
from services.notifications.web.pages import outbox_bp, twilio_bp
from services.notifications.wiring import build_deliverer
from shared.logging import configure_logging
from shared.metrics import CountedTable, outbox_rows
from shared.web import create_service_app

# notifications' state rows by status (/metrics): the table grows with every message sent
NOTIFICATION_ROWS = CountedTable(
    "notifications", select(Notification.status, func.count()).group_by(Notification.status), STATUSES)


def create_app(settings=None) -> Flask:
    if settings is None:
        settings = notifications_settings.load()
        configure_logging(settings.service, level=settings.common.log_level, json=settings.common.log_json)
    app = create_service_app(settings, __name__, counted_tables=[outbox_rows(outbox), NOTIFICATION_ROWS])
    app.extensions["carekey.deliverer"] = build_deliverer(settings, app.extensions["carekey.sessions"])
    app.register_blueprint(twilio_bp)
    if "console" in (settings.email_backend, settings.sms_backend):
        app.register_blueprint(outbox_bp)
    return app
