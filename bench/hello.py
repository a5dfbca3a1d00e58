"""The HTTP ceiling: the least a gunicorn worker can do per request, under the same config as the
services. ``raw`` is a bare WSGI callable; ``flask`` a Flask app answering a constant."""
from __future__ import annotations

from flask import Flask

BODY = b'{"hello":"world"}'


def raw(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
    return [BODY]


flask = Flask(__name__)


@flask.get("/")
def hello():
    return flask.response_class(BODY, mimetype="application/json")
