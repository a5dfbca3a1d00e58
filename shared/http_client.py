"""Outgoing HTTP between services: one ``requests`` session that carries the request id."""
from __future__ import annotations

import requests

from shared.logging import REQUEST_ID_HEADER, get_request_id


class PropagatingSession(requests.Session):
    """A session that sends the current request id with every call and never waits forever."""

    def __init__(self, timeout: float = 10.0) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        headers = kwargs.pop("headers", None) or {}
        request_id = get_request_id()
        if request_id and REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = request_id
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, headers=headers, **kwargs)
