"""Unique Pupil Numbers as England's schools issue them, which python-stdnum only nearly knows.

stdnum refuses a UPN whose local-authority code it does not know, and its list stops at the
authorities of 2011 (838, 839, 940-943 and others are missing). A UPN whose check letter
holds is a real UPN, so it is accepted here, and the caller can say its authority is unknown.
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent
from stdnum.gb import upn


def validate_upn(text: str) -> str:
    """The UPN in compact form; raises stdnum's ValidationError (InvalidChecksum, InvalidFormat...)."""
    try:
        return upn.validate(text)
    except InvalidComponent:
        number = upn.compact(text)
        if upn.calc_check_digit(number[1:]) == number[0]:
            return number
        raise InvalidChecksum() from None


def has_known_authority(number: str) -> bool:
    """Whether stdnum knows the UPN's local-authority code (a valid UPN may still be unknown to it)."""
    return upn.is_valid(number)
