from datetime import date

from matching.blocking import address_code, load_query_keys, query_keys, record_keys
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
    assert record_keys(CHILD) & load_query_keys(
        Person(family_name="Other", date_of_birth=date(2015, 9, 4), postcode="LS62AB")
    )
    assert not record_keys(CHILD) & load_query_keys(
        Person(family_name="Other", date_of_birth=date(2015, 4, 10), postcode="LS62AB")
    )


def test_load_keys_include_every_search_key() -> None:
    for query in (CHILD, Person(given_name="Bill", family_name="Nobody", date_of_birth=date(2015, 4, 9))):
        assert query_keys(query) <= load_query_keys(query)


def test_a_load_meets_the_child_by_address_and_date_of_birth_when_names_and_postcode_are_mistyped() -> None:
    held = Person(
        given_name="Eliza",
        family_name="Keany",
        date_of_birth=date(2015, 4, 9),
        postcode="LS62AB",
        address_line="6 Nicklin Crescent",
    )
    row = Person(
        given_name="Eriaz",
        family_name="Keacny",
        date_of_birth=date(2015, 4, 9),
        postcode="LS62AP",
        address_line="6, nicklin cre scent",
    )
    assert not record_keys(held) & query_keys(row)  # a search by address and date of birth finds nobody
    assert record_keys(held) & load_query_keys(row)
    next_door = Person(
        given_name="Eriaz",
        family_name="Keacny",
        date_of_birth=date(2015, 4, 9),
        postcode="LS62AP",
        address_line="8 Nicklin Crescent",
    )
    assert not record_keys(held) & load_query_keys(next_door)
    born_another_day = Person(
        given_name="Eriaz",
        family_name="Keacny",
        date_of_birth=date(2015, 4, 10),
        postcode="LS62AP",
        address_line="6 Nicklin Crescent",
    )
    assert not record_keys(held) & load_query_keys(born_another_day)


def test_an_address_key_needs_a_house_number_and_a_street() -> None:
    assert address_code("12a The Crescent") == "12a|KRSSNT"
    assert address_code("Flat 3, 10 High Street") == "3 10|H"
    assert address_code("Rose Cottage") is None  # a house name alone may be anywhere
    assert address_code("20") is None
    assert address_code(None) is None


def test_a_load_meets_the_child_by_names_and_part_of_the_date_of_birth_without_a_postcode() -> None:
    """One part of the date of birth wrong and no postcode: the names with the year, or with the
    month and day, still meet the child (a search does not look these keys up)."""
    for born in (date(2015, 4, 19), date(2015, 4, 10), date(2016, 4, 9), date(2015, 8, 9)):
        row = Person(given_name="Will", family_name="Smith-Jones", date_of_birth=born)
        assert record_keys(CHILD) & load_query_keys(row), born
    swapped = Person(given_name="Jones", family_name="William", date_of_birth=date(2015, 4, 19))
    assert record_keys(CHILD) & load_query_keys(swapped)
    other = Person(given_name="Amelia", family_name="Smith", date_of_birth=date(2015, 4, 19))
    assert not record_keys(CHILD) & load_query_keys(other)
    both_wrong = Person(given_name="William", family_name="Smith", date_of_birth=date(2016, 5, 9))
    assert not record_keys(CHILD) & load_query_keys(both_wrong)
