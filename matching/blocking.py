"""Blocking keys: the only way candidates are found, so no search or load scans the index.

A key joins a phonetic code of one name part (after mapping nicknames and spellings to their
canonical forms) with the date of birth or the postcode. Given and family parts share one
key space, so a search with the names swapped, or a typo in one name, still meets the child
through the other name. Keys are stored as signed 64-bit hashes to keep the index small.

Two more kinds are stored, for loads only, with no name: the postcode with the date of birth
("pd"), and the house number and street of the first line of the address with the date of
birth ("ad"). They find the row whose given and family names were both mistyped or changed (a
new family name and a typo in the given name), "ad" even when the postcode was mistyped too; a
home holds few children born on one day (twins, or a namesake), so they add few candidates.
Search never looks them up (query_keys): a search with an address and a date of birth but names
that match nothing must not find anybody.

And two kinds join a given name's code with a family name's code (as a pair, either way round)
and a part of the date of birth: the year ("ny"), and the month and day ("nm"). They find the
row whose date of birth is wrong in one part (a digit, a day out, the year) when there is no
postcode to meet the child by name and postcode: every one-part error keeps either the year or
the month and day. Loads only, like the household keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from hashlib import blake2b

import jellyfish

from matching.normalise import name_tokens, swapped_day_month
from matching.person import Person
from matching.variants import family_forms, given_forms


def key_hash(key: str) -> int:
    return int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _codes(tokens: Iterable[str], forms: Callable[[str], frozenset[str]]) -> set[str]:
    codes: set[str] = set()
    for token in tokens:
        if len(token) < 2:
            continue
        for form in forms(token) | {token}:
            code = jellyfish.metaphone(form)
            if code:
                codes.add(code)
    return codes


def _family_tokens(name: str | None) -> list[str]:
    tokens = name_tokens(name)
    return tokens + ["".join(tokens)] if len(tokens) > 1 else tokens


def name_codes(person: Person) -> set[str]:
    """Phonetic codes of every name the person is known by."""
    codes = _codes(name_tokens(person.given_name), given_forms)
    codes |= _codes(name_tokens(person.middle_names), given_forms)
    codes |= _codes(_family_tokens(person.family_name), family_forms)
    for other in person.other_names:
        codes |= _codes(name_tokens(other.given_name), given_forms)
        codes |= _codes(_family_tokens(other.family_name), family_forms)
    return codes


def full_name_codes(person: Person) -> set[tuple[str, str]]:
    """Pairs of a given name's code and a family name's code, in order of the codes (so that
    given and family names swapped make the same pairs), over every name the person is known by."""
    given = _codes(name_tokens(person.given_name), given_forms)
    family = _codes(_family_tokens(person.family_name), family_forms)
    for other in person.other_names:
        given |= _codes(name_tokens(other.given_name), given_forms)
        family |= _codes(_family_tokens(other.family_name), family_forms)
    pairs: set[tuple[str, str]] = set()
    for first in given:
        for last in family:
            pairs.add((first, last) if first <= last else (last, first))
    return pairs


def _full_name_keys(pairs: set[tuple[str, str]], dates: Iterable[str]) -> set[int]:
    """Each pair of name codes with the year of birth, and with the month and day (dates as ISO text)."""
    keys: set[int] = set()
    for day in dates:
        year, month_day = day[:4], day[5:]
        for first, last in pairs:
            keys.add(key_hash(f"ny|{first}|{last}|{year}"))
            keys.add(key_hash(f"nm|{first}|{last}|{month_day}"))
    return keys


def _keys(codes: set[str], dates: Iterable[str], postcodes: Iterable[str]) -> set[int]:
    keys = {key_hash(f"nd|{code}|{day}") for code in codes for day in dates}
    keys |= {key_hash(f"np|{code}|{postcode}") for code in codes for postcode in postcodes}
    return keys


_WORD = re.compile(r"[^\W_]+")
_HOUSE_NUMBER = re.compile(r"^\d+[a-z]?$")
_NOT_A_STREET = frozenset({"flat", "apartment", "apt", "unit", "the"})


def address_code(line: str | None) -> str | None:
    """The house numbers and the phonetic code of the street's first word ("12 Acacia Avenue"
    gives "12|AKS"), or None for a line without both (a house name alone may be anywhere)."""
    words = _WORD.findall(line.lower()) if line else []
    numbers = [word for word in words if _HOUSE_NUMBER.match(word)]
    if not numbers:
        return None
    after = words[words.index(numbers[-1]) + 1 :]
    street = next((word for word in after if word.isalpha() and len(word) > 1 and word not in _NOT_A_STREET), None)
    code = jellyfish.metaphone(street) if street else ""
    return f"{' '.join(numbers)}|{code}" if code else None


def _household_keys(dates: Iterable[str], postcodes: Iterable[str], address: str | None) -> set[int]:
    keys = {key_hash(f"pd|{postcode}|{day}") for postcode in postcodes for day in dates}
    if address:
        keys |= {key_hash(f"ad|{address}|{day}") for day in dates}
    return keys


def record_keys(person: Person) -> set[int]:
    """Keys stored for a child held in the index."""
    dates = [person.date_of_birth.isoformat()] if person.date_of_birth else []
    postcodes = [p for p in (person.postcode, *person.previous_postcodes) if p]
    return (
        _keys(name_codes(person), dates, postcodes)
        | _household_keys(dates, postcodes, address_code(person.address_line))
        | _full_name_keys(full_name_codes(person), dates)
    )


def _query_dates(query: Person) -> list[str]:
    dates = []
    if query.date_of_birth:
        dates.append(query.date_of_birth.isoformat())
        swapped = swapped_day_month(query.date_of_birth)
        if swapped:
            dates.append(swapped.isoformat())
    return dates


def query_keys(query: Person) -> set[int]:
    """Keys to look up for a search: its names against its date of birth both ways round, and
    against its postcode."""
    postcodes = [query.postcode] if query.postcode else []
    return _keys(name_codes(query), _query_dates(query), postcodes)


def load_query_keys(row: Person) -> set[int]:
    """Keys to look up for a row of a load: the search keys, its postcode and its address with its
    date of birth (both ways round) whatever the names, and its given and family names with the
    year, and with the month and day, of its date of birth."""
    dates = _query_dates(row)
    postcodes = [row.postcode] if row.postcode else []
    return (
        _keys(name_codes(row), dates, postcodes)
        | _household_keys(dates, postcodes, address_code(row.address_line))
        | _full_name_keys(full_name_codes(row), dates)
    )
