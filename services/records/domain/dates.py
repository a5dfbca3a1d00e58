"""FHIR date search (R4 §3.1.1.5.1): every date is a half-open range of instants at its precision,
and a prefix compares the search range with the resource's range. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_FAR_PAST = datetime(1, 1, 2, tzinfo=timezone.utc)
_FAR_FUTURE = datetime(9999, 12, 30, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime  # exclusive


def parse_range(text: str) -> Range:
    """``2024``, ``2024-03``, ``2024-03-05``, ``2024-03-05T10:00[:00[.123]][Z|+hh:mm]`` → its range."""
    match = _DATE.match(text or "")
    if not match:
        raise ValueError(f"not a FHIR date: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if month is None:
            start = datetime(int(year), 1, 1, tzinfo=timezone.utc)
            return Range(start, start.replace(year=start.year + 1))
        if day is None:
            start = datetime(int(year), int(month), 1, tzinfo=timezone.utc)
            following = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
            return Range(start, following)
        if hour is None:
            start = datetime(int(year), int(month), int(day), tzinfo=timezone.utc)
            return Range(start, start + timedelta(days=1))
        tz = timezone.utc if zone in (None, "Z") else _offset(zone)
        start = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                         int(float(fraction or 0) * 1_000_000), tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        raise ValueError(f"not a FHIR date: {text!r}") from None
    step = timedelta(microseconds=1) if fraction else timedelta(seconds=1) if second else timedelta(minutes=1)
    return Range(start, start + step)


def _offset(zone: str) -> timezone:
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def ranges_of(value: Any) -> Iterator[Range]:
    """The range of a date, dateTime, instant or Period value (an open Period end is unbounded)."""
    if isinstance(value, str):
        try:
            yield parse_range(value)
        except ValueError:
            return
    elif isinstance(value, dict) and ("start" in value or "end" in value):
        try:
            start = parse_range(value["start"]).start if value.get("start") else _FAR_PAST
            end = parse_range(value["end"]).end if value.get("end") else _FAR_FUTURE
        except ValueError:
            return
        yield Range(start, end)


def split_prefix(text: str) -> tuple[str, str]:
    if text[:2] in PREFIXES and text[2:3].isdigit():
        return text[:2], text[2:]
    return "eq", text


def compare(prefix: str, search: Range, target: Range) -> bool:
    contains = search.start <= target.start and target.end <= search.end
    above = target.end > search.end      # the range above the search value meets the target
    below = target.start < search.start  # the range below the search value meets the target
    return {"eq": contains, "ne": not contains, "gt": above, "lt": below,
            "ge": above or contains, "le": below or contains}[prefix]


def sort_key(value: Any) -> datetime | None:
    return next((r.start for r in ranges_of(value)), None)
