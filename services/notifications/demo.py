"""Demo data for `make run` (the embedded default)."""
from __future__ import annotations

from flask import Flask


def seed(app: Flask) -> list[str]:
    """Seed demo data idempotently; returns lines describing what exists."""
    return []
