"""Deciding a row against a shielded record: by who the child is, never by where she lives."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from matching.deciding import LINKED_TO_SHIELDED, SHIELDED_RESEMBLANCE, Incoming, decide, verdict_of
from matching.normalise import normalise_postcode
from matching.person import Person
from matching.search import Candidate

HELD = Person(
    given_name="Isolde",
    family_name="Trevanion",
    date_of_birth=date(2016, 5, 9),
    gender="female",
    postcode=normalise_postcode("TR19 7QZ"),
    address_line="3 Gannetwick Steps",
    carer_names=("Morwenna Tregarthen",),
)
RIGHT = {
    "postcode": normalise_postcode("TR19 7QZ"),
    "address_line": "3 Gannetwick Steps",
    "carer_names": ("Morwenna Tregarthen",),
}
WRONG = {"postcode": normalise_postcode("PL4 8AA"), "address_line": "9 Quay Road", "carer_names": ("Jan Hosking",)}
# From a row that is surely her to one that only shares her family name: every strength between.
WHO = [
    {"given_name": "Isolde", "date_of_birth": date(2016, 5, 9), "gender": "female"},
    {"given_name": "Isolda", "date_of_birth": date(2016, 5, 9), "gender": "female"},
    {"given_name": "Isolde", "date_of_birth": date(2016, 9, 5), "gender": "unknown"},
    {"given_name": "Izolde", "date_of_birth": date(2016, 5, 10), "gender": "female"},
    {"given_name": "Isla", "date_of_birth": date(2016, 5, 9), "gender": "female"},
    {"given_name": "Tamsin", "date_of_birth": date(2016, 5, 9), "gender": "female"},
    {"given_name": "Tamsin", "date_of_birth": date(2013, 1, 2), "gender": "female"},
]


def _decided(who: dict[str, object], home: dict[str, object], shielded: bool) -> tuple[object, ...]:
    row = Incoming(Person(family_name="Trevanion", **who, **home), None, None)  # type: ignore[arg-type]
    resolution, reasons = decide(row, [Candidate(1, HELD, "HELD00001")], lambda _: shielded)
    verdict = verdict_of(resolution, reasons, lambda _: shielded)
    best = resolution.best
    return (resolution.outcome, verdict, best.weight if best else None, reasons)


@pytest.mark.parametrize("who", WHO)
def test_where_a_row_says_she_lives_never_changes_how_it_meets_a_shielded_record(who: dict[str, object]) -> None:
    assert (
        _decided(who, RIGHT, shielded=True) == _decided(who, WRONG, shielded=True) == _decided(who, {}, shielded=True)
    )


def test_an_unshielded_record_is_still_compared_by_where_the_child_lives() -> None:
    who = WHO[1]
    assert _decided(who, RIGHT, shielded=False)[2] != _decided(who, WRONG, shielded=False)[2]


def test_a_shielded_childs_twin_goes_to_review_wherever_the_row_says_they_live() -> None:
    twin = {"given_name": "Hana", "date_of_birth": date(2016, 5, 9), "gender": "male"}
    for home in (RIGHT, WRONG, {}):
        outcome, verdict, _, reasons = _decided(twin, home, shielded=True)
        assert outcome == "review" and verdict is None and SHIELDED_RESEMBLANCE in reasons  # type: ignore[operator]


# A link to a shielded record needs a shared NHS number or UPN: names and date of birth alone go to review.

GARRY = Person(
    given_name="Garry",
    family_name="Doherty",
    date_of_birth=date(2015, 2, 11),
    gender="male",
    postcode=normalise_postcode("G12 8QQ"),
    address_line="4 Kelvin Way",
    identifiers=frozenset({("nhs_number", "9434765919"), ("upn", "R373412315021")}),
)
GARY = Person(
    given_name="Gary",
    family_name="Doherty",
    date_of_birth=date(2015, 2, 11),
    gender="male",
    postcode=normalise_postcode("LS6 2AB"),
    address_line="12 Meadow Lane",
)


def _gary(shielded: bool, nhs_number: str | None = None, upn: str | None = None) -> tuple[object, ...]:
    identifiers = {("nhs_number", nhs_number)} if nhs_number else set()
    identifiers |= {("upn", upn)} if upn else set()
    row = Incoming(replace(GARY, identifiers=frozenset(identifiers)), nhs_number, upn)
    resolution, reasons = decide(row, [Candidate(7, GARRY, "GARRY0001")], lambda _: shielded)
    verdict = verdict_of(resolution, reasons, lambda _: shielded)
    best = resolution.best
    return resolution.outcome, verdict, best.child_id if best else None, reasons


def test_a_row_never_links_to_a_shielded_record_on_names_and_date_of_birth_alone() -> None:
    outcome, verdict, best, reasons = _gary(shielded=True)
    assert (outcome, verdict, best) == ("review", None, 7)
    assert reasons == (SHIELDED_RESEMBLANCE,)
    # The same row links to the same record unshielded: the rule is the shielding's, not the score's.
    outcome, verdict, _, _ = _gary(shielded=False)
    assert outcome == "link" and verdict is not None and verdict.child_id == 7


@pytest.mark.parametrize(("nhs_number", "upn"), [("9434765919", None), (None, "R373412315021")])
def test_a_shared_nhs_number_or_upn_links_a_row_to_a_shielded_record(nhs_number: str | None, upn: str | None) -> None:
    outcome, verdict, best, reasons = _gary(shielded=True, nhs_number=nhs_number, upn=upn)
    assert outcome == "link" and best == 7 and reasons == ()
    assert verdict is not None and verdict.child_id == 7 and verdict.reasons == (LINKED_TO_SHIELDED,)


def test_a_wrong_nhs_number_answers_as_no_nhs_number_does() -> None:
    """Review either way, for the same reasons: the answer does not say whether she holds one."""
    assert _gary(shielded=True, nhs_number="4010232137") == _gary(shielded=True)
