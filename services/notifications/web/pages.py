"""The local outbox page (embedded default only) and Twilio's delivery-status callback."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from services.notifications.db.models import LocalOutboxMessage

outbox_bp = Blueprint("outbox", __name__)
twilio_bp = Blueprint("twilio", __name__)


@outbox_bp.get("/outbox")
@outbox_bp.get("/")
def outbox():
    sessions = current_app.extensions["carekey.sessions"]
    with sessions() as session:
        messages = session.scalars(select(LocalOutboxMessage).order_by(LocalOutboxMessage.id.desc()).limit(100)).all()
    response = current_app.make_response(render_template("outbox.html", messages=messages))
    response.headers["Cache-Control"] = "no-store"
    return response


@twilio_bp.post("/twilio/status")
def twilio_status():
    """Accepted only with a valid X-Twilio-Signature over our public URL and the posted fields."""
    settings = current_app.extensions["carekey.settings"]
    validator = RequestValidator(settings.twilio_auth_token or "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.twilio_auth_token or not validator.validate(settings.status_callback_url,
                                                                request.form.to_dict(), signature):
        abort(403)
    reference = request.form.get("MessageSid") or request.form.get("CallSid") or ""
    status = request.form.get("MessageStatus") or request.form.get("CallStatus") or ""
    deliverer = current_app.extensions["carekey.deliverer"]
    deliverer.provider_status(reference, "delivered" if status == "completed" else status)
    return "", 204
