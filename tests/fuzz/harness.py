"""Sends every fuzz case to every URL rule of an app (Flask's test client) and collects what went wrong."""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import quote, unquote

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from tests.fuzz.inputs import SEED, Case, Request, cases, encode_pairs, verdict

PAGE = "text/html,application/xhtml+xml,*/*;q=0.8"
API = "application/json"
ADDRESS = "192.0.2.7"  # (TEST-NET-1) the fuzz's own client address: its failed sign-ins pause no one else's
_VARIABLE = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")


@dataclass
class Endpoint:
    """An endpoint's good requests (one per method it takes, or more), what it accepts, and the test
    clients (holding a session's cookies) that its requests name."""

    baselines: list[Request] = field(default_factory=list)
    accept: str = API
    clients: dict[str, object] = field(default_factory=dict)
    finish: Callable[[str, Request], Request] | None = None  # e.g. signs each (fuzzed) request for its URL


Spec = Callable[[], Endpoint]  # called once per endpoint, so each gets fresh sessions and tokens


def plain() -> Endpoint:
    """The spec of an endpoint that reads nothing: fuzzed through its query string and headers."""
    return Endpoint([Request("GET", query=(("x", "1"),))])

Formats = Callable[[str | None], set[str]]  # an endpoint's error formats (None: a URL no rule matches)


def path(rule: str, path_vars: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: quote(path_vars.get(m.group(1), "x1").encode("utf-8", "surrogatepass"), safe=""),
                         rule)


def reached(app: Flask, url_path: str, method: str) -> str | None:
    """The endpoint a (fuzzed) path reaches: a bad path segment may leave the rule it was made for."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(unquote(url_path, errors="replace"), method)
    except (HTTPException, RequestRedirect):
        return None
    return endpoint


def send(app: Flask, spec: Endpoint, url_path: str, case: Case):
    request = spec.finish(url_path, case.request) if spec.finish else case.request
    client = spec.clients.get(request.cookies) if request.cookies else None
    client = client or app.test_client()
    headers = {"Accept": spec.accept, **dict(request.headers)}
    body, content_type = request.raw_body, request.content_type
    if body is None and request.form:
        body, content_type = encode_pairs(request.form).encode(), "application/x-www-form-urlencoded"
    elif body is None and request.json is not None:
        body, content_type = json.dumps(request.json).encode(), "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    query = encode_pairs(request.query)
    return client.open(f"{url_path}?{query}" if query else url_path, method=request.method, data=body,
                       headers=headers, environ_base={"REMOTE_ADDR": ADDRESS})


def fuzz(app: Flask, specs: dict[str, Spec], formats: Formats, *, per_place: int = 4) -> tuple[list[str], int]:
    """(failures, requests sent) over every rule and method of *app*; every endpoint needs a spec."""
    rng = random.Random(SEED)
    failures: list[str] = []
    sent = 0
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    missing = sorted({rule.endpoint for rule in rules} - set(specs))
    assert not missing, f"endpoints without a fuzz spec (add one): {missing}"
    for rule in sorted(rules, key=lambda r: (r.endpoint, r.rule)):
        spec = specs[rule.endpoint]()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            baselines = [b for b in spec.baselines if b.method == method] or [Request(method)]
            for case in (case for baseline in baselines for case in cases(baseline, rng, per_place=per_place)):
                sent += 1
                url_path = path(rule.rule, case.request.path_vars)
                label = f"{method} {rule.rule} [{case.label}]"
                try:
                    response = send(app, spec, url_path, case)
                except Exception as exc:  # escaped every error handler: a server would answer 500
                    failures.append(f"{label} raised {type(exc).__name__}: {exc}"[:400])
                    continue
                problem = verdict(response, formats(reached(app, url_path, method)))
                if problem:
                    failures.append(f"{label} {problem}")
    return failures, sent


def report(service: str, failures: list[str], sent: int, shown: int = 80) -> str:
    listed = "\n".join(failures[:shown])
    more = f"\n... and {len(failures) - shown} more" if len(failures) > shown else ""
    return f"{service}: {len(failures)} of {sent} fuzz requests (seed {SEED}) answered wrongly:\n{listed}{more}"
