"""Bad input, and what every endpoint must answer to it.

A fuzz case is one request: an endpoint's known-good request (its *baseline*: the query, form or JSON
it takes, and the credentials that get it past authentication to its parser) with one thing made
wrong: a text value (NUL, a lone surrogate, a megabyte, JSON nested thousands deep, ...), a JSON
value of the wrong type at any place in the body, a repeated parameter, a wrong content type, a bad
path segment or a broken Authorization header. The cases come from a seeded random generator, so a
run is reproducible: the seed and the case's label are in every failure message.

Whatever comes back must not be a 5xx or show a stack trace, and an error must be in the service's
own format (an OAuth JSON error, application/problem+json, a FHIR OperationOutcome, or a page).
"""
from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator
from urllib.parse import quote

SEED = 20240607

DEEP = 3_000  # three times Python's recursion limit
MEGABYTE = 1_000_000

# Text put wherever a string goes: query and form values, JSON strings, path segments.
TEXT: dict[str, str] = {
    "nul": "\x00",
    "nul-inside": "ab\x00cd",
    "lone-surrogate": "\ud800x",
    "megabyte": "x" * MEGABYTE,
    "ten-thousand": "y" * 10_000,
    "deep-json-text": "[" * DEEP + "]" * DEEP,
    "deep-object-text": '{"a":' * DEEP + "1" + "}" * DEEP,
    "controls": "\x01\x1b[31m\r\n\t\x7f",
    "bidi-and-bom": "\u202e\ufeff\u00e9\U0001d518",
    "empty": "",
    "blank": "   ",
    "bad-percent": "%zz%",
    "markup": "<script>alert(1)</script>\"'",
    "huge-number": "9" * 5_000,
    "negative": "-1",
    "exponent": "1e999",
    "impossible-date": "9999-99-99",
    "date-prefix-nul": "ge\x00",
    "traversal": "../../../etc/passwd",
}

# JSON values (as raw JSON text) put at every place of a JSON body.
JSON_VALUES: dict[str, str] = {
    "zero": "0",
    "negative": "-1",
    "float": "1.5",
    "infinity": "1e999",
    "huge-int": "9" * 5_000,
    "true": "true",
    "null": "null",
    "empty-string": '""',
    "string": '"x"',
    "empty-list": "[]",
    "list": '[1, "a", null]',
    "empty-object": "{}",
    "object": '{"a": 1}',
    "lone-surrogate": '"\\ud800"',
    "raw-surrogate": '"\ud800"',  # its (invalid) UTF-8 bytes in the body, not an escape
    "nul": '"\\u0000"',
    "megabyte": '"' + "x" * MEGABYTE + '"',
    "deep-list": "[" * DEEP + "]" * DEEP,
    "deep-object": '{"a":' * DEEP + "1" + "}" * DEEP,
}

# Whole bodies that are not the JSON they claim to be.
RAW_BODIES: dict[str, tuple[bytes, str | None]] = {
    "not-json": (b"{'a': 1", "application/json"),
    "invalid-utf8-json": (b'{"a": "\xed\xa0\x80\xff"}', "application/json"),
    "json-as-text": (b'{"a": 1}', "text/plain"),
    "no-content-type": (b'{"a": 1}', None),
    "xml": (b"<?xml version='1.0'?><a/>", "application/xml"),
    "bad-charset": (b'{"a": 1}', "application/json; charset=klingon"),
    "broken-multipart": (b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb',
                         "multipart/form-data; boundary=x"),
    "multipart-no-boundary": (b"a=b", "multipart/form-data"),
    "form-bad-escapes": (b"a=%zz&b=%ED%A0%80&%00=1&c", "application/x-www-form-urlencoded"),
    "form-as-json": (b"grant_type=x", "application/json"),
}

# Names that views read from queries and forms (besides each endpoint's own baseline names).
COMMON_NAMES = ("code", "state", "client_id", "redirect_uri", "scope", "token", "username", "password", "email",
                "action", "practice", "patient", "patient_id", "mrn", "limit", "next", "return_to", "claims",
                "_count", "_cursor", "date", "identifier", "birth_date", "channel", "confirm", "decision")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


DEEP_JWT = ".".join([_b64('{"alg":' * 2000 + "1" + "}" * 2000), _b64("[" * DEEP + "]" * DEEP), "c2ln"])
AUTHORIZATION: dict[str, str] = {
    "empty-basic": "Basic ",
    "basic-not-base64": "Basic !!!",
    "basic-no-colon": "Basic " + base64.b64encode(b"just-a-name").decode(),
    "basic-nul": "Basic " + base64.b64encode(b"a\x00:b\x00").decode(),
    "basic-surrogate": "Basic " + base64.b64encode("\ud800:x".encode("utf-8", "surrogatepass")).decode(),
    "bearer-empty": "Bearer ",
    "bearer-garbage": "Bearer not-a-token",
    "bearer-deep-jwt": f"Bearer {DEEP_JWT}",
    "bearer-huge": "Bearer " + "a" * 100_000,
    "other-scheme": "Digest x",
}


@dataclass(frozen=True)
class Request:
    """One request, before it is made wrong: path variables, query pairs, a form or a JSON body."""

    method: str
    path_vars: dict[str, str] = field(default_factory=dict)
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    cookies: str | None = None  # a name in the harness's cookie jars
    raw_body: bytes | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Case:
    label: str
    request: Request


def encode_pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    """Percent-encoded, lone surrogates as their (invalid) UTF-8 bytes, as a hand-made URL carries them."""
    return "&".join(f"{quote(k.encode('utf-8', 'surrogatepass'), safe='')}="
                    f"{quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in pairs)


def json_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every place in a JSON document: the root, each member and each item, depth first."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, (*path, index))


_HOLE = "\u0001fuzz-hole\u0001"


def json_with(document: Any, path: tuple, raw_value: str) -> bytes:
    """*document* serialised with the value at *path* replaced by the raw JSON text *raw_value*."""
    if not path:
        return raw_value.encode("utf-8", "surrogatepass")

    def put(node: Any, rest: tuple) -> Any:
        head, tail = rest[0], rest[1:]
        if isinstance(node, dict):
            return {**node, head: _HOLE if not tail else put(node[head], tail)}
        copy = list(node)
        copy[head] = _HOLE if not tail else put(node[head], tail)
        return copy
    return json.dumps(put(document, path)).replace(json.dumps(_HOLE), raw_value).encode("utf-8", "surrogatepass")


def cases(baseline: Request, rng: random.Random, *, per_place: int = 4) -> Iterator[Case]:
    """The fuzz cases for one endpoint and method, from its baseline request."""
    text = list(TEXT.items())
    values = list(JSON_VALUES.items())
    # a megabyte is slow to send: it goes in a few places only, not in every one sampled
    small_text = [(label, value) for label, value in text if len(value) < MEGABYTE]
    small_values = [(label, raw) for label, raw in values if len(raw) < MEGABYTE]
    yield Case("as is", baseline)

    # every text value in every query parameter (and every common name), and in every form field
    for location in ("query", "form") if baseline.method != "GET" else ("query",):
        own = [name for name, _ in getattr(baseline, location)]
        for label, value in text:
            if len(value) > 1_000:  # a big value once, in a name of the endpoint's own and in an unknown one
                everything = ((own[0] if own else "q", value), ("unknown", value))
            else:
                everything = tuple((name, value) for name in dict.fromkeys([*own, *COMMON_NAMES]))
            yield Case(f"{location}: every name = {label}", replace(baseline, **{location: everything}))
        for name in own:
            for label, value in rng.sample(small_text, per_place) + [("nul", "\x00")]:
                changed = tuple((k, value if k == name else v) for k, v in getattr(baseline, location))
                yield Case(f"{location} {name} = {label}", replace(baseline, **{location: changed}))
            pairs = getattr(baseline, location)
            repeated = pairs + tuple((k, v) for k, v in pairs if k == name)
            yield Case(f"{location} {name} repeated", replace(baseline, **{location: repeated}))

    # a wrong value at every place of the JSON body; then bodies that are not JSON, or not what they say
    if baseline.json is not None:
        for path in json_paths(baseline.json):
            for label, raw in rng.sample(small_values, per_place):
                yield Case(f"json {_dotted(path)} = {label}",
                           replace(baseline, json=None, raw_body=json_with(baseline.json, path, raw),
                                   content_type="application/json"))
        for label, raw in values:
            yield Case(f"json body = {label}", replace(baseline, json=None, content_type="application/json",
                                                       raw_body=raw.encode("utf-8", "surrogatepass")))
    if baseline.method != "GET":
        for label, (body, content_type) in RAW_BODIES.items():
            yield Case(f"body {label}", replace(baseline, json=None, form=(), raw_body=body, content_type=content_type))

    # bad path segments
    for name in baseline.path_vars:
        for label in ("nul", "lone-surrogate", "ten-thousand", "traversal", "bidi-and-bom", "markup"):
            yield Case(f"path {name} = {label}", replace(baseline, path_vars={**baseline.path_vars, name: TEXT[label]}))

    # broken credentials, and none at all
    others = tuple((k, v) for k, v in baseline.headers if k.lower() != "authorization")
    for label, value in AUTHORIZATION.items():
        yield Case(f"authorization {label}", replace(baseline, headers=(*others, ("Authorization", value))))
    yield Case("no credentials", replace(baseline, headers=others, cookies=None))


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "(root)"


# What comes back -------------------------------------------------------------------------------

def _json(response) -> Any:
    try:
        return json.loads(response.get_data())
    except ValueError:
        return None


def is_oauth_error(response) -> bool:
    body = _json(response)
    return response.mimetype == "application/json" and isinstance(body, dict) and isinstance(body.get("error"), str)


def is_problem(response) -> bool:
    body = _json(response)
    return (response.mimetype == "application/problem+json" and isinstance(body, dict)
            and {"type", "title", "status"} <= set(body) and body["status"] == response.status_code)


def is_outcome(response) -> bool:
    body = _json(response)
    return (response.mimetype == "application/fhir+json" and isinstance(body, dict)
            and body.get("resourceType") == "OperationOutcome" and body.get("issue"))


def is_page(response) -> bool:
    return response.mimetype == "text/html" and b"<html" in response.get_data()[:2000].lower()


FORMATS: dict[str, Callable] = {"oauth": is_oauth_error, "problem": is_problem, "outcome": is_outcome,
                                "page": is_page}

_LEAKS = (b"Traceback (most recent call last)", b'File "/', b"sqlalchemy.", b"psycopg", b"RecursionError",
          b"UnicodeEncodeError", b"werkzeug.exceptions")


def verdict(response, formats: set[str]) -> str | None:
    """None when the answer is acceptable, else what is wrong with it."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.get_data()[:200]!r}"
    body = response.get_data()
    leaked = [marker for marker in _LEAKS if marker in body]
    if leaked:
        return f"{response.status_code} shows internals ({leaked[0].decode()})"
    if response.status_code >= 400 and not any(FORMATS[name](response) for name in formats):
        return (f"{response.status_code} {response.mimetype} is not {'/'.join(sorted(formats))}: "
                f"{body[:160]!r}")
    return None
