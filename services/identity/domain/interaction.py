"""The interaction state machine behind the login, patient-selection and consent pages.

    authorize ──► [login] ──► [select patient] ──► [consent] ──► done ──► code to the client
                    ▲  needed when: no session, prompt=login, max_age passed, or a stronger acr is asked;
                    then [second factor] when the account has one enrolled
                                   ▲ needed when: the portal's practice has several patients for you
                                                    ▲ needed when: a third-party app lacks your consent

Pages talk to it only through :func:`details` (what to show next) and the ``finish_*`` functions.
``prompt=none`` turns any needed stage into an error for the client instead of a page.
"""
from __future__ import annotations

import secrets as random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity.db.models import Account, Client, Consent, Interaction, PatientLink, SsoSession
from services.identity.domain import accounts, claims as claim_rules, scopes as scope_rules
from services.identity.domain.time import aware, now

LOGIN, SECOND_FACTOR, SELECT_PATIENT, CONSENT, DONE = "login", "second_factor", "select_patient", "consent", "done"
PROMPT_NONE_ERRORS = {LOGIN: "login_required", SECOND_FACTOR: "login_required", SELECT_PATIENT: "account_selection_required",
                      CONSENT: "consent_required"}
ACR_LEVELS = {"urn:carekey:acr:password": 1, "urn:carekey:acr:mfa": 2}
DEFAULT_ACR = "urn:carekey:acr:password"


@dataclass
class Details:
    stage: str
    interaction: Interaction
    client: Client
    account: Account | None = None
    patients: list[PatientLink] = field(default_factory=list)
    scopes_to_consent: list[str] = field(default_factory=list)
    login_hint: str | None = None


def prompts(params: dict[str, Any]) -> set[str]:
    return set((params.get("prompt") or "").split())


def requested_acr(params: dict[str, Any], claims: dict | None) -> str | None:
    """The strongest acr the client asked for (acr_values, or an essential acr claim)."""
    wanted = (params.get("acr_values") or "").split()
    acr_claim = ((claims or {}).get("id_token") or {}).get("acr") or {}
    values = acr_claim.get("values") if isinstance(acr_claim, dict) else None
    if isinstance(values, list):
        wanted += [v for v in values if isinstance(v, str)]
    elif isinstance(acr_claim, dict) and isinstance(acr_claim.get("value"), str):
        wanted.append(acr_claim["value"])
    known = [value for value in wanted if isinstance(value, str) and value in ACR_LEVELS]
    return max(known, key=ACR_LEVELS.get) if known else None


def login_needed(params: dict[str, Any], sso: SsoSession | None, interaction: Interaction | None,
                 claims: dict | None) -> bool:
    fresh = interaction is not None and interaction.login_done
    if sso is None:
        return True
    if fresh:
        return False
    if "login" in prompts(params):
        return True
    max_age = params.get("max_age")
    if max_age is not None and str(max_age).isascii() and str(max_age).isdigit() and len(str(max_age)) <= 9:
        if now() - aware(sso.auth_time) > timedelta(seconds=int(max_age)):
            return True
    wanted = requested_acr(params, claims)
    if wanted and ACR_LEVELS[wanted] > ACR_LEVELS.get(sso.acr, 0):
        return True
    return False


def missing_consent(session: Session, account_id: str, client: Client, scopes: list[str]) -> list[str]:
    if client.first_party:
        return []
    granted = set(session.scalars(select(Consent.scope).where(Consent.account_id == account_id,
                                                               Consent.client_id == client.client_id)).all())
    return [scope for scope in scopes if scope not in granted and scope != "openid"]


def next_stage(session: Session, client: Client, params: dict[str, Any], sso: SsoSession | None,
               interaction: Interaction | None, claims: dict | None, remembered_patient: str | None) -> Details:
    """What the request still needs, given the current session (pure decision, no writes)."""
    placeholder = interaction or Interaction(id="", client_id=client.client_id, params=params)
    if login_needed(params, sso, interaction, claims):
        if interaction is not None and interaction.pending_account_id:
            return Details(SECOND_FACTOR, placeholder, client, session.get(Account, interaction.pending_account_id))
        return Details(LOGIN, placeholder, client, login_hint=params.get("login_hint"))
    account = session.get(Account, sso.account_id)
    requested = (params.get("scope") or "").split()
    if client.practice_id and scope_rules.wants_patient_context(requested):
        links = accounts.links_at_practice(session, account.id, client.practice_id)
        chosen = interaction.patient_id if interaction and interaction.patient_done else None
        if chosen is not None and not any(link.patient_id == chosen for link in links):
            chosen = None  # a choice made by someone else, or a link since revoked
        if chosen is None and len(links) > 1:
            remembered = remembered_patient if any(l.patient_id == remembered_patient for l in links) else None
            if remembered and "select_account" not in prompts(params):
                chosen = remembered
            else:
                return Details(SELECT_PATIENT, placeholder, client, account, patients=links)
        if chosen is None and links:
            chosen = links[0].patient_id
        placeholder.patient_id = chosen
    elif "select_account" in prompts(params) and not (interaction and interaction.patient_done):
        return Details(SELECT_PATIENT, placeholder, client, account, patients=[])
    consent_forced = "consent" in prompts(params) and not (interaction and interaction.consent_done)
    registered = set((client.scope or "").split())
    asked_claims = set()
    for member in (claims or {}).values():
        asked_claims |= claim_rules.implied_scopes(member)
    requested = requested + sorted((asked_claims & registered) - set(requested))  # claims need consent too
    missing = missing_consent(session, account.id, client, requested)
    if (missing or (consent_forced and not client.first_party)) and not (interaction and interaction.consent_done):
        shown = missing or [s for s in requested if s != "openid"]
        return Details(CONSENT, placeholder, client, account, scopes_to_consent=shown)
    return Details(DONE, placeholder, client, account)


def begin(session: Session, client: Client, params: dict[str, Any], ttl: int) -> Interaction:
    moment = now()
    interaction = Interaction(id=random.token_urlsafe(24), client_id=client.client_id, params=params,
                              created_at=moment, expires_at=moment + timedelta(seconds=ttl))
    session.add(interaction)
    session.flush()
    return interaction


def load(session: Session, uid: str) -> Interaction | None:
    interaction = session.get(Interaction, uid) if uid else None
    if interaction is None or interaction.completed_at is not None or aware(interaction.expires_at) <= now():
        return None
    return interaction


def finish_login(interaction: Interaction, sso: SsoSession) -> None:
    interaction.login_done = True
    interaction.pending_account_id = None
    interaction.session_id = sso.id


def await_second_factor(interaction: Interaction, account_id: str) -> None:
    interaction.pending_account_id = account_id


def finish_patient(interaction: Interaction, patient_id: str | None) -> None:
    interaction.patient_id = patient_id
    interaction.patient_done = True


def finish_consent(session: Session, interaction: Interaction, account_id: str, scopes: list[str]) -> None:
    moment = now()
    for scope in scopes:
        if session.get(Consent, (account_id, interaction.client_id, scope)) is None:
            session.add(Consent(account_id=account_id, client_id=interaction.client_id, scope=scope,
                                granted_at=moment))
    interaction.consent_done = True


def complete(interaction: Interaction) -> None:
    interaction.completed_at = now()
