"""Search quality on generated households: the child is found through the ways people err.

One dataset of synthetic households (siblings, twins, variant names) is searched with
nicknames, one-letter typos, day/month swaps, one part of a double-barrelled surname, and
given and family names swapped. Each perturbed search must put the child in the top 3.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

from flask import Flask

from index_service.children.lookup import search_children
from index_service.children.models import Child
from index_service.children.records import ChildSpec, create_child
from index_service.extensions import db
from index_service.organisations.operations import add_organisation
from index_service.synthetic import ORGANISATIONS, ChildFactory
from matching.normalise import name_tokens, swapped_day_month
from matching.person import Person
from matching.search import Query
from matching.variants import _given
from shielding.redaction import Viewer

VIEWER = Viewer(may_see_shielded=False)
SAMPLE = 40


def _found_in_top_three(query: Query, child: Child) -> bool:
    results = search_children(query, VIEWER).results
    return child.index_id in [result["index_id"] for result in results[:3]]


def _typo(name: str, rng: random.Random) -> str:
    position = rng.randrange(1, len(name))
    replacement = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != name[position].lower()])
    return name[:position] + replacement + name[position + 1 :]


def _variant(given: str) -> str | None:
    tokens = name_tokens(given)
    if not tokens:
        return None
    others = sorted(
        name for name, canon in _given().items() if canon & _given().get(tokens[0], frozenset()) and name != tokens[0]
    )
    return others[0].capitalize() if others else None


def _build(app: Flask) -> tuple[list[tuple[ChildSpec, Child]], random.Random]:
    organisations = {spec.name: add_organisation(spec.name, spec.type, spec.phone) for spec in ORGANISATIONS}
    factory = ChildFactory(seed=11, today=date(2026, 11, 1))
    made = [(spec, create_child(spec, None, organisations)) for spec in factory.children(600)]
    rng = random.Random(5)
    for spec, _child in rng.sample(made, 30):
        hyphenated = replace(
            spec, family_name=f"{spec.family_name}-{factory.faker.last_name()}", nhs_number=None, upn=None
        )
        made.append((hyphenated, create_child(hyphenated, None, organisations)))
    db.session.commit()
    return made, rng


def test_search_quality_on_generated_children(app: Flask) -> None:
    made, rng = _build(app)
    misses: dict[str, list[str]] = {}

    def check(kind: str, spec: ChildSpec, child: Child, **query: object) -> None:
        if not _found_in_top_three(Query(Person(**query)), child):  # type: ignore[arg-type]
            misses.setdefault(kind, []).append(f"{spec.given_name} {spec.family_name} {spec.date_of_birth}: {query}")

    nicknames = [(s, c, v) for s, c in made if (v := _variant(s.given_name))]
    for spec, child, variant in rng.sample(nicknames, SAMPLE):
        check(
            "nickname", spec, child, given_name=variant, family_name=spec.family_name, date_of_birth=spec.date_of_birth
        )
    for spec, child in rng.sample(made, SAMPLE):
        check(
            "typo",
            spec,
            child,
            given_name=spec.given_name,
            family_name=_typo(spec.family_name, rng),
            date_of_birth=spec.date_of_birth,
        )
        check(
            "typo in the given name",
            spec,
            child,
            given_name=_typo(spec.given_name, rng),
            family_name=spec.family_name,
            date_of_birth=spec.date_of_birth,
        )
        check(
            "given and family swapped",
            spec,
            child,
            given_name=spec.family_name,
            family_name=spec.given_name,
            date_of_birth=spec.date_of_birth,
        )
    swappable = [(s, c) for s, c in made if swapped_day_month(s.date_of_birth)]
    for spec, child in rng.sample(swappable, SAMPLE):
        check(
            "day and month swapped",
            spec,
            child,
            given_name=spec.given_name,
            family_name=spec.family_name,
            date_of_birth=swapped_day_month(spec.date_of_birth),
        )
    hyphenated = [(s, c) for s, c in made if "-" in s.family_name]
    for spec, child in hyphenated:
        for part in spec.family_name.split("-"):
            check(
                "one part of a hyphenated surname",
                spec,
                child,
                given_name=spec.given_name,
                family_name=part,
                date_of_birth=spec.date_of_birth,
            )
    assert misses == {}


def test_twins_come_back_as_two_separate_results(app: Flask) -> None:
    made, _rng = _build(app)
    by_household: dict[tuple[str, date, str | None], list[Child]] = {}
    for spec, child in made:
        key = (spec.family_name, spec.date_of_birth, spec.address.postcode if spec.address else None)
        by_household.setdefault(key, []).append(child)
    twins = [children for children in by_household.values() if len(children) == 2]
    assert len(twins) >= 3, "the generated data should hold twins"
    for pair in twins:
        query = Query(Person(family_name=pair[0].family_name, date_of_birth=pair[0].date_of_birth))
        returned = [result["index_id"] for result in search_children(query, VIEWER).results]
        assert {child.index_id for child in pair} <= set(returned)
        assert len(returned) == len(set(returned))
