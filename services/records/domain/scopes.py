"""SMART App Launch scopes for patient-context reads. Pure.

Accepted: v2 ``patient/<Type|*>.<cruds>`` (only ``r`` read and ``s`` search matter here), v2
granular ``patient/Observation.rs?category=laboratory`` (the resource must match the query), and
v1 ``patient/<Type|*>.read`` (= ``rs``) and ``.*``. ``user/`` and ``system/`` scopes grant nothing
at this gateway: it serves a patient context only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from services.records.domain.resources import TYPES
from services.records.domain.search import clause_matches

READ, SEARCH = "r", "s"
_SCOPE = re.compile(r"^patient/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(?:\?(.+))?$")
_V2_PERMS = re.compile(r"^c?r?u?d?s?$")

# A type reached through another: a medication through the patient's prescriptions.
_ALSO_COVERED_BY = {"Medication": "MedicationRequest"}


@dataclass(frozen=True)
class Scope:
    resource: str                             # a type or "*"
    permissions: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()   # granular: every pair must match


def parse(scope_text: str) -> list[Scope]:
    """The patient-resource scopes in a token's ``scope``; malformed ones are dropped."""
    found = []
    for item in (scope_text or "").split():
        match = _SCOPE.match(item)
        if not match:
            continue
        resource, perms, query = match.groups()
        permissions = _permissions(perms)
        if not permissions:
            continue
        pairs = tuple(parse_qsl(query, keep_blank_values=True)) if query else ()
        found.append(Scope(resource, permissions, pairs))
    return found


def _permissions(text: str) -> frozenset[str]:
    if text in ("read", "*"):
        return frozenset({READ, SEARCH})
    if text == "write" or not _V2_PERMS.match(text):
        return frozenset()
    return frozenset(text) & {READ, SEARCH}


@dataclass(frozen=True)
class Grant:
    """What the scopes allow for one type and action: nothing, everything, or what matches a query."""

    allowed: bool
    queries: tuple[tuple[tuple[str, str], ...], ...] = ()  # empty with allowed: no restriction

    def admits(self, resource: dict) -> bool:
        if not self.allowed:
            return False
        if not self.queries:
            return True
        kind = TYPES[resource["resourceType"]]
        return any(all(clause_matches(resource, kind.params[name], value.split(",")) for name, value in query)
                   for query in self.queries)


def grant(scopes: list[Scope], resource_type: str, action: str) -> Grant:
    """Union over the scopes naming this type (or ``*``); a query with an unknown parameter grants nothing."""
    kind = TYPES.get(resource_type)
    names = {"*", resource_type, _ALSO_COVERED_BY.get(resource_type, resource_type)}
    queries, allowed = [], False
    for scope in scopes:
        if scope.resource not in names or action not in scope.permissions:
            continue
        if not scope.query:
            return Grant(True)
        if kind is not None and all(name in kind.params for name, _ in scope.query):
            queries.append(scope.query)
            allowed = True
    return Grant(allowed, tuple(queries))


def needed(resource_type: str, action: str) -> str:
    """The scope to name in an ``insufficient_scope`` challenge."""
    return f"patient/{resource_type}.{'rs' if action == SEARCH else 'r'}"
