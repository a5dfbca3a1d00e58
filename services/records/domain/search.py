"""Search requests: the parameters a client sent, checked against the type's US Core parameters,
and the matching of resources against them. Pure.

Repeated parameters are ANDed, comma-separated values ORed. Unknown parameters, modifiers and
``_revinclude`` are refused (400) rather than ignored: a gateway that silently drops a filter would
return more than was asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlencode

from services.records.domain import dates
from services.records.domain.resources import DATE, STRING, TOKEN, Param, ResourceType, codings, values_at
from services.records.errors import InvalidParameter, NotSupported

PATIENT_PARAMS = ("patient", "subject", "patient:Patient", "subject:Patient")
CONTROL = ("_count", "_cursor", "_include", "_format")
MAX_VALUES = 20


@dataclass(frozen=True)
class Clause:
    name: str
    values: tuple[str, ...]  # alternatives (OR)


@dataclass(frozen=True)
class Criteria:
    resource_type: str
    clauses: tuple[Clause, ...] = ()      # all must hold (AND)
    patients: tuple[str, ...] = ()        # ids named by patient= / subject=
    includes: tuple[str, ...] = ()

    def query(self) -> list[tuple[str, str]]:
        """The criteria as normalised query pairs (stable order): cache keys, cursors, self links."""
        pairs = [(c.name, ",".join(c.values)) for c in self.clauses]
        pairs += [("patient", p) for p in self.patients] + [("_include", i) for i in self.includes]
        return sorted(pairs)

    def query_string(self) -> str:
        return urlencode(self.query())


def parse(kind: ResourceType, pairs: Iterable[tuple[str, str]]) -> tuple[Criteria, dict[str, str]]:
    """Criteria and the paging controls (``_count``, ``_cursor``) from the request's query pairs."""
    clauses, patients, includes, controls = [], [], [], {}
    for name, value in pairs:
        if name in ("_count", "_cursor", "_format"):
            if name in controls:
                raise InvalidParameter(f"{name} may be given once.")
            controls[name] = value
        elif name == "_include":
            if value not in kind.includes:
                raise NotSupported(f"_include={value} is not supported here.")
            includes.append(value)
        elif name in PATIENT_PARAMS and kind.name != "Patient":
            patients.extend(_patient_ids(value))
        elif name in kind.params:
            clauses.append(Clause(name, _checked(name, kind.params[name], value)))
        elif name.startswith("_") or ":" in name or "." in name:
            raise NotSupported(f"The parameter {name.split(':')[0]} is not supported here.")
        else:
            raise InvalidParameter(f"Unknown search parameter for {kind.name}: {name}.")
    return Criteria(kind.name, tuple(clauses), tuple(dict.fromkeys(patients)), tuple(dict.fromkeys(includes))), controls


def _values(name: str, value: str) -> tuple[str, ...]:
    values = tuple(v for v in value.split(",") if v != "")
    if not values or len(values) > MAX_VALUES or any(len(v) > 200 for v in values):
        raise InvalidParameter(f"{name} needs between 1 and {MAX_VALUES} values.")
    return values


def _checked(name: str, param: Param, value: str) -> tuple[str, ...]:
    values = _values(name, value)
    if param.kind == DATE:
        for item in values:
            try:
                dates.parse_range(dates.split_prefix(item)[1])
            except ValueError:
                raise InvalidParameter(f"{name}: {item!r} is not a date (prefixes: eq, ne, gt, lt, ge, le).") from None
    return values


def _patient_ids(value: str) -> list[str]:
    ids = []
    for item in _values("patient", value):
        parts = item.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] != "Patient":
            raise InvalidParameter("patient must name a Patient.")
        ids.append(parts[-1])
    return ids


def matches(resource: dict, kind: ResourceType, criteria: Criteria) -> bool:
    return all(clause_matches(resource, kind.params[c.name], c.values) for c in criteria.clauses)


def clause_matches(resource: dict, param: Param, alternatives: Iterable[str]) -> bool:
    found = [v for path in param.paths for v in values_at(resource, path)]
    return any(_value_matches(param.kind, found, wanted) for wanted in alternatives)


def _value_matches(kind: str, found: list[Any], wanted: str) -> bool:
    if kind == TOKEN:
        system, bar, code = wanted.rpartition("|")
        for value in found:
            for have_system, have_code in codings(value):
                if (not bar or system == "" and have_system is None or system == have_system) and (
                        code == "" or have_code == code):
                    return True
        return False
    if kind == DATE:
        prefix, text = dates.split_prefix(wanted)
        search = dates.parse_range(text)
        return any(dates.compare(prefix, search, r) for value in found for r in dates.ranges_of(value))
    if kind == STRING:
        needle = wanted.casefold()
        return any(part.casefold().startswith(needle) for value in found for part in _strings(value))
    return False


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def sort_key(resource: dict, kind: ResourceType) -> tuple:
    """Newest first by the type's date; undated last; then by id."""
    param = kind.sort_param
    moment = None
    if param is not None:
        moment = next((k for path in param.paths for v in values_at(resource, path)
                       if (k := dates.sort_key(v)) is not None), None)
    return (moment is None, -(moment.timestamp()) if moment else 0.0, str(resource.get("id", "")))
