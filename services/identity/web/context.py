"""Request-scoped plumbing for identity's views: one database session per request (committed when
the view returns, rolled back when it raises), the SSO cookie, and the client's address."""
from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

SESSION_COOKIE = "carekey_session"


def db() -> Session:
    if "identity_db" not in g:
        g.identity_db = current_app.extensions["carekey.sessions"]()
    return g.identity_db


def counters():
    """A short transaction of its own for hot counter rows (brute-force limits) on PostgreSQL,
    committed when it closes; on SQLite (one writer at a time) the request's own session. Its
    connections come from a pool of their own: a request that holds a connection and waits for a
    second one from the same pool could wait forever once every connection is held that way."""
    import contextlib
    factory = current_app.extensions.get("carekey.counter_sessions")
    if factory is None:
        return contextlib.nullcontext(db())
    from shared.database import transaction
    return transaction(factory)


def services():
    return current_app.extensions["carekey.identity"]


def webauthn_relying_party() -> tuple[str, str]:
    """(RP ID, origin) for passkeys: the issuer's host name and origin."""
    from urllib.parse import urlsplit
    issuer = urlsplit(services().settings.issuer)
    return issuer.hostname, f"{issuer.scheme}://{issuer.netloc}"


def client_ip() -> str | None:
    return request.remote_addr


def install(app: Flask) -> None:
    @app.after_request
    def _commit(response):
        session = g.get("identity_db")
        if session is not None and session.in_transaction():  # (a session never used has nothing to commit)
            if session.is_active:
                session.commit()
            else:  # a failed flush, already answered by an error handler: nothing of it is kept
                session.rollback()
        return response

    @app.teardown_request
    def _close(exc):
        session = g.pop("identity_db", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def set_session_cookie(response, value: str) -> None:
    settings = services().settings
    response.set_cookie(SESSION_COOKIE, value, max_age=settings.session_absolute, httponly=True,
                        secure=not settings.common.is_dev, samesite="Lax", path="/")


def clear_session_cookie(response) -> None:
    settings = services().settings
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=not settings.common.is_dev,
                           samesite="Lax")


def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
