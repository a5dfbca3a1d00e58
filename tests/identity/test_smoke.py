from tests.identity.conftest import callback_params, pkce_pair


def test_code_flow_smoke(browser, api, make_client, make_account):
    client = make_client()
    account = make_account()
    verifier, challenge = pkce_pair()
    response, query = browser.sign_in(client, account.username, code_challenge=challenge, code_challenge_method="S256")
    params = callback_params(response)
    assert params["state"] == query["state"]
    token = api.post("/token", data={"grant_type": "authorization_code", "code": params["code"],
                                     "redirect_uri": client.redirect_uri, "code_verifier": verifier},
                     auth=(client.client_id, client.secret))
    assert token.status_code == 200, token.json
    print(token.json)
    info = api.get("/userinfo", headers={"Authorization": f"Bearer {token.json['access_token']}"})
    print(info.json)
    assert info.status_code == 200
