"""Normal forms for comparing names, postcodes and dates; the stored values are never changed."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

_NOT_LETTER = re.compile(r"[^a-z\s-]")
_SEPARATORS = re.compile(r"[\s-]+")
NAMES_CACHED = 65_536
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


def fold(text: str) -> str:
    """Lower case, accents removed, apostrophes and other punctuation dropped."""
    if not text.isascii():  # most names are, and need no decomposing
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(char for char in decomposed if not unicodedata.combining(char))
    lowered = text.lower().replace("'", "").replace("\u2019", "").replace(".", "")
    return _NOT_LETTER.sub(" ", lowered)


def _prefix(token: str) -> str:
    """MacDonald and McDonald are one name; "Mac " and "Mc " written apart are joined."""
    if token.startswith("mac") and len(token) > 5:
        return "mc" + token[3:]
    return token


@lru_cache(maxsize=NAMES_CACHED)
def _tokens(text: str) -> tuple[str, ...]:
    parts = [part for part in _SEPARATORS.split(fold(text).strip()) if part]
    joined: list[str] = []
    for part in parts:
        if joined and joined[-1] in ("mc", "mac", "o", "de", "van", "von", "di", "da", "le", "la"):
            joined[-1] = joined[-1] + part
        else:
            joined.append(part)
    return tuple(_prefix(part) for part in joined)


def name_parts(text: str | None) -> tuple[str, ...]:
    """name_tokens as a tuple, the one kept: matching prepares tens of thousands of names a batch."""
    return _tokens(text) if text else ()


def name_tokens(text: str | None) -> list[str]:
    """The parts of a name: "Smith-Jones" gives smith and jones; "Mc Donald" gives mcdonald.

    Names repeat (a load compares thousands of Olivers), so the parts of recent ones are kept.
    """
    return list(_tokens(text)) if text else []


def name_key(text: str | None) -> str:
    """The whole name as one comparable string: "Smith-Jones" gives smithjones."""
    return "".join(_tokens(text)) if text else ""


def normalise_postcode(text: str | None) -> str | None:
    """A valid-shaped UK postcode without spaces in upper case, or None."""
    if not text:
        return None
    compact = re.sub(r"\s+", "", text).upper()
    return compact if _POSTCODE.match(compact) else None


def format_postcode(compact: str) -> str:
    return compact[:-3] + " " + compact[-3:]


def postcode_outward(compact: str) -> str:
    return compact[:-3]


_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


def postcode_district(text: str | None) -> str | None:
    """The outward code (LS6) of a whole postcode or of an outward code given alone, or None
    for anything else: a person's home district is kept without the rest of their postcode."""
    compact = re.sub(r"\s+", "", text or "").upper()
    if _DISTRICT.match(compact):
        return compact
    whole = normalise_postcode(compact)
    return postcode_outward(whole) if whole else None


def postcode_area(text: str | None) -> str | None:
    """The postcode area (LS of LS6 2AB, EC of EC1A): the letters that open the outward code."""
    district = postcode_district(text)
    if district is None:
        return None
    return district[:2] if district[1].isalpha() else district[:1]


def swapped_day_month(value: date) -> date | None:
    """The date with day and month exchanged, when that is a different real date."""
    if value.day > 12 or value.day == value.month:
        return None
    try:
        return value.replace(month=value.day, day=value.month)
    except ValueError:
        return None
