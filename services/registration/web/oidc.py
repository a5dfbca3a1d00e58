"""Registration signs people in with CareKey itself (OpenID Connect, Authlib's Flask client) when it
must know which account is acting: linking an account someone already has, connecting a practice, or
acting as a proxy. Registration is a first-party client with public subjects, so ``sub`` is the
account id. ``next`` is always one of our own paths."""
from __future__ import annotations

import time

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, redirect, request, session, url_for

from services.registration.web.flow import ACCOUNT, SIGNED_IN_AT
from services.registration.web.pages_common import message

bp = Blueprint("oidc", __name__, url_prefix="/oidc")
NEXT = "after_sign_in"


def install(app: Flask, settings) -> None:
    oauth = OAuth(app)
    oauth.register("carekey", client_id=settings.client_id, client_secret=settings.client_secret,
                   server_metadata_url=f"{settings.identity_reach}/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile", "code_challenge_method": "S256",
                                  "token_endpoint_auth_method": "client_secret_basic", "timeout": 10})
    app.extensions["carekey.registration.oauth"] = oauth


class WrongIssuer(Exception):
    """What answers at identity's address is not the identity this service was configured with."""


BACK_END = ("token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint")


def _client():
    """Authlib's client, its discovery document loaded; with REGISTRATION_IDENTITY_INTERNAL_URL the
    server-to-server endpoints are reached there while the browser still goes to the issuer."""
    client = current_app.extensions["carekey.registration.oauth"].carekey
    settings = current_app.extensions["carekey.settings"]
    metadata = client.load_server_metadata()
    if metadata.get("issuer") != settings.identity_issuer:  # OpenID Connect Discovery 1.0 §4.3
        client.server_metadata.pop("_loaded_at", None)  # fetched again next time: identity may have been fixed
        raise WrongIssuer(f"{settings.identity_reach} says it is {metadata.get('issuer')!r}, "
                          f"expected REGISTRATION_IDENTITY_ISSUER {settings.identity_issuer!r}")
    if settings.identity_internal_url and not metadata.get("_internal"):
        for name in BACK_END:
            value = metadata.get(name)
            if isinstance(value, str) and value.startswith(settings.identity_issuer):
                metadata[name] = settings.identity_internal_url + value[len(settings.identity_issuer):]
        metadata["_internal"] = True
    return client


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) <= 500:
        return value
    return "/"


@bp.get("/login")
def login():
    session[NEXT] = _safe_next(request.args.get("next"))
    try:
        return _client().authorize_redirect(url_for("oidc.callback", _external=True))
    except WrongIssuer as exc:
        current_app.logger.error("refusing to sign in through the wrong identity: %s", exc)
        return message("Sign-in is unavailable", "We can't reach CareKey sign-in right now. Try again in a minute.",
                       503)
    except Exception:
        current_app.logger.warning("identity's discovery document is unreachable", exc_info=True)
        return message("Sign-in is unavailable", "We can't reach CareKey sign-in right now. Try again in a minute.",
                       503)


@bp.get("/callback")
def callback():
    if "error" in request.args:
        return message("You didn't sign in", "Sign-in was cancelled or refused. Go back and try again.", 400)
    try:
        token = _client().authorize_access_token()
    except Exception:
        current_app.logger.info("sign-in callback refused", exc_info=True)
        return message("Sign-in didn't complete", "That sign-in link is stale or was already used. Go back and "
                       "try again.", 400)
    claims = token.get("userinfo") or {}
    if not claims.get("sub"):
        return message("Sign-in didn't complete", "Go back and try again.", 400)
    session[ACCOUNT], session[SIGNED_IN_AT] = claims["sub"], time.time()
    return redirect(session.pop(NEXT, "/"), code=303)
