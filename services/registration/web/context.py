"""Request-scoped plumbing for registration's views: one database session per request (committed
when the view returns, rolled back when it raises), the services, and the client's address."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from services.registration.domain.enrollment import Context
from services.registration.interfaces import IdentityAccounts
from services.registration.settings import RegistrationSettings
from shared.tokens import AccessTokenVerifier


@dataclass
class RegistrationServices:
    settings: RegistrationSettings
    identity: IdentityAccounts
    verifier: AccessTokenVerifier


def services() -> RegistrationServices:
    return current_app.extensions["carekey.registration"]


def db() -> Session:
    if "registration_db" not in g:
        g.registration_db = current_app.extensions["carekey.sessions"]()
    return g.registration_db


def client_ip() -> str | None:
    return request.remote_addr


def domain_context() -> Context:
    return Context(pepper=services().settings.secret_key, ip=client_ip())


def install(app: Flask) -> None:
    @app.after_request
    def _commit(response):
        session = g.get("registration_db")
        if session is not None:
            if response.status_code < 500:
                session.commit()
            else:
                session.rollback()
        return response

    @app.teardown_request
    def _close(exc):
        session = g.pop("registration_db", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()
