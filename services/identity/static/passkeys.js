// Passkeys in the browser: turn the server's options into WebAuthn calls and the answers into JSON.
(function () {
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/"), pad = b64.length % 4 ? 4 - (b64.length % 4) : 0;
    var raw = atob(b64 + "====".slice(0, pad)), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, body, csrf) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body || {})}).then(function (r) {
        return r.json().then(function (j) { if (!r.ok) { throw new Error(j.detail || "Passkey failed."); } return j; });
      });
  }
  function show(el, message) { var box = document.getElementById(el.dataset.status); if (box) { box.textContent = message; } }

  document.querySelectorAll("[data-passkey-sign-in]").forEach(function (button) {
    if (!window.PublicKeyCredential) { button.hidden = true; return; }
    button.addEventListener("click", function () {
      var base = button.dataset.passkeySignIn, csrf = button.dataset.csrf;
      post(base + "/options", {}, csrf).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = toBytes(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.get({publicKey: pk}).then(function (cred) {
          return post(base, {challenge_id: o.challenge_id, credential: {
            id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: {
              clientDataJSON: toB64url(cred.response.clientDataJSON),
              authenticatorData: toB64url(cred.response.authenticatorData),
              signature: toB64url(cred.response.signature),
              userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : null}}}, csrf);
        });
      }).then(function (r) { window.location = r.redirect; }).catch(function (e) { show(button, e.message); });
    });
  });

  document.querySelectorAll("[data-passkey-register]").forEach(function (button) {
    if (!window.PublicKeyCredential) { button.hidden = true; return; }
    button.addEventListener("click", function () {
      var base = button.dataset.passkeyRegister, csrf = button.dataset.csrf;
      post(base + "/options", {}, csrf).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = toBytes(pk.challenge);
        pk.user.id = toBytes(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({publicKey: pk}).then(function (cred) {
          return post(base, {challenge_id: o.challenge_id, name: "Passkey", credential: {
            id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: {
              clientDataJSON: toB64url(cred.response.clientDataJSON),
              attestationObject: toB64url(cred.response.attestationObject)}}}, csrf);
        });
      }).then(function () { window.location.reload(); }).catch(function (e) { show(button, e.message); });
    });
  });
})();
