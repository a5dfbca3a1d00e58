"""What a request needs: the wired parts, and the signed-in patient's server-side session."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, g, session

from examples.portal.store import PortalSession

SESSION_KEY = "portal_session"


def portal():
    return current_app.extensions["portal"]


def current() -> PortalSession | None:
    """The server-side session behind the cookie; None once it ended (sign-out anywhere, expiry)."""
    if "portal_session" not in g:
        found = portal().store.load(session.get(SESSION_KEY))
        if found is None and SESSION_KEY in session:
            session.pop(SESSION_KEY)
        g.portal_session = found
    return g.portal_session


def start(*, sid: str | None, sub: str, data: dict) -> PortalSession:
    previous = session.get(SESSION_KEY)
    if previous:
        portal().store.delete(previous)
    created = portal().store.create(sid=sid, sub=sub, data=data)
    session[SESSION_KEY] = created.id
    g.portal_session = created
    return created


def end() -> PortalSession | None:
    ended = current()
    if ended is not None:
        portal().store.delete(ended.id)
    session.pop(SESSION_KEY, None)
    g.portal_session = None
    return ended


def local_path(target: str | None) -> str | None:
    """A path on this portal (for ``target_link_uri`` and returns after sign-in), else None.

    Absolute URLs must be on the portal's own origin; the result is only the path and query, so a
    redirect never leaves the portal."""
    if not target or "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        own = urlsplit(portal().settings.public_url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//"):
        return None
    return path + (f"?{parts.query}" if parts.query else "")
