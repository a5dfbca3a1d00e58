"""Where a search stands between pages, bound to the token that ran it. Pure, apart from the sealing."""
from __future__ import annotations

from dataclasses import dataclass

from services.records.domain.context import TokenContext
from services.records.domain.cursor import CursorCodec
from services.records.domain.search import Criteria
from services.records.errors import InvalidCursor, InvalidParameter

PATIENT_VIEW, EVERYWHERE_VIEW = "patient", "all"


@dataclass(frozen=True)
class PageRequest:
    offset: int
    count: int


def page_size(value: str | None, *, default: int, maximum: int = 100) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 0 < int(value) <= maximum:
        raise InvalidParameter(f"_count must be a whole number from 1 to {maximum}.")
    return int(value)


def _binding(ctx: TokenContext, view: str, resource_type: str) -> dict:
    return {"sub": ctx.subject, "cid": ctx.client_id, "pr": ctx.practice, "pt": ctx.patient,
            "view": view, "type": resource_type}


def seal(codec: CursorCodec, ctx: TokenContext, view: str, criteria: Criteria, page: PageRequest) -> str:
    return codec.seal({**_binding(ctx, view, criteria.resource_type), "q": criteria.query(),
                       "o": page.offset, "n": page.count})


def resume(codec: CursorCodec, ctx: TokenContext, view: str, resource_type: str,
           token: str) -> tuple[list[tuple[str, str]], PageRequest]:
    """The query pairs and page a cursor stands for; InvalidCursor unless made for this very token,
    view and type (a link from another patient's search, or altered, opens nothing)."""
    state = codec.open(token)
    if any(state.get(key) != value for key, value in _binding(ctx, view, resource_type).items()):
        raise InvalidCursor()
    try:
        pairs = [(str(name), str(value)) for name, value in state["q"]]
        offset, count = int(state["o"]), int(state["n"])
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor() from None
    if offset < 0 or not 0 < count <= 100:
        raise InvalidCursor()
    return pairs, PageRequest(offset, count)
