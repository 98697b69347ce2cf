"""Comparison levels for record linkage: how two records agree, field by field, in a few levels.

Each comparison puts a pair of records in exactly one level (the first that applies, strongest
first), and says why in words. The linkage model (matching.model) holds how likely each level is
for the same child (m) and for two different children among the candidates (u).

Siblings share a family name, an address, a postcode and carers, so those are one comparison,
"household": agreement there says "same family", which is not "same child".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.fuzz import token_sort_ratio

from matching.normalise import (
    fold,
    format_postcode,
    name_key,
    name_parts,
    name_tokens,
    postcode_outward,
    swapped_day_month,
)
from matching.person import Person
from matching.variants import are_family_variants, are_given_variants

# Bounded so that a load of millions of rows keeps a steady size: a batch's people (its rows, and
# the candidates read whole to be scored; those only bounded are prepared once and not kept, see
# prepared_once) all fit, and a load forgets them between batches (forget_prepared); pairs of
# names recur far more across a load, and each costs only a few hundred bytes.
PREPARED_CACHE = 16_384
NAME_CACHE = 65_536

GIVEN = "given name"
HOUSEHOLD = "household"
DOB = "date of birth"
MIDDLE = "middle names"
GENDER = "gender"
NHS = "NHS number"
UPN = "UPN"
OTHER_ID = "other identifier"
OTHER_ID_KIND = "other_id"  # the kind of an identifier with no check digit, in Person.identifiers
MISSING = "missing"

# Levels of each comparison, strongest agreement first; "missing" is always last and neutral.
LEVELS: dict[str, tuple[str, ...]] = {
    GIVEN: ("exact", "variant", "typo", "similar", "middle", "swapped", "different", MISSING),
    HOUSEHOLD: (
        "surname and address",
        "surname and postcode",
        "similar surname and address",
        "surname, moved",
        "surname, same district",
        "surname, elsewhere",
        "surname, no address",
        "similar surname",
        "other surname, same address",
        "different",
        MISSING,
    ),
    DOB: ("exact", "swapped", "typo", "day out", "partial", "different", MISSING),
    MIDDLE: ("exact", "similar", "different", MISSING),
    GENDER: ("same", "different", MISSING),
    NHS: ("same", "different", MISSING),
    UPN: ("same", "different", MISSING),
    OTHER_ID: ("same", "close", "different", MISSING),
}
COMPARISONS = tuple(LEVELS)
# Household levels on which the family names agree exactly: these get the term-frequency adjustment.
SURNAME_EXACT_LEVELS = frozenset(
    {
        "surname and address",
        "surname and postcode",
        "surname, moved",
        "surname, same district",
        "surname, elsewhere",
        "surname, no address",
    }
)
# Household levels that put the two records in one home (the twin rule): "surname, moved" too,
# since it is a former address or the same carer, which twins share; and another family name at
# the same address, since twins of a blended family, or one known by a former name, share a home.
SAME_HOME_LEVELS = frozenset(
    {
        "surname and address",
        "surname and postcode",
        "similar surname and address",
        "surname, moved",
        "other surname, same address",
    }
)

JARO_WINKLER_TYPO = 0.92
OTHER_ID_SLIPS = 2  # an identifier without a check digit this many edits away may be the same one mistyped
ADDRESS_SIMILAR = 88.0
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "lady"})
_NUMBER = re.compile(r"\d+[a-z]?")
_ADDRESS_WORDS = {
    "road": "rd",
    "street": "st",
    "avenue": "ave",
    "lane": "ln",
    "drive": "dr",
    "close": "cl",
    "court": "ct",
    "crescent": "cres",
    "place": "pl",
    "gardens": "gdns",
    "terrace": "terr",
    "grove": "gr",
    "square": "sq",
    "flat": "",
    "apartment": "",
    "apt": "",
    "the": "",
}


class Prepared(NamedTuple):
    """One record's normalised values, computed once per record (see prepare).

    A named tuple, not a frozen dataclass: a load prepares tens of thousands of people a
    batch, and a frozen dataclass's constructor sets each of the twenty fields through
    object.__setattr__, a large share of preparing one (see docs/performance.md).
    """

    given: str
    given_tokens: tuple[str, ...]
    family: str
    family_tokens: tuple[str, ...]
    middle_tokens: tuple[str, ...]
    other_given: tuple[str, ...]
    other_family: tuple[str, ...]
    date_of_birth: date | None
    dob_digits: str
    gender: str | None
    postcode: str | None
    previous_postcodes: frozenset[str]
    address: str | None
    address_numbers: frozenset[str]
    carers: tuple[tuple[str, str], ...]
    nhs: frozenset[str]
    upn: frozenset[str]
    other_ids: frozenset[str]
    given_shown: str = ""
    family_shown: str = ""


@dataclass(frozen=True)
class Compared:
    """The level of every comparison for one pair, with words for each, and what the rules need."""

    levels: tuple[str, ...]
    notes: tuple[str, ...]
    surname: str | None  # the family name agreed on exactly, for the term-frequency adjustment
    given: str | None = None  # the given name agreed on exactly, for the term-frequency adjustment


def _address_key(text: str | None) -> tuple[str | None, frozenset[str]]:
    if not text:
        return None, frozenset()
    folded = fold(text.replace(",", " "))
    numbers = frozenset(_NUMBER.findall(text.lower()))
    words = [_ADDRESS_WORDS.get(word, word) for word in folded.replace("-", " ").split()]
    key = " ".join(word for word in words if word)
    return (key or None), numbers


def _carer(text: str) -> tuple[str, str] | None:
    """(first name, last name) of a carer as written, titles dropped; None when there is no name."""
    tokens = [token for token in name_tokens(text) if token not in _TITLES]
    if not tokens:
        return None
    return tokens[0], tokens[-1]


@lru_cache(maxsize=PREPARED_CACHE)
def prepare(person: Person) -> Prepared:
    """The person as the comparisons read them. A load's candidates are mostly read without
    identifiers, address, carers or other names, so those are skipped when empty: a load
    prepares tens of thousands of people a batch."""
    given, family, born = person.given_name, person.family_name, person.date_of_birth
    gender = (person.gender or "").lower() or None
    other_names, identifiers, carer_names = person.other_names, person.identifiers, person.carer_names
    address, numbers = _address_key(person.address_line) if person.address_line else (None, _NONE)
    nhs, upn, other_ids = _identifiers(identifiers) if identifiers else (_NONE, _NONE, _NONE)
    given_tokens, family_tokens = name_parts(given), name_parts(family)
    return Prepared(
        given="".join(given_tokens),
        given_tokens=given_tokens,
        family="".join(family_tokens),
        family_tokens=family_tokens,
        middle_tokens=name_parts(person.middle_names),
        other_given=tuple(key for key in (name_key(o.given_name) for o in other_names) if key) if other_names else (),
        other_family=tuple(key for key in (name_key(o.family_name) for o in other_names) if key) if other_names else (),
        date_of_birth=born,
        dob_digits=born.isoformat().replace("-", "") if born else "",
        gender=None if gender in (None, "unknown", "u", "x", "0") else gender,
        postcode=person.postcode or None,
        previous_postcodes=frozenset(person.previous_postcodes) if person.previous_postcodes else _NONE,
        address=address,
        address_numbers=numbers,
        carers=tuple(found for found in (_carer(name) for name in carer_names) if found) if carer_names else (),
        nhs=nhs,
        upn=upn,
        other_ids=other_ids,
        given_shown=" ".join(given.split()) if given else "",
        family_shown=" ".join(family.split()) if family else "",
    )


def prepared_once(person: Person) -> Prepared:
    """prepare, not kept: for a person compared with one row, whose hash and place in the cache
    cost more than preparing it (a load bounds each candidate against each of its rows once)."""
    return prepare.__wrapped__(person)


_NONE: frozenset[str] = frozenset()


def _identifiers(identifiers: frozenset[tuple[str, str]]) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """NHS numbers, UPNs and other identifiers, apart."""
    return (
        frozenset(value for kind, value in identifiers if kind == "nhs_number"),
        frozenset(value for kind, value in identifiers if kind == "upn"),
        frozenset(value for kind, value in identifiers if kind == OTHER_ID_KIND),
    )


def forget_prepared() -> None:
    """Drop every prepared person: a load's batch is done with them, and its next batch's people
    are others. Freed now, they cost nothing more; left to age out of the cache they outlived
    the batch, and Python's cycle collector scanned them all after every batch (a fifteenth of
    a load's time)."""
    prepare.cache_clear()


def spelling_close(left: str, right: str) -> bool:
    """One edit apart (Damerau, for names of 4 letters or more) or Jaro-Winkler 0.92 and over.

    Not cached, nor are spelling_similar and digits_close: they are asked only about pairs new to
    given_level's and family_level's caches, so a cache of their own would seldom hold the pair
    and its upkeep costs more than it saves (see docs/performance.md)."""
    if min(len(left), len(right)) >= 4 and OSA.distance(left, right) <= 1:
        return True
    return JaroWinkler.normalized_similarity(left, right) >= JARO_WINKLER_TYPO


def spelling_similar(left: str, right: str) -> bool:
    """Further apart than spelling_close, but still likely one name mistyped: one edit in a
    name of three letters (Bne, Ben), a letter dropped from one (Jy, Jay), two in a name of
    five or more (Talyaj, Taylah). Four letters two edits apart are two names (Jack, Jake); so
    are two real names such as Jo and Joe, which the twin rule tells apart (linkage._two_names)."""
    shorter = min(len(left), len(right))
    if shorter == 2 and len(left) + len(right) == 5:
        return OSA.distance(left, right, score_cutoff=1) <= 1
    if shorter < 3 or shorter == 4:
        return False
    return OSA.distance(left, right, score_cutoff=2) <= (1 if shorter == 3 else 2)


@lru_cache(maxsize=NAME_CACHE)
def given_level(left: str, right: str, left_tokens: tuple[str, ...], right_tokens: tuple[str, ...]) -> str:
    """exact, variant (nickname, spelling, or one part of a double name), typo, similar or
    different."""
    if left == right:
        return "exact"
    for a in left_tokens:  # loops, not a generator: most pairs of names are new to the cache
        for b in right_tokens:
            if are_given_variants(a, b):
                return "variant"
    if (len(left_tokens) > 1 or len(right_tokens) > 1) and set(left_tokens) & set(right_tokens):
        return "variant"
    if spelling_close(left, right):
        return "typo"
    if spelling_similar(left, right):
        return "similar"
    return "different"


@lru_cache(maxsize=NAME_CACHE)
def family_level(
    left: str, right: str, left_tokens: tuple[str, ...], right_tokens: tuple[str, ...], fuzzy: bool = True
) -> str:
    """exact, close (variant, typo, one part of a double-barrelled name, or with fuzzy a
    spelling two slips away) or different."""
    if left == right:
        return "exact"
    if (len(left_tokens) > 1 or len(right_tokens) > 1) and set(left_tokens) & set(right_tokens):
        return "close"
    for a in left_tokens:
        for b in right_tokens:
            if are_family_variants(a, b):
                return "close"
    if spelling_close(left, right) or (fuzzy and spelling_similar(left, right)):
        return "close"
    return "different"


def _given(a: Prepared, b: Prepared, explain: bool = True) -> tuple[str, str]:
    """Level and words for the given name, trying the names each record is also known by.

    Without explain, the words are left out (a load bounds many candidates it never shows).
    """
    if not a.given or not b.given:
        return MISSING, "given name: not given on one side"
    level = given_level(a.given, b.given, a.given_tokens, b.given_tokens)
    if level == "exact":
        return level, f"given name: same ({b.given_shown})" if explain else ""
    if level == "variant":
        return level, _given_words("nickname or spelling variant", a, b, explain)
    for other in b.other_given:
        if other == a.given:
            return "exact", f"given name: same as a name the child is also known by ({other})" if explain else ""
    for other in a.other_given:
        if other == b.given:
            return "exact", f"given name: same as a name the record is also known by ({other})" if explain else ""
    if level == "typo":
        return level, _given_words("similar spelling", a, b, explain)
    if level == "similar":
        return level, _given_words("somewhat similar spelling", a, b, explain)
    if (set(a.given_tokens) & set(b.middle_tokens)) or (set(b.given_tokens) & set(a.middle_tokens)):
        return "middle", _given_words("matches a middle name", a, b, explain)
    if names_swapped(a, b):
        return "swapped", _given_words("given and family names swapped", a, b, explain, f" {a.family_shown}")
    return "different", _given_words("different", a, b, explain)


def _given_words(what: str, a: Prepared, b: Prepared, explain: bool, more: str = "") -> str:
    return f"given name: {what} ({a.given_shown} / {b.given_shown}{more})" if explain else ""


def names_swapped(a: Prepared, b: Prepared) -> bool:
    """The given name written as the family name and the other way round (exactly or nearly:
    a slip at most, since two names each only somewhat like the other two prove nothing)."""
    if not (a.given and a.family and b.given and b.family):
        return False
    return given_level(a.family, b.given, a.family_tokens, b.given_tokens) not in ("different", "similar") and (
        family_level(a.given, b.family, a.given_tokens, b.family_tokens, fuzzy=False) != "different"
    )


def _surname(a: Prepared, b: Prepared, explain: bool = True) -> tuple[str, str]:
    """exact, close, different or missing, with the words; former and other names count."""
    if not a.family or not b.family:
        return MISSING, "family name not given"
    level = family_level(a.family, b.family, a.family_tokens, b.family_tokens)
    shown = f"{a.family_shown} / {b.family_shown}" if explain else ""
    if level == "exact":
        return level, b.family_shown
    if level == "different" and names_swapped(a, b):
        swapped = family_level(a.given, b.family, a.given_tokens, b.family_tokens, fuzzy=False)
        return swapped, f"{a.given_shown} / {b.family_shown}, given as the given name" if explain else ""
    if a.family in b.other_family or b.family in a.other_family:
        return "exact", f"{shown}, a former or other family name" if explain else ""
    for other in b.other_family:
        if family_level(a.family, other, a.family_tokens, (other,)) == "close":
            return "close", f"{shown}, similar to a former or other family name" if explain else ""
    return level, shown


def _location(a: Prepared, b: Prepared) -> str:
    """address, postcode, moved, district, different or missing."""
    if a.postcode and b.postcode:
        if a.postcode == b.postcode:
            if a.address and b.address:
                return "address" if _same_line(a, b) else "postcode"
            return "address"
        if a.postcode in b.previous_postcodes or b.postcode in a.previous_postcodes:
            return "moved"
        if a.address and b.address and OSA.distance(a.postcode, b.postcode) <= 1 and _same_line(a, b):
            return "address"  # one slip in the postcode of the same address
        if _numbered_line(a, b) and postcode_outward(a.postcode) == postcode_outward(b.postcode):
            return "address"  # the same house in the same district: a wrong postcode
    if _same_carer(a, b):
        return "moved"
    if a.postcode and b.postcode:
        return "district" if postcode_outward(a.postcode) == postcode_outward(b.postcode) else "different"
    return MISSING


def _same_line(a: Prepared, b: Prepared) -> bool:
    """The first lines of two addresses are the same (house numbers equal, spelling nearly)."""
    if not (a.address and b.address):
        return False
    if a.address_numbers and b.address_numbers and a.address_numbers != b.address_numbers:
        return False
    return a.address == b.address or token_sort_ratio(a.address, b.address) >= ADDRESS_SIMILAR


def _numbered_line(a: Prepared, b: Prepared) -> bool:
    """The same house number and street (not a house name alone, which may be anywhere)."""
    return bool(a.address_numbers) and a.address_numbers == b.address_numbers and _same_line(a, b)


def _same_carer(a: Prepared, b: Prepared) -> bool:
    for first, last in a.carers:
        for other_first, other_last in b.carers:
            if last == other_last and (first == other_first or first[0] == other_first[0]):
                return True
    return False


_LOCATION_WORDS = {
    "address": "same address",
    "postcode": "same postcode, another address",
    "moved": "a previous address or the same carer",
    "district": "same postcode district",
    "different": "different address",
    MISSING: "no address to compare",
}


# The household levels open to a pair, by how their family names compare (see _household): what
# linkage's upper bound allows for a candidate whose address and carers have not been read.
HOUSEHOLD_BY_SURNAME: dict[str, tuple[str, ...]] = {
    "exact": (
        "surname and address",
        "surname and postcode",
        "surname, moved",
        "surname, same district",
        "surname, elsewhere",
        "surname, no address",
    ),
    "close": ("similar surname and address", "surname, moved", "similar surname"),
    "different": ("other surname, same address", "different"),
    MISSING: ("other surname, same address", MISSING),
}


def _household(a: Prepared, b: Prepared) -> tuple[str, str, str | None]:
    surname, surname_words = _surname(a, b)
    location = _location(a, b)
    where = _LOCATION_WORDS[location]
    if a.postcode and b.postcode and location in ("address", "postcode", "district", "different"):
        codes = (
            format_postcode(a.postcode)
            if a.postcode == b.postcode
            else (f"{format_postcode(a.postcode)} / {format_postcode(b.postcode)}")
        )
        where += f" ({codes})"
    exact = surname == "exact"
    if exact or surname == "close":
        if location == "address" and exact:
            level = "surname and address"
        elif location == "postcode" and exact:
            level = "surname and postcode"
        elif location in ("address", "postcode"):
            level = "similar surname and address"
        elif location == "moved":
            level = "surname, moved"
        elif not exact:
            level = "similar surname"
        elif location == "district":
            level = "surname, same district"
        elif location == "different":
            level = "surname, elsewhere"
        else:
            level = "surname, no address"
        label = "same family name" if exact else "similar family name"
        words = f"household: {label} ({surname_words}), {where}"
        return level, words, (a.family if exact and a.family == b.family else None)
    if location in ("address", "postcode", "moved"):
        return "other surname, same address", f"household: family name {surname_words}, but {where}", None
    if surname == MISSING and location in (MISSING, "district", "different"):
        return MISSING, f"household: {surname_words}, {where}", None
    return "different", f"household: different family name ({surname_words}), {where}", None


def _dob(a: Prepared, b: Prepared, explain: bool = True) -> tuple[str, str]:
    if a.date_of_birth is None or b.date_of_birth is None:
        return MISSING, "date of birth: not given on one side"
    if a.date_of_birth == b.date_of_birth:
        return "exact", f"date of birth: same ({a.date_of_birth.isoformat()})" if explain else ""
    if swapped_day_month(a.date_of_birth) == b.date_of_birth:
        level, words = "swapped", "day and month swapped"
    elif digits_close(a.dob_digits, b.dob_digits):
        level, words = "typo", "one digit different"
    elif abs((a.date_of_birth - b.date_of_birth).days) == 1:
        level, words = "day out", "a day apart"
    else:
        x, y = a.date_of_birth, b.date_of_birth
        two = (x.year == y.year) + (x.month == y.month) + (x.day == y.day) == 2
        level, words = ("partial", "two of day, month and year the same") if two else ("different", "different")
    if not explain:
        return level, ""
    return level, f"date of birth: {words} ({a.date_of_birth.isoformat()} / {b.date_of_birth.isoformat()})"


def digits_close(left: str, right: str) -> bool:
    """One digit different, or two neighbouring digits transposed."""
    if len(left) != len(right):
        return False
    differ = [i for i in range(len(left)) if left[i] != right[i]]
    if len(differ) == 1:
        return True
    first = differ[0] if differ else 0
    return (
        len(differ) == 2
        and differ[1] == first + 1
        and left[first] == right[first + 1]
        and (left[first + 1] == right[first])
    )


def _middle(a: Prepared, b: Prepared, explain: bool = True) -> tuple[str, str]:
    if not a.middle_tokens or not b.middle_tokens:
        return MISSING, "middle names: not given on one side"
    if set(a.middle_tokens) & set(b.middle_tokens):
        level, words = "exact", "same"
    else:
        level, words = "different", "different"
        for x in a.middle_tokens:
            for y in b.middle_tokens:
                initial = (len(x) == 1 or len(y) == 1) and x[0] == y[0]
                if initial or given_level(x, y, (x,), (y,)) != "different":
                    level, words = "similar", "similar or an initial"
                    break
            if level == "similar":
                break
    if not explain:
        return level, ""
    return level, f"middle names: {words} ({' '.join(a.middle_tokens)} / {' '.join(b.middle_tokens)})"


def _gender(a: Prepared, b: Prepared, explain: bool = True) -> tuple[str, str]:
    if a.gender is None or b.gender is None:
        return MISSING, "gender: not known on one side"
    if a.gender == b.gender:
        return "same", f"gender: same ({a.gender})" if explain else ""
    return "different", f"gender: different ({a.gender} / {b.gender})" if explain else ""


def _identifier(name: str, left: frozenset[str], right: frozenset[str], explain: bool = True) -> tuple[str, str]:
    if not left or not right:
        return MISSING, f"{name}: not held on one side" if explain else ""
    common = left & right
    if common:
        return "same", f"{name}: same ({min(common)})" if explain else ""
    if not explain:
        return "different", ""
    return "different", f"{name}: different ({', '.join(sorted(left))} / {', '.join(sorted(right))})"


def _other_identifier(left: frozenset[str], right: frozenset[str], explain: bool = True) -> tuple[str, str]:
    """Like an NHS number, but with no check digit a slip or two apart may be one identifier mistyped."""
    level, words = _identifier(OTHER_ID, left, right, explain)
    if level == "different" and any(OSA.distance(a, b) <= OTHER_ID_SLIPS for a in left for b in right):
        if not explain:
            return "close", ""
        return "close", f"{OTHER_ID}: a slip or two apart ({', '.join(sorted(left))} / {', '.join(sorted(right))})"
    return level, words


def compare(incoming: Prepared, held: Prepared, explain: bool = True) -> Compared:
    """Every comparison's level, with its words unless explain is false (all but the household's)."""
    given, given_words = _given(incoming, held, explain)
    household, household_words, surname = _household(incoming, held)
    dob, dob_words = _dob(incoming, held, explain)
    middle, middle_words = _middle(incoming, held, explain)
    gender, gender_words = _gender(incoming, held, explain)
    nhs, nhs_words = _identifier(NHS, incoming.nhs, held.nhs, explain)
    upn, upn_words = _identifier(UPN, incoming.upn, held.upn, explain)
    other, other_words = _other_identifier(incoming.other_ids, held.other_ids, explain)
    return Compared(
        (given, household, dob, middle, gender, nhs, upn, other),
        (given_words, household_words, dob_words, middle_words, gender_words, nhs_words, upn_words, other_words),
        surname,
        incoming.given if given == "exact" and incoming.given == held.given else None,
    )


def possible_levels(incoming: Prepared, held: Prepared) -> Iterator[tuple[str, tuple[str, ...], str | None]]:
    """The levels compare could find, comparison by comparison (the cheapest first), for a held
    record whose identifiers, address, postcodes and carers are not yet known: each comparison,
    its possible levels, and the family name (for the household) or given name (for the given
    name) agreed on exactly, for the term-frequency adjustment, as compare gives them.

    Every comparison but the household is found as compare finds it; the household may be any
    level its family names allow. Identifiers not held compare as missing, the best level that
    two different identifiers could reach.
    """
    yield DOB, (_dob(incoming, held, False)[0],), None
    yield GENDER, (_gender(incoming, held, False)[0],), None
    yield NHS, (_identifier(NHS, incoming.nhs, held.nhs, False)[0],), None
    yield UPN, (_identifier(UPN, incoming.upn, held.upn, False)[0],), None
    yield OTHER_ID, (_other_identifier(incoming.other_ids, held.other_ids, False)[0],), None
    yield MIDDLE, (_middle(incoming, held, False)[0],), None
    surname = _surname(incoming, held, False)[0]
    same = surname == "exact" and incoming.family == held.family
    yield HOUSEHOLD, HOUSEHOLD_BY_SURNAME[surname], (incoming.family if same else None)
    given = _given(incoming, held, False)[0]
    yield GIVEN, (given,), (incoming.given if given == "exact" and incoming.given == held.given else None)


def compare_people(incoming: Person, held: Person) -> Compared:
    return compare(prepare(incoming), prepare(held))
