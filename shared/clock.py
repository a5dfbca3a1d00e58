"""One clock for every service: timezone-aware UTC (SQLite hands back naive datetimes, all UTC)."""
from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def epoch(value: datetime) -> int:
    return int(aware(value).timestamp())
