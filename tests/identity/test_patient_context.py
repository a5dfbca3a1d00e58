"""Practice context: whom the account acts for at the portal's practice."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from services.identity.domain import accounts
from shared.database import transaction
from tests.identity.conftest import callback_params, pkce_pair
from tests.identity.steps import decode, exchange

SCOPE = "openid profile launch/patient fhirUser patient/*.rs offline_access"


def link(identity_db, account, practice, patient, relationship="self", name="Pat Lee", valid_until=None):
    with transaction(identity_db) as session:
        accounts.link_patient(session, session.merge(account), practice_id=practice, patient_id=patient,
                              relationship=relationship, display_name=name, valid_until=valid_until)


def portal(make_client, practice):
    return make_client(practice_id=practice, scope=SCOPE)


def test_single_patient_is_chosen_without_a_question(browser, api, make_client, make_account, identity_db, suite):
    client, account = portal(make_client, "practice-1"), make_account()
    link(identity_db, account, "practice-1", "p-100")
    verifier, challenge = pkce_pair()
    response, _ = browser.sign_in(client, account.username, scope=SCOPE, code_challenge=challenge,
                                  code_challenge_method="S256")
    token = exchange(api, client, callback_params(response)["code"], verifier).json
    assert token["patient"] == "p-100"
    assert decode(api, token["access_token"]).claims["patient"] == "p-100"
    assert decode(api, token["id_token"]).claims["fhirUser"].endswith("/Patient/p-100")


def test_guardian_chooses_among_patients_and_only_valid_links_show(browser, api, make_client, make_account,
                                                                   identity_db):
    client, guardian = portal(make_client, "practice-2"), make_account()
    link(identity_db, guardian, "practice-2", "p-self", "self", "Pat Lee")
    link(identity_db, guardian, "practice-2", "p-child", "proxy", "Sam Lee")
    link(identity_db, guardian, "practice-2", "p-expired", "proxy", "Old Proxy",
         valid_until=datetime.now(timezone.utc) - timedelta(days=1))
    link(identity_db, guardian, "other-practice", "p-elsewhere", "proxy", "Elsewhere")
    verifier, challenge = pkce_pair()
    response, _ = browser.authorize(client, scope=SCOPE, code_challenge=challenge, code_challenge_method="S256")
    page = browser.follow(browser.login(browser.follow(response), guardian.username))
    text = page.get_data(as_text=True)
    assert "Sam Lee" in text and "Pat Lee" in text and "Old Proxy" not in text and "Elsewhere" not in text
    uid = page.request.path.rsplit("/", 1)[-1]
    refused = browser.http.post(f"/interaction/{uid}/select", data={"patient_id": "p-elsewhere",
                                                                    "csrf_token": browser.csrf()})
    assert refused.status_code == 400
    chosen = browser.follow(browser.http.post(f"/interaction/{uid}/select",
                                              data={"patient_id": "p-child", "csrf_token": browser.csrf()}))
    token = exchange(api, client, callback_params(chosen)["code"], verifier).json
    assert token["patient"] == "p-child"
    silent, _ = browser.authorize(client, scope=SCOPE, prompt="none", code_challenge=challenge,
                                  code_challenge_method="S256")
    assert "code" in callback_params(silent), "the choice is remembered for this portal's session"
    again = browser.follow(browser.authorize(client, scope=SCOPE, prompt="select_account",
                                             code_challenge=challenge, code_challenge_method="S256")[0])
    assert "Whose records?" in again.get_data(as_text=True)
    assert re.search(r'value="p-self"', again.get_data(as_text=True))


def test_access_token_lists_the_valid_links_for_the_records_gateway(browser, api, make_client, make_account,
                                                                    identity_db):
    client, account = portal(make_client, "practice-3"), make_account()
    link(identity_db, account, "practice-3", "p-own", "self", "Pat Lee")
    link(identity_db, account, "practice-4", "p-child", "proxy", "Sam Lee")
    link(identity_db, account, "practice-4", "p-old", "proxy", "Old", valid_until=datetime.now(timezone.utc) - timedelta(1))
    verifier, challenge = pkce_pair()
    response, _ = browser.sign_in(client, account.username, scope=SCOPE, code_challenge=challenge,
                                  code_challenge_method="S256")
    token = exchange(api, client, callback_params(response)["code"], verifier).json
    claims = decode(api, token["access_token"]).claims
    assert claims["practice"] == "practice-3" and claims["patient"] == "p-own"
    assert claims["links"] == [{"practice": "practice-3", "patient": "p-own", "relationship": "self"},
                               {"practice": "practice-4", "patient": "p-child", "relationship": "proxy"}]
