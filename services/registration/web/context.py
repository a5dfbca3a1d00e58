"""Request-scoped plumbing for registration's views: one database session per request (committed
when the view returns, rolled back when it raises), the services, the client's address, and answers
held to a steady time."""
from __future__ import annotations

import time
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


def answer_no_sooner_than(seconds: float) -> None:
    """Hold this request's answer until *seconds* from now, waiting after the database session is
    released: for a step whose work depends on who the person is (identification searches longer when
    the name is on the roster), so that it takes the same time for anyone."""
    g.answer_not_before = time.monotonic() + seconds


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
        not_before = g.pop("answer_not_before", None)  # before the answer's body is sent
        if not_before is not None:
            time.sleep(max(0.0, not_before - time.monotonic()))
