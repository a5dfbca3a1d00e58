"""The refresh grace window for concurrent clients (a setting, 0 by default)."""
from __future__ import annotations

import dataclasses

import pytest

from services import registry
from tests.identity.conftest import Browser
from tests.identity.steps import login_and_exchange, refresh


@pytest.fixture(scope="module")
def lenient_app(suite):
    settings = dataclasses.replace(suite.settings["identity"], refresh_grace_seconds=30)
    return registry.create_app("identity", settings)


def test_rotated_token_is_accepted_again_within_the_grace_window(lenient_app, make_client, make_account):
    api, browser = lenient_app.test_client(), Browser(lenient_app)
    client, account = make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account)
    first = refresh(api, client, token["refresh_token"])
    second = refresh(api, client, token["refresh_token"])  # a concurrent tab used the same token
    assert first.status_code == 200 and second.status_code == 200
    assert refresh(api, client, first.json["refresh_token"]).status_code == 200, "nothing was revoked"


def test_default_has_no_grace(suite):
    assert suite.settings["identity"].refresh_grace_seconds == 0


def test_only_one_replay_is_tolerated_within_the_window(lenient_app, make_client, make_account):
    api, browser = lenient_app.test_client(), Browser(lenient_app)
    client, account = make_client(), make_account()
    token, _ = login_and_exchange(browser, api, client, account)
    assert refresh(api, client, token["refresh_token"]).status_code == 200
    assert refresh(api, client, token["refresh_token"]).status_code == 200
    third = refresh(api, client, token["refresh_token"])
    assert third.status_code == 400 and third.json["error"] == "invalid_grant", "a stream of replays is reuse"
