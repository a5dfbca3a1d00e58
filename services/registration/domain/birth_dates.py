"""Dates of birth as people type them and as spreadsheets export them. Pure; no I/O.

``read(text, today)`` accepts:

- ISO 8601: ``1985-06-12``, ``19850612``, and either with the midnight time an export adds
  (``1985-06-12 00:00:00``, ``1985-06-12T00:00:00Z``);
- US, month first, as offices type them: ``6/12/1985``, ``06-12-1985`` (also with a spreadsheet's
  ``0:00`` or ``12:00:00 AM`` after it);
- a two-digit year (``6/12/85``, what a spreadsheet shows) only when the century is certain: 20YY
  would lie in the future, so it is 19YY. ``6/12/05`` could be 1905 or 2005, and a wrong century
  would hand a centenarian's records to a "parent" under the proxy age rules: it is refused.

A date that reads day first (``31/12/1985``: no 31st month) is refused, never swapped: it says the
source writes dates day first, so its other dates can't be trusted either (roster_formats refuses
every date of such a file whose day and month could be swapped). Anything else unreadable is refused
with the forms above. Blank and the usual "not known" markers (``unknown``, ``n/a``, ``-``) are
``None``.

A date written correctly that cannot be a birth date raises ``NoSuchDate``: no such day
(``02/30/1985``, ``00/00/0000``), in the future, or before 2 January 1901 (``1900-01-01`` and
``1901-01-01`` are what many systems write for "not known"). A roster imports those as unknown; a
form asks again.
"""
from __future__ import annotations

import re
from datetime import date

EARLIEST = date(1901, 1, 2)
UNKNOWN_MARKERS = frozenset({"", "unknown", "unk", "n/a", "na", "none", "null", "nil", "-", "--", "?", "0"})
FORMS = "1985-06-12 or 06/12/1985"

_MIDNIGHT = r"(?:[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?)?"
_ISO = re.compile(rf"(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_MIDNIGHT}")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_US = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4}|\d{2})(?:\s+(?:0?0:00(?::00)?|12:00(?::00)?\s?AM))?",
                 re.IGNORECASE)


class DateUnreadable(ValueError):
    """Not written in a form we read, or ambiguous; the message says how to write it."""


class NoSuchDate(ValueError):
    """Written as a date, but not a possible date of birth; the message says why."""


def _month_first(text: str) -> tuple[int, int, str] | None:
    """(first, second, year) of a US-shaped date, or None."""
    found = _US.fullmatch(text)
    return (int(found.group(1)), int(found.group(3)), found.group(4)) if found else None


def looks_day_first(text: str) -> bool:
    """``31/12/1985``: the first number can't be a month, the second can."""
    parts = _month_first(str(text or "").strip())
    return bool(parts) and parts[0] > 12 and 1 <= parts[1] <= 12


def swappable(text: str) -> bool:
    """``03/04/1985``: month first or day first both give a date, and different ones."""
    parts = _month_first(str(text or "").strip())
    return bool(parts) and parts[0] != parts[1] and 1 <= parts[0] <= 12 and 1 <= parts[1] <= 12


def _century(two_digits: str, today: date) -> int:
    year = 2000 + int(two_digits)
    if year > today.year:
        return year - 100
    raise DateUnreadable(f"A two-digit year could be {year - 100} or {year}: write the year in full.")


def _checked(year: int, month: int, day: int, today: date) -> date:
    try:
        value = date(year, month, day)
    except ValueError:
        raise NoSuchDate("There is no such day.") from None
    if value > today:
        raise NoSuchDate("The date is in the future.")
    if value < EARLIEST:
        raise NoSuchDate("The date is before 1901 (a placeholder for \"not known\").")
    return value


def read(text: object, today: date) -> date | None:
    """The date of birth *text* means, or None when it says "not known"; see the module's rules."""
    text = str(text if text is not None else "").strip()
    if text.lower() in UNKNOWN_MARKERS:
        return None
    found = _ISO.fullmatch(text) or _COMPACT.fullmatch(text)
    if found:
        return _checked(int(found.group(1)), int(found.group(2)), int(found.group(3)), today)
    parts = _month_first(text)
    if parts is None:
        raise DateUnreadable(f"Use a date like {FORMS}.")
    first, second, year = parts
    if looks_day_first(text):
        raise DateUnreadable(f"{text} reads day first (there is no month {first}): write the month first, "
                             f"{second:02d}/{first:02d}/{year}, or use YYYY-MM-DD.")
    full_year = int(year) if len(year) == 4 else _century(year, today)
    return _checked(full_year, first, second, today)
