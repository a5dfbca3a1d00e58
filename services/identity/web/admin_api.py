"""Admin HTTP API for clients, guarded by a client-credentials token with ``identity:admin``."""
from __future__ import annotations

from flask import Blueprint, jsonify

from services.identity.domain import audit, clients
from services.identity.web.api_auth import require_scope
from services.identity.web.context import client_ip, db, no_store
from services.identity.web.schemas import ClientInput, ClientUpdate
from shared import json_body
from shared.errors import AppError, InvalidRequest, NotFound

bp = Blueprint("admin_api", __name__, url_prefix="/admin")
SCOPE = "identity:admin"


def _client(client_id: str):
    client = clients.find(db(), client_id)
    if client is None:
        raise NotFound("No such client.")
    return client


@bp.get("/clients")
@require_scope(SCOPE)
def list_clients():
    return jsonify([clients.describe(c) for c in clients.list_clients(db())])


@bp.post("/clients")
@require_scope(SCOPE)
def create_client():
    values = json_body.load(ClientInput())
    try:
        client, secret = clients.create_client(db(), clients.ClientSpec(**values))
    except clients.ClientError as exc:
        raise InvalidRequest(str(exc)) from None
    audit.record(db(), "client", "created", client_id=client.client_id, ip=client_ip())
    body = clients.describe(client)
    if secret:
        body["client_secret"] = secret
    return no_store(jsonify(body)), 201


@bp.get("/clients/<client_id>")
@require_scope(SCOPE)
def show_client(client_id: str):
    return jsonify(clients.describe(_client(client_id)))


@bp.patch("/clients/<client_id>")
@require_scope(SCOPE)
def update_client(client_id: str):
    changes = json_body.load(ClientUpdate(partial=True))
    fixed = sorted(set(changes) - set(clients.UPDATABLE))
    if fixed:
        raise InvalidRequest(f"These cannot change after registration: {', '.join(fixed)}. "
                             "Register a new client instead.")
    client = _client(client_id)
    try:
        clients.update_client(db(), client, changes)
    except clients.ClientError as exc:
        raise InvalidRequest(str(exc)) from None
    audit.record(db(), "client", "updated", client_id=client.client_id, ip=client_ip())
    return jsonify(clients.describe(client))


@bp.post("/clients/<client_id>/disable")
@require_scope(SCOPE)
def disable_client(client_id: str):
    client = _client(client_id)
    clients.disable_client(client)
    audit.record(db(), "client", "disabled", client_id=client.client_id, ip=client_ip())
    return jsonify(clients.describe(client))


@bp.post("/clients/<client_id>/secret")
@require_scope(SCOPE)
def rotate_secret(client_id: str):
    client = _client(client_id)
    try:
        secret = clients.rotate_secret(client)
    except clients.ClientError as exc:
        raise AppError("invalid_request", 409, str(exc)) from None
    audit.record(db(), "client", "secret_rotated", client_id=client.client_id, ip=client_ip())
    return no_store(jsonify({"client_id": client.client_id, "client_secret": secret}))
