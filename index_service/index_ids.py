"""Index identifiers: random, meaningless, never reused, with a check character.

Nine characters from Crockford's base 32 (no I, L, O or U, so nothing is misread), the last
a Luhn mod 32 check character that catches every single mistyped character and most swaps
of neighbours. Shown as three groups of three: "4KX-9TQ-2MB".
"""

from __future__ import annotations

import secrets

from stdnum import luhn
from stdnum.exceptions import ValidationError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 8
BITS_PER_CHARACTER = 5  # 32 characters
CHARACTER_MASK = (1 << BITS_PER_CHARACTER) - 1
_READ_AS = {"I": "1", "L": "1", "O": "0"}


class IndexIdError(ValueError):
    """A string that cannot be an index id; the message says what to check."""


def new_index_id() -> str:
    """A random index id: its body's 40 bits drawn at once, five to a character (a bulk load
    gives out tens of thousands, and a draw for each character cost three times as much)."""
    bits = secrets.randbits(BITS_PER_CHARACTER * BODY_LENGTH)
    body = "".join(ALPHABET[bits >> (BITS_PER_CHARACTER * i) & CHARACTER_MASK] for i in range(BODY_LENGTH))
    return body + luhn.calc_check_digit(body, alphabet=ALPHABET)


def parse_index_id(text: str) -> str:
    """The canonical form of a typed index id, or IndexIdError saying why it is wrong."""
    compact = "".join(text.split()).replace("-", "").upper()
    compact = "".join(_READ_AS.get(char, char) for char in compact)
    if len(compact) != BODY_LENGTH + 1:
        raise IndexIdError(f"An index ID has {BODY_LENGTH + 1} characters, like 4KX-9TQ-2MB")
    if any(char not in ALPHABET for char in compact):
        raise IndexIdError("An index ID uses only the digits 0 to 9 and the letters A to Z except I, L, O and U")
    try:
        luhn.validate(compact, alphabet=ALPHABET)
    except ValidationError as error:
        raise IndexIdError("That index ID is not valid: check each character and try again") from error
    return compact


def format_index_id(index_id: str) -> str:
    return f"{index_id[:3]}-{index_id[3:6]}-{index_id[6:]}"
