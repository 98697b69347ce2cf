"""A person's hash, which matching's caches look people up by."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date

from matching.person import OtherName, Person

OLIVER = Person(given_name="Oliver", family_name="Bennett", middle_names="James",
                other_names=(OtherName("Ollie", None),), date_of_birth=date(2016, 3, 27), gender="male",
                postcode="LS62AB", previous_postcodes=("BD11AA",),
                identifiers=frozenset({("nhs_number", "9434765919")}), address_line="12 Meadow Lane",
                carer_names=("Sarah Bennett",))
OTHERS = {"given_name": "Olivia", "family_name": "Bennet", "middle_names": None, "other_names": (),
          "date_of_birth": date(2016, 3, 28), "gender": "female", "postcode": "LS62AC", "previous_postcodes": (),
          "identifiers": frozenset(), "address_line": "14 Meadow Lane", "carer_names": ()}


def test_equal_people_hash_alike() -> None:
    assert hash(OLIVER) == hash(replace(OLIVER)) and replace(OLIVER) == OLIVER


def test_every_field_counts_in_the_hash() -> None:
    assert set(OTHERS) == {item.name for item in fields(Person)}
    for name, value in OTHERS.items():
        assert hash(replace(OLIVER, **{name: value})) != hash(OLIVER), name
