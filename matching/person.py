"""The plain data that matching works on: a child as held, or a query as typed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True)
class OtherName:
    given_name: str | None = None
    family_name: str | None = None


@dataclass(frozen=True)
class Person:
    """Identity fields only; postcodes are normalised (see normalise.normalise_postcode).

    address_line (the first line of the current address) and carer_names (parents or carers,
    as written) are used only by linkage's household comparison; search ignores them.
    identifiers are (kind, value): "nhs_number", "upn", or "other_id" for one without a check
    digit (compared allowing a slip or two, see levels.OTHER_ID).
    """

    given_name: str | None = None
    family_name: str | None = None
    middle_names: str | None = None
    other_names: tuple[OtherName, ...] = ()
    date_of_birth: date | None = None
    gender: str | None = None
    postcode: str | None = None
    previous_postcodes: tuple[str, ...] = ()
    identifiers: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    address_line: str | None = None
    carer_names: tuple[str, ...] = ()

    def without_details(self) -> Person:
        """Who the person is (names, date of birth, gender), without identifiers, where they live
        or who cares for them."""
        return replace(self, identifiers=frozenset(), postcode=None, previous_postcodes=(), address_line=None,
                       carer_names=())
