"""Blocking keys: what a roster row is indexed under, and what a query looks up.

A roster row stores ``blocking_keys(person)``; a query fetches the rows whose stored keys intersect
``probe_keys(query)`` and ranks only those. Every key combines at least two fields, so that none is shared
by more than about a thousand people in a million (never a bare zip, birth year or name). Estimates for a
1,000,000-patient US roster (Smith ~1%, the top given names ~3%, the densest zip ~100,000 people):

==================================  =========================================================  ===========
key                                 finds a true match when ...                                people/key
==================================  =========================================================  ===========
``dob:1985-06-12``                  the date of birth agrees (the query also probes day/month  ~30 (a
                                    swapped)                                                   pediatric
                                                                                               roster ~100)
``fam:<nysiis>:1985``               the surname (or one part of a compound one) sounds alike   Smith ~110
                                    and the birth year agrees (a typo in month or day)
``fmd:<nysiis>:0612``               the surname sounds alike and month and day agree (a typo   Smith ~30
                                    in the year)
``zip:<zip>:<initial>:<nysiis>``    zip, the initial of the given name or of a name it is a    under 500 in
                                    nickname of (Bob -> b, r) and the surname sound agree (no  the densest
                                    or a wrong date of birth)                                  zip
``zgf:<zip>:<given>:<initial>``     zip, given name and the surname's first letter agree (a    ~400 worst
                                    surname typo and no or a wrong date of birth)              case
``nm:<given>:<nysiis>:<zip3>``      given name and surname sound agree in the same 3-digit     Maria Garcia
                                    zip area (a zip typo or a move, no date of birth)          ~100-600
``adr:<house>:<s>:<nysiis>``        house number, the street's first letter and the surname    a household
                                    sound agree (a household, whatever else is wrong)
``ph:<10 digits>``                  the phone number agrees                                    a household
``em:<address>``                    the email address agrees                                   a household
==================================  =========================================================  ===========

The query also probes the keys of its given and family names swapped. Placeholder values (1900-01-01,
000-000-0000, none@none.com, ...) are dropped in normalisation, so they never make a key that thousands
share. Keys are ASCII and at most 120 characters; a row stores about ten.
"""
from __future__ import annotations

from datetime import date

from services.registration.domain.matching_normalise import Prepared, given_group

MAX_KEY = 120


def _dob(value: date) -> str:
    return value.isoformat()


def _swapped(value: date) -> date | None:
    """The date with day and month swapped, when that is another valid date."""
    if value.day > 12 or value.day == value.month:
        return None
    try:
        return value.replace(month=value.day, day=value.month)
    except ValueError:
        return None


def _initials(record: Prepared) -> set[str]:
    return {name[0] for name in given_group(record.given_first) if name}


def _name_keys(record: Prepared, dates: list[date]) -> set[str]:
    keys: set[str] = set()
    for when in dates:
        keys.add(f"dob:{_dob(when)}")
        for code in record.family_codes:
            keys.add(f"fam:{code}:{when.year:04d}")
            keys.add(f"fmd:{code}:{when.month:02d}{when.day:02d}")
    return keys


def _keys(record: Prepared, dates: list[date]) -> set[str]:
    keys = _name_keys(record, dates)
    if record.zip and record.given_first:
        for initial in _initials(record):
            for code in record.family_codes:
                keys.add(f"zip:{record.zip}:{initial}:{code}")
    if record.zip and record.given_first:
        if record.family:
            keys.add(f"zgf:{record.zip}:{record.given_first}:{record.family[0]}")
        for code in record.family_codes:
            keys.add(f"nm:{record.given_first}:{code}:{record.zip[:3]}")
    if record.house and record.street:
        for code in record.family_codes:
            keys.add(f"adr:{record.house}:{record.street}:{code}")
    if len(record.phone) >= 10:
        keys.add(f"ph:{record.phone[-10:]}")
    if record.email:
        keys.add(f"em:{record.email}")
    return {key[:MAX_KEY] for key in keys}


def blocking_keys(record: Prepared) -> set[str]:
    return _keys(record, [record.birth_date] if record.birth_date else [])


def probe_keys(record: Prepared) -> set[str]:
    dates: list[date] = []
    if record.birth_date:
        dates.append(record.birth_date)
        swapped = _swapped(record.birth_date)
        if swapped:
            dates.append(swapped)
    return _keys(record, dates)
