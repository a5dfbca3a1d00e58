"""Every error is a short human page; nothing unexpected shows more than a reference."""
from __future__ import annotations

import logging
import secrets

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from examples.portal.csrf import CsrfError

log = logging.getLogger(__name__)

TITLES = {400: "Something is not right with that request", 403: "Not allowed", 404: "Page not found",
          405: "That doesn't work here", 413: "Too much data", 429: "Too many requests"}
MESSAGES = {404: "There is no page at this address. Check the address, or go back to the portal's home page.",
            405: "Go back to the portal's home page and try again."}


class PortalError(Exception):
    def __init__(self, title: str, message: str, status: int = 400) -> None:
        super().__init__(title)
        self.title, self.message, self.status = title, message, status


def install(app: Flask) -> None:
    from examples.portal.web.pages import render

    @app.errorhandler(PortalError)
    def portal_error(error: PortalError):
        return render("error.html", error.status, title=error.title, message=error.message)

    @app.errorhandler(CsrfError)
    def csrf_error(_error):
        return render("error.html", 400, title="This page expired",
                      message="For your security, forms work only from a page this portal showed you recently. "
                              "Go back, reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        if status >= 500:
            return _unexpected(error)
        return render("error.html", status, title=TITLES.get(status, "Something is not right"),
                      message=MESSAGES.get(status, "Go back to the portal's home page and try again."))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        return _unexpected(error)

    def _unexpected(error: Exception):
        reference = secrets.token_hex(4)
        log.error("unexpected error %s on %s %s", reference, request.method, request.path, exc_info=error)
        return render("error.html", 500, title="Something went wrong",
                      message="Something went wrong on our side. Please try again in a moment.", reference=reference)
