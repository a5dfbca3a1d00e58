"""What a verified access token says about who is asking and for whom. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.records.domain import scopes as scope_rules
from services.records.domain.policy import Link, context_link

_LINK_RELATIONSHIPS = ("self", "proxy")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR ids; practice ids keep to the same characters


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.match(value) else None


@dataclass(frozen=True)
class TokenContext:
    subject: str
    client_id: str
    scopes: tuple[scope_rules.Scope, ...]
    patient: str | None = None
    practice: str | None = None
    links: tuple[Link, ...] = field(default_factory=tuple)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> "TokenContext":
        links = []
        for item in claims.get("links") or []:
            if (isinstance(item, dict) and _id(item.get("practice")) and _id(item.get("patient"))
                    and item.get("relationship") in _LINK_RELATIONSHIPS):
                links.append(Link(item["practice"], item["patient"], item["relationship"]))
        scope = claims.get("scope")
        return cls(subject=claims["sub"], client_id=claims["client_id"],
                   scopes=tuple(scope_rules.parse(scope if isinstance(scope, str) else "")),
                   patient=_id(claims.get("patient")), practice=_id(claims.get("practice")),
                   links=tuple(links))

    @property
    def own_link(self) -> Link | None:
        return context_link(self.patient, self.practice, list(self.links))

    def grant(self, resource_type: str, action: str) -> scope_rules.Grant:
        return scope_rules.grant(list(self.scopes), resource_type, action)
