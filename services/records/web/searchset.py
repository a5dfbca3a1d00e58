"""A search page as a searchset Bundle with self, next and previous links (paging links carry only
an opaque cursor)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Response

from services.records.domain import bundles
from services.records.domain.gateway import Page
from services.records.web.context import services
from services.records.web.responses import fhir_response


def searchset_response(page: Page, *, everywhere: bool) -> Response:
    base = services().settings.public_url
    path = f"{base}/all/{page.criteria.resource_type}" if everywhere else f"{base}/{page.criteria.resource_type}"

    def paged(cursor: str | None) -> str | None:
        return f"{path}?{urlencode({'_cursor': cursor})}" if cursor else None

    self_url = paged(page.self_cursor) or f"{path}?{urlencode(page.criteria.query() + [('_count', str(page.count))])}"
    return fhir_response(bundles.searchset(page, base_url=base, self_url=self_url,
                                           next_url=paged(page.next_cursor), previous_url=paged(page.previous_cursor),
                                           everywhere=everywhere))
