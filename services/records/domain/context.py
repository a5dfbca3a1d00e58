"""What a verified access token says about who is asking and for whom. Pure."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.records.domain import scopes as scope_rules
from services.records.domain.policy import Link, context_link

_LINK_RELATIONSHIPS = ("self", "proxy")


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
            if (isinstance(item, dict) and all(isinstance(item.get(k), str) and item[k] for k in
                                               ("practice", "patient", "relationship"))
                    and item["relationship"] in _LINK_RELATIONSHIPS):
                links.append(Link(item["practice"], item["patient"], item["relationship"]))
        patient, practice = claims.get("patient"), claims.get("practice")
        return cls(subject=claims["sub"], client_id=claims["client_id"],
                   scopes=tuple(scope_rules.parse(claims.get("scope") or "")),
                   patient=patient if isinstance(patient, str) else None,
                   practice=practice if isinstance(practice, str) else None,
                   links=tuple(links))

    @property
    def own_link(self) -> Link | None:
        return context_link(self.patient, self.practice, list(self.links))

    def grant(self, resource_type: str, action: str) -> scope_rules.Grant:
        return scope_rules.grant(list(self.scopes), resource_type, action)
