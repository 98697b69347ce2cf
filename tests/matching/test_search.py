from datetime import date

from matching.person import OtherName, Person
from matching.search import Candidate, Query, missing_detail, rank, score_candidate

HELD = Person(
    given_name="Aisha",
    middle_names="Grace",
    family_name="Khan-Ahmed",
    date_of_birth=date(2014, 2, 11),
    gender="female",
    postcode="BD71AB",
    previous_postcodes=("LS62AB",),
    other_names=(OtherName("Ayesha", "Patel"),),
    identifiers=frozenset({("nhs_number", "9434765919")}),
)


def _score(**query: object) -> tuple[float, tuple[str, ...]]:
    return score_candidate(Person(**query), HELD)  # type: ignore[arg-type]


def test_exact_details_score_full_marks() -> None:
    score, matched = _score(given_name="Aisha", family_name="Khan-Ahmed", date_of_birth=date(2014, 2, 11))
    assert score == 100.0
    assert matched == ("family name", "given name", "date of birth")


def test_each_kind_of_near_match_is_explained() -> None:
    assert "given name (nickname or spelling variant)" in _score(given_name="Aishah", family_name="Khan-Ahmed")[1]
    assert "family name (part of a double or hyphenated name)" in _score(family_name="Khan")[1]
    assert "family name (part of a double or hyphenated name)" in _score(family_name="Kahn-Ahmed")[1]
    typo = score_candidate(Person(family_name="Benmett"), Person(family_name="Bennett"))
    assert typo == (90.0, ("family name (similar spelling)",))
    assert "date of birth (day and month swapped)" in _score(family_name="Khan", date_of_birth=date(2014, 11, 2))[1]
    assert "postcode (previous address)" in _score(family_name="Khan", postcode="LS62AB")[1]
    assert "family name (other name)" in _score(family_name="Patel")[1]
    assert "given name (matches a middle name)" in _score(given_name="Grace", family_name="Khan")[1]


def test_swapped_names_are_found_but_marked() -> None:
    score, matched = _score(given_name="Khan-Ahmed", family_name="Aisha", date_of_birth=date(2014, 2, 11))
    assert score > 90
    assert any("given and family names swapped" in item for item in matched)


def test_different_child_scores_below_threshold() -> None:
    score, _ = _score(given_name="Oliver", family_name="Bennett", date_of_birth=date(2014, 2, 11))
    assert score < 75


def test_gender_disagreement_costs_points() -> None:
    same = _score(family_name="Khan", date_of_birth=date(2014, 2, 11), gender="female")[0]
    different = _score(family_name="Khan", date_of_birth=date(2014, 2, 11), gender="male")[0]
    assert different < same


def test_enough_detail_rules() -> None:
    def missing(**person: object) -> bool:
        return missing_detail(Query(Person(**person))) is not None  # type: ignore[arg-type]

    assert missing(family_name="Khan")
    assert missing(given_name="Aisha", date_of_birth=date(2014, 2, 11))
    assert missing(family_name="Khan", postcode="BD71AB")
    assert not missing(family_name="Khan", date_of_birth=date(2014, 2, 11))
    assert not missing(family_name="Khan", given_name="Aisha", postcode="BD71AB")
    assert missing_detail(Query(Person(), nhs_number="9434765919")) is None


def test_more_than_ten_passing_gives_no_list() -> None:
    query = Query(Person(family_name="Khan-Ahmed", date_of_birth=date(2014, 2, 11)))
    candidates = [Candidate(number, HELD, f"ID{number}") for number in range(11)]
    assert rank(query, candidates).too_many
    assert len(rank(query, candidates[:10]).matches) == 10


def test_identifier_search_requires_the_identifier_to_match() -> None:
    query = Query(Person(), nhs_number="9434765919")
    other = Person(given_name="Aisha", family_name="Khan-Ahmed", identifiers=frozenset())
    ranking = rank(query, [Candidate(1, HELD, "A"), Candidate(2, other, "B")])
    assert [(m.index_id, m.score, m.matched) for m in ranking.matches] == [("A", 100.0, ("NHS number",))]
