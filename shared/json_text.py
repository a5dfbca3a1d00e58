"""JSON text from outside, parsed within limits. Python's parser recurses, so a document nested
thousands deep would end in a RecursionError: the nesting is measured first, without recursing,
and anything deeper than ``MAX_DEPTH`` is refused. Strings holding a lone surrogate (``"\\ud800"``)
are refused too: no database or encoder accepts them. Every refusal is a ``ValueError`` whose
message may be shown to the sender."""
from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # strings (skipped) and brackets
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class RefusedJSON(ValueError):
    pass


def loads(text: str | bytes) -> Any:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    _check_depth(raw)
    try:
        document = json.loads(raw.decode("utf-8"), parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise RefusedJSON(f"{exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except RecursionError:  # not reached within MAX_DEPTH; kept so that no input can crash a caller
        raise RefusedJSON(f"JSON may be nested at most {MAX_DEPTH} levels deep.") from None
    except UnicodeDecodeError:
        raise RefusedJSON("JSON must be UTF-8 text.") from None
    except RefusedJSON:
        raise
    except ValueError:  # an integer beyond Python's digit limit
        raise RefusedJSON("JSON numbers may have at most 4,300 digits.") from None
    if _SURROGATE_ESCAPE.search(raw):
        _check_strings(document)
    return document


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise RefusedJSON("JSON numbers must be finite.")
    return value


def _no_constant(name: str) -> Any:
    raise RefusedJSON(f"{name} is not JSON.")


def _check_depth(raw: bytes) -> None:
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    depth = 0
    for token in _TOKENS.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise RefusedJSON(f"JSON may be nested at most {MAX_DEPTH} levels deep.")
        elif bracket in (b"]", b"}"):
            depth -= 1


def _check_strings(document: Any) -> None:
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise RefusedJSON("JSON text may not contain lone surrogates (\\ud800 to \\udfff).") from None
