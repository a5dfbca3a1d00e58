"""Practices and their registration rules.

A practice chooses which registration paths are open (an office invitation, self sign-up, an office
security code), how a patient may prove identity (the office PIN, a code by email, text or voice),
its proxy rules (age bands; how long an adult's proxy lasts), its matching thresholds, how long an
invitation lasts (14 days, as in the seeds) and how many ``$match`` queries an operator client may send
it a minute.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.db.models import Practice
from services.registration.domain.time import now

PATHS = ("invitation", "signup", "security_code")
CHANNELS = ("email", "sms", "voice")
MAX_MATCH_PER_MINUTE = 60_000


class PracticeError(ValueError):
    """Practice settings that cannot be accepted; the message is safe to show."""


@dataclass(frozen=True)
class ProxyRules:
    full_access_under: int = 12      # a guardian sees everything for a child under this age
    teen_until: int = 18             # from full_access_under to here: only with the teen's agreement
    adult_proxy_days: int = 365      # an adult patient's proxy expires after this many days

    def validate(self) -> None:
        if not 0 <= self.full_access_under <= self.teen_until <= 21:
            raise PracticeError("Proxy ages must satisfy 0 ≤ full_access_under ≤ teen_until ≤ 21.")
        if not 1 <= self.adult_proxy_days <= 3650:
            raise PracticeError("adult_proxy_days must be between 1 and 3650.")


@dataclass(frozen=True)
class PracticeSettings:
    portal_url: str = ""                         # where a patient goes once registered (the portal's login)
    portal_client_ids: tuple[str, ...] = ()      # the practice's portal clients at identity
    paths: tuple[str, ...] = PATHS
    code_channels: tuple[str, ...] = CHANNELS
    office_pin: bool = True                      # the office PIN is accepted as proof
    invitation_days: int = 14
    security_code_days: int = 30
    proxy_code_days: int = 30
    proxy: ProxyRules = field(default_factory=ProxyRules)
    match_per_minute: int = 600                  # $match queries per operator client a minute (429 past it)
    certain_threshold: float | None = None       # None: the matching engine's defaults
    probable_threshold: float | None = None
    possible_threshold: float | None = None

    def validate(self) -> "PracticeSettings":
        if any(p not in PATHS for p in self.paths):
            raise PracticeError(f"paths must be among {', '.join(PATHS)}.")
        if any(c not in CHANNELS for c in self.code_channels):
            raise PracticeError(f"code_channels must be among {', '.join(CHANNELS)}.")
        if not (self.code_channels or self.office_pin):
            raise PracticeError("A practice needs at least one way to prove identity (a code channel or the PIN).")
        for name in ("invitation_days", "security_code_days", "proxy_code_days"):
            if not 1 <= getattr(self, name) <= 90:
                raise PracticeError(f"{name} must be between 1 and 90.")
        if isinstance(self.match_per_minute, bool) or not isinstance(self.match_per_minute, int) \
                or not 1 <= self.match_per_minute <= MAX_MATCH_PER_MINUTE:
            raise PracticeError(f"match_per_minute must be a whole number from 1 to {MAX_MATCH_PER_MINUTE}.")
        thresholds = [t for t in (self.certain_threshold, self.probable_threshold, self.possible_threshold)
                      if t is not None]
        if any(not 0 < t <= 1 for t in thresholds) or thresholds != sorted(thresholds, reverse=True):
            raise PracticeError("Matching thresholds lie in (0, 1] with certain ≥ probable ≥ possible.")
        self.proxy.validate()
        return self

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["paths"], values["code_channels"] = list(self.paths), list(self.code_channels)
        values["portal_client_ids"] = list(self.portal_client_ids)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "PracticeSettings":
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise PracticeError(f"Unknown practice settings: {', '.join(sorted(unknown))}.")
        proxy = values.pop("proxy", None) or {}
        if not isinstance(proxy, dict) or set(proxy) - {f.name for f in fields(ProxyRules)}:
            raise PracticeError("proxy takes full_access_under, teen_until and adult_proxy_days.")
        for name in ("paths", "code_channels", "portal_client_ids"):
            if name in values:
                values[name] = tuple(values[name])
        try:
            return replace(cls(), **values, proxy=ProxyRules(**proxy)).validate()
        except TypeError as exc:
            raise PracticeError(f"Invalid practice settings: {exc}") from None


@dataclass(frozen=True)
class PracticeView:
    id: str
    name: str
    settings: PracticeSettings


def _view(row: Practice) -> PracticeView:
    return PracticeView(row.id, row.name, PracticeSettings.from_dict(row.settings))


def get(session: Session, practice_id: str) -> PracticeView | None:
    row = session.get(Practice, practice_id)
    return _view(row) if row is not None else None


def all_practices(session: Session) -> list[PracticeView]:
    return [_view(row) for row in session.scalars(select(Practice).order_by(Practice.id))]


def save(session: Session, practice_id: str, *, name: str, settings: PracticeSettings) -> PracticeView:
    """Create or update a practice (idempotent)."""
    if not practice_id or len(practice_id) > 64 or not practice_id.replace("-", "").replace("_", "").isalnum():
        raise PracticeError("A practice id is 1 to 64 letters, digits, '-' or '_'.")
    if not name.strip():
        raise PracticeError("A practice needs a name.")
    settings.validate()
    moment = now()
    row = session.get(Practice, practice_id)
    if row is None:
        row = Practice(id=practice_id, created_at=moment)
        session.add(row)
    row.name, row.settings, row.updated_at = name.strip(), settings.as_dict(), moment
    session.flush()
    return _view(row)
