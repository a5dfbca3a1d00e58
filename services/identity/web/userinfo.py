"""The UserInfo endpoint (GET and POST)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from services.identity.db.models import Account, Client
from services.identity.domain import claims as claim_rules
from services.identity.web.bearer import authenticate, bearer_error, presented_token
from services.identity.web.context import db, services
from services.identity.web.oauth_requests import json_errors

bp = Blueprint("userinfo", __name__)
json_errors(bp)


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    token = presented_token(allow_form=True)
    if token is None:
        return bearer_error(401, None, "An access token is required.")
    presented = authenticate(token)
    if presented is None or presented.grant is None:
        return bearer_error(401, "invalid_token", "The access token is not valid.")
    if "openid" not in presented.scopes:
        return bearer_error(403, "insufficient_scope", "The access token lacks the openid scope.", "openid")
    account = db().get(Account, presented.grant.account_id)
    client = db().get(Client, presented.grant.client_id)
    if account is None or account.disabled_at is not None or client is None:
        return bearer_error(401, "invalid_token", "The access token is not valid.")
    requested = (presented.grant.claims or {}).get("userinfo")
    registered = set((client.scope or "").split())
    body = {"sub": claim_rules.subject(account.id, client, services().settings.pairwise_salt),
            **claim_rules.release(account, sorted(presented.scopes), requested,
                                  claim_rules.implied_scopes(requested) & registered)}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
