"""A practice's own FHIR R4 server over HTTP: timeouts on every call, bounded retries with backoff
for idempotent reads, and a circuit breaker per practice so a server that is down costs one fast
failure instead of a pile of waiting requests.

Searches ask for the patient's compartment (``?patient=`` or, for Patient, ``?_id=``) and follow
the server's ``next`` links, but only on the same origin (credentials never go elsewhere) and for
at most ``MAX_PAGES`` pages.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pybreaker
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.records.errors import SourceUnavailable
from services.records.settings import FhirSourceConfig
from shared.http_client import PropagatingSession

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
PAGE_SIZE = 100
MAX_PAGES = 10


class UpstreamError(Exception):
    """A failure that counts against the circuit breaker (5xx, timeouts, unreadable answers)."""


def make_session(config: FhirSourceConfig, *, timeout: float, retries: int) -> requests.Session:
    session = PropagatingSession(timeout=timeout)
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=0.2,
                  status_forcelist=(429, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  respect_retry_after_header=True, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=10)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Accept"] = FHIR_JSON
    if config.auth == "bearer":
        session.headers["Authorization"] = f"Bearer {config.token}"
    elif config.auth == "basic":
        session.auth = (config.username, config.password)
    return session


class FhirServerSource:
    """:class:`~services.records.interfaces.RecordsSource` for one practice's FHIR server."""

    def __init__(self, practice_id: str, config: FhirSourceConfig, *, timeout: float = 5.0, retries: int = 2,
                 fail_max: int = 5, reset_seconds: float = 30.0, session: requests.Session | None = None) -> None:
        self.practice_id = practice_id
        self.base_url = config.base_url.rstrip("/")
        self.http = session or make_session(config, timeout=timeout, retries=retries)
        self.breaker = pybreaker.CircuitBreaker(fail_max=fail_max, reset_timeout=reset_seconds,
                                                name=f"records-source-{practice_id}")

    def patient_resources(self, practice_id: str, patient_id: str, resource_type: str) -> list[dict]:
        criterion = "_id" if resource_type == "Patient" else "patient"
        url = f"{self.base_url}/{resource_type}"
        params: dict | None = {criterion: patient_id, "_count": str(PAGE_SIZE)}
        found: list[dict] = []
        for _page in range(MAX_PAGES):
            bundle = self._call(url, params)
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise SourceUnavailable()
            found += [entry["resource"] for entry in bundle.get("entry") or []
                      if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
                      and (entry.get("search") or {}).get("mode", "match") == "match"]
            url, params = self._next(bundle), None
            if url is None:
                return found
        log.warning("records source has more pages than we read", extra={"practice": practice_id,
                                                                          "resource_type": resource_type})
        return found

    def resource(self, practice_id: str, resource_type: str, resource_id: str) -> dict | None:
        found = self._call(f"{self.base_url}/{resource_type}/{resource_id}", None)
        return found if isinstance(found, dict) else None

    def _next(self, bundle: dict) -> str | None:
        link = next((item.get("url") for item in bundle.get("link") or []
                     if isinstance(item, dict) and item.get("relation") == "next"), None)
        if not isinstance(link, str):
            return None
        ours, theirs = urlsplit(self.base_url), urlsplit(link)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            log.warning("records source sent a next link to another origin; not followed",
                        extra={"practice": self.practice_id})
            return None
        return link

    def _call(self, url: str, params: dict | None) -> dict | None:
        try:
            return self.breaker.call(self._get, url, params)
        except pybreaker.CircuitBreakerError:
            log.warning("records source circuit open", extra={"practice": self.practice_id})
            raise SourceUnavailable() from None
        except (UpstreamError, requests.RequestException) as exc:
            log.warning("records source failed", extra={"practice": self.practice_id, "error": type(exc).__name__})
            raise SourceUnavailable() from None

    def _get(self, url: str, params: dict | None) -> dict | None:
        response = self.http.get(url, params=params)
        if response.status_code in (404, 410):
            return None
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise UpstreamError(f"status {response.status_code}")
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            raise UpstreamError("unreadable body") from None
