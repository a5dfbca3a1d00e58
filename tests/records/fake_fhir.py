"""A practice's FHIR R4 server for the tests: serves charts over HTTP, pages its searches, and can
be told to fail, stall, demand a token, leak other patients' resources or page to another host."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from services.demo.charts import Chart
from services.records.domain.policy import RELEASE_TAG
from services.records.domain.resources import patient_ids


@dataclass
class Behaviour:
    failures: int = 0                 # answer 503 this many times first
    down: bool = False                # answer 500 to everything
    delay: float = 0.0                # seconds before answering
    token: str | None = None          # the bearer token required, if any
    page_size: int = 100
    leak: bool = False                # searches also return other patients' resources
    next_to: str | None = None        # a next link to this other origin
    calls: list[str] = field(default_factory=list)


class FakeFhirServer:
    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], dict] = {}
        self.behaviour = Behaviour()
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/fhir"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, chart: Chart) -> None:
        for resource, shared in chart.entries:
            resource = dict(resource)
            if shared:
                resource["meta"] = {"tag": [{"system": RELEASE_TAG, "code": "shared"}]}
            self.resources[(resource["resourceType"], resource["id"])] = resource

    def close(self) -> None:
        self.server.shutdown()

    def _build(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def misbehave():
            b = self.behaviour
            b.calls.append(request.full_path)
            if b.delay:
                time.sleep(b.delay)
            if b.token and request.headers.get("Authorization") != f"Bearer {b.token}":
                return jsonify(resourceType="OperationOutcome", issue=[]), 401
            if b.down:
                return jsonify(resourceType="OperationOutcome", issue=[]), 500
            if b.failures > 0:
                b.failures -= 1
                return jsonify(resourceType="OperationOutcome", issue=[]), 503
            return None

        @app.get("/fhir/<kind>/<rid>")
        def read(kind, rid):
            found = self.resources.get((kind, rid))
            return (jsonify(found), 200) if found else (jsonify(resourceType="OperationOutcome", issue=[]), 404)

        @app.get("/fhir/<kind>")
        def search(kind):
            patient = request.args.get("patient") or request.args.get("_id")
            matches = [r for (k, _), r in sorted(self.resources.items()) if k == kind
                       and (self.behaviour.leak or patient in patient_ids(r))]
            offset = int(request.args.get("_offset", 0))
            size = min(int(request.args.get("_count", 100)), self.behaviour.page_size)
            bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                      "entry": [{"resource": r, "search": {"mode": "match"}} for r in matches[offset:offset + size]],
                      "link": []}
            if offset + size < len(matches):
                base = self.behaviour.next_to or request.host_url.rstrip("/")
                bundle["link"].append({"relation": "next", "url": f"{base}/fhir/{kind}?patient={patient}"
                                                                   f"&_count={size}&_offset={offset + size}"})
            return jsonify(bundle)

        return app
