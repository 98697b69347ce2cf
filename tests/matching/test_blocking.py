from datetime import date

from matching.blocking import load_query_keys, query_keys, record_keys
from matching.normalise import normalise_postcode
from matching.person import OtherName, Person

CHILD = Person(
    given_name="William",
    family_name="Smith-Jones",
    date_of_birth=date(2015, 4, 9),
    postcode=normalise_postcode("LS6 2AB"),
    other_names=(OtherName(None, "Walsh"),),
)


def _meets(query: Person) -> bool:
    return bool(record_keys(CHILD) & query_keys(query))


def test_nickname_shares_a_key() -> None:
    assert _meets(Person(given_name="Bill", family_name="Nobody", date_of_birth=date(2015, 4, 9)))


def test_one_part_of_a_hyphenated_surname_shares_a_key() -> None:
    assert _meets(Person(family_name="Jones", date_of_birth=date(2015, 4, 9)))
    assert _meets(Person(family_name="Smithjones", date_of_birth=date(2015, 4, 9)))


def test_day_month_swap_shares_a_key() -> None:
    assert _meets(Person(family_name="Smith", date_of_birth=date(2015, 9, 4)))


def test_other_name_shares_a_key() -> None:
    assert _meets(Person(family_name="Walsh", date_of_birth=date(2015, 4, 9)))


def test_postcode_with_name_shares_a_key() -> None:
    assert _meets(Person(family_name="Smith", given_name="Will", postcode="LS62AB"))


def test_unrelated_child_shares_no_key() -> None:
    assert not _meets(Person(family_name="Brown", given_name="Amelia", date_of_birth=date(2015, 4, 9)))
    assert not _meets(Person(family_name="Smith", date_of_birth=date(2014, 4, 9)))


def test_a_load_meets_the_child_by_postcode_and_date_of_birth_whatever_the_names() -> None:
    row = Person(given_name="Xavier", family_name="Quinn", date_of_birth=date(2015, 4, 9), postcode="LS62AB")
    assert not _meets(row)
    assert record_keys(CHILD) & load_query_keys(row)
    assert record_keys(CHILD) & load_query_keys(Person(family_name="Other", date_of_birth=date(2015, 9, 4),
                                                       postcode="LS62AB"))
    assert not record_keys(CHILD) & load_query_keys(Person(family_name="Other", date_of_birth=date(2015, 4, 10),
                                                           postcode="LS62AB"))


def test_load_keys_include_every_search_key() -> None:
    for query in (CHILD, Person(given_name="Bill", family_name="Nobody", date_of_birth=date(2015, 4, 9))):
        assert query_keys(query) <= load_query_keys(query)
