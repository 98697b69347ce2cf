"""The realistic extracts (bench/realistic.py) that the matching evaluation scores on: the same
rows for a seed, every row valid as a load validates it, and every pattern present, so that no
pattern can silently drop out of the evaluation."""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import islice

import pytest

from bench import realistic
from index_service.sources.extract import RawRow
from index_service.sources.validation import RowValidator, ValidRow

CHILDREN = 3_000


@pytest.fixture(scope="module")
def records() -> list[realistic.Record]:
    return list(realistic.records(CHILDREN, seed=7))


def test_the_same_seed_gives_the_same_rows_and_another_seed_others() -> None:
    first = list(islice(realistic.rows(300, seed=11), 400))
    assert first == list(islice(realistic.rows(300, seed=11), 400))
    assert first != list(islice(realistic.rows(300, seed=12), 400))


def test_every_pattern_occurs(records: list[realistic.Record]) -> None:
    counts = Counter(pattern for record in records for pattern in record.patterns)
    assert {pattern: counts[pattern] for pattern in realistic.PATTERNS if counts[pattern] == 0} == {}
    assert set(counts) <= set(realistic.PATTERNS)


def test_every_row_is_valid_and_in_the_extract_format(records: list[realistic.Record]) -> None:
    validators = {source: RowValidator(date(2026, 12, 7)) for source in realistic.SOURCES}
    for number, record in enumerate(records, 1):
        assert tuple(record.row) == realistic.COLUMNS
        valid = validators[record.source].validate(RawRow(number, record.row, ()))
        assert isinstance(valid, ValidRow), (record.row, getattr(valid, "reasons", None))
        assert not valid.over_age


def test_sources_come_in_turn_with_their_own_identifiers_and_codes(records: list[realistic.Record]) -> None:
    order = [record.source for record in records]
    assert order == sorted(order, key=realistic.SOURCES.index)
    by_source = {source: [r.row for r in records if r.source == source] for source in realistic.SOURCES}
    health, school, social = by_source["health"], by_source["school"], by_source["social_care"]
    assert all(not row["upn"] for row in health) and sum(bool(row["nhs_number"]) for row in health) > 0.98 * len(health)
    assert all(not row["nhs_number"] for row in school) and all(row["upn"] for row in school)
    assert any(row["nhs_number"] for row in social) and any(row["upn"] for row in social)
    assert any(not row["nhs_number"] and not row["upn"] for row in social)
    assert {row["gender"] for row in health} <= {"1", "2", "0"}
    assert {row["gender"] for row in school} <= {"M", "F", ""}
    new_authorities = [row for row in school if row["upn"][1:4] in realistic.NEW_LA_CODES]
    assert 0.15 * len(school) < len(new_authorities) < 0.35 * len(school)


def test_households_have_twins_with_similar_names_and_children_in_one_source_only() -> None:
    children = {child.truth_id: child for child in realistic.population(CHILDREN, seed=7)}
    twins = realistic.twins(CHILDREN, seed=7)
    assert twins and all(twins[twins[child]] == child for child in twins)
    pairs = {(children[a], children[b]) for a, b in twins.items() if a < b}
    same_sex = [(a, b) for a, b in pairs if a.sex == b.sex]
    assert 0.5 * len(pairs) < len(same_sex) < 0.85 * len(pairs)
    similar = {frozenset(pair) for names in realistic.TWIN_NAMES.values() for pair in names}
    assert any(frozenset((a.given_name, b.given_name)) in similar for a, b in same_sex)
    assert all(a.given_name != b.given_name and a.date_of_birth == b.date_of_birth for a, b in pairs)
    sizes = Counter(len(child.in_sources) for child in children.values())
    assert sizes[1] > 0 and sizes[2] > 0 and sizes[3] > 0
    assert any(child.in_sources == {"school"} for child in children.values())
