"""A person's hash, which matching's caches look people up by."""

from __future__ import annotations

import pickle
import sys
import threading
from dataclasses import fields, replace
from datetime import date

from matching.person import OtherName, Person

OLIVER = Person(
    given_name="Oliver",
    family_name="Bennett",
    middle_names="James",
    other_names=(OtherName("Ollie", None),),
    date_of_birth=date(2016, 3, 27),
    gender="male",
    postcode="LS62AB",
    previous_postcodes=("BD11AA",),
    identifiers=frozenset({("nhs_number", "9434765919")}),
    address_line="12 Meadow Lane",
    carer_names=("Sarah Bennett",),
)
OTHERS = {
    "given_name": "Olivia",
    "family_name": "Bennet",
    "middle_names": None,
    "other_names": (),
    "date_of_birth": date(2016, 3, 28),
    "gender": "female",
    "postcode": "LS62AC",
    "previous_postcodes": (),
    "identifiers": frozenset(),
    "address_line": "14 Meadow Lane",
    "carer_names": (),
}


def test_equal_people_hash_alike() -> None:
    assert hash(OLIVER) == hash(replace(OLIVER)) and replace(OLIVER) == OLIVER


def test_every_field_counts_in_the_hash() -> None:
    assert set(OTHERS) == {item.name for item in fields(Person)}
    for name, value in OTHERS.items():
        assert hash(replace(OLIVER, **{name: value})) != hash(OLIVER), name


def test_a_person_pickles_while_another_thread_works_out_its_hash() -> None:
    """A load's pool pickles its work in a feeder thread while the load's own thread matches
    the same people, caching each one's hash: pickling must not read the person's attributes
    while the hash is added to them."""
    person = replace(OLIVER)
    done = threading.Event()
    failures: list[BaseException] = []

    def hash_again_and_again() -> None:
        for _ in range(200_000):
            person.__dict__.pop("_hash", None)  # as if the person were new, its hash not yet worked out
            hash(person)
        done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that the two meet
    try:
        hashing = threading.Thread(target=hash_again_and_again)
        hashing.start()
        while not done.is_set():
            try:
                pickle.dumps(person)
            except RuntimeError as error:
                failures.append(error)
        hashing.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    pickled = pickle.dumps(person)
    assert b"_hash" not in pickled  # another process works the hash out its own way
    copy = pickle.loads(pickled)  # noqa: S301 - bytes pickled just above
    assert copy == person and hash(copy) == hash(person)
