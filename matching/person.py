"""The plain data that matching works on: a child as held, or a query as typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import date
from operator import attrgetter


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

    def __hash__(self) -> int:
        """Worked out once: matching's caches look one person up again and again."""
        found = self.__dict__.get("_hash")
        if found is None:
            found = hash(_field_values(self))
            object.__setattr__(self, "_hash", found)
        return found

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the hash, which another process works out its own way.

        A load's pool pickles people in a feeder thread while the load's own thread may be
        working out their hashes: the attributes are copied in one step (dict.copy holds the
        interpreter lock throughout), never iterated while the hash may be added to them.
        """
        state = self.__dict__.copy()
        state.pop("_hash", None)
        return state

    def without_household(self) -> Person:
        """Who the person is, identifiers included, without where they live or who cares for them."""
        return replace(self, postcode=None, previous_postcodes=(), address_line=None, carer_names=())

    def without_details(self) -> Person:
        """Who the person is (names, date of birth, gender), without identifiers, where they live
        or who cares for them."""
        return replace(
            self, identifiers=frozenset(), postcode=None, previous_postcodes=(), address_line=None, carer_names=()
        )


# Every field's value at once (in C): a load hashes each of its tens of thousands of people.
_field_values: Callable[[Person], tuple[object, ...]] = attrgetter(*(item.name for item in fields(Person)))
