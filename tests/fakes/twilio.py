"""A local HTTP server that speaks enough of Twilio's REST API for our SMS and voice channels,
records every request, and fails on demand (5xx, 429, a permanent 400, or a slow answer)."""
from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
FROM_NUMBER = "+15005550006"


@dataclass
class Recorded:
    kind: str  # message | call
    form: dict
    sid: str


@dataclass
class FakeTwilio:
    requests: list[Recorded] = field(default_factory=list)
    planned: list[tuple[int, int | None]] = field(default_factory=list)  # (status, twilio error code)
    delay_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        app = Flask("fake-twilio")

        @app.post("/2010-04-01/Accounts/<sid>/Messages.json")
        def messages(sid):
            return self._create("message", sid, "SM")

        @app.post("/2010-04-01/Accounts/<sid>/Calls.json")
        def calls(sid):
            return self._create("call", sid, "CA")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _create(self, kind: str, sid: str, prefix: str):
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if sid != ACCOUNT_SID or request.headers.get("Authorization") != expected:
            return jsonify(code=20003, message="Authenticate", status=401), 401
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        with self.lock:
            planned = self.planned.pop(0) if self.planned else None
        if planned is not None:
            status, code = planned
            return jsonify(code=code, message="planned failure", more_info="", status=status), status
        resource_sid = prefix + uuid.uuid4().hex
        with self.lock:
            self.requests.append(Recorded(kind, request.form.to_dict(), resource_sid))
        body = {"sid": resource_sid, "account_sid": sid, "status": "queued", "to": request.form.get("To"),
                "from": request.form.get("From"), "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{sid}/{'Messages' if kind == 'message' else 'Calls'}/{resource_sid}.json"}
        if kind == "message":
            body["body"] = request.form.get("Body")
        return jsonify(body), 201

    def fail_next(self, status: int, code: int | None = None, times: int = 1) -> None:
        with self.lock:
            self.planned.extend([(status, code)] * times)

    def sent(self, kind: str, to: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.kind == kind and r.form.get("To") == to]

    def close(self) -> None:
        self.server.shutdown()
