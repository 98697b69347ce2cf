from datetime import date

from matching.normalise import (
    fold,
    name_key,
    name_tokens,
    normalise_postcode,
    postcode_area,
    postcode_district,
    swapped_day_month,
)


def test_fold_removes_case_accents_and_apostrophes() -> None:
    assert fold("Zoë O'Neill") == "zoe oneill"
    assert fold("JOSÉ") == "jose"


def test_name_tokens_split_hyphens_and_join_prefixes() -> None:
    assert name_tokens("Smith-Jones") == ["smith", "jones"]
    assert name_tokens("Mc Donald") == ["mcdonald"]
    assert name_tokens("MacDonald") == ["mcdonald"]
    assert name_tokens("Mace") == ["mace"]
    assert name_key("O'Brien") == "obrien"
    assert name_tokens(None) == [] and name_tokens("") == []


def test_postcodes_are_compacted_or_refused() -> None:
    assert normalise_postcode(" ls6  2ab ") == "LS62AB"
    assert normalise_postcode("SW1A 1AA") == "SW1A1AA"
    assert normalise_postcode("NOT A CODE") is None
    assert normalise_postcode("") is None


def test_day_month_swap() -> None:
    assert swapped_day_month(date(2016, 3, 7)) == date(2016, 7, 3)
    assert swapped_day_month(date(2016, 3, 27)) is None
    assert swapped_day_month(date(2016, 5, 5)) is None


def test_postcode_district_and_area_keep_only_the_outward_part() -> None:
    assert postcode_district("ls6 2ab") == "LS6" and postcode_district(" ls6 ") == "LS6"
    assert postcode_district("EC1A 1BB") == "EC1A" and postcode_district("w1a") == "W1A"
    for bad in (None, "", "LS", "6LS", "LS6 2A", "not a postcode"):
        assert postcode_district(bad) is None, bad
    assert [postcode_area(code) for code in ("LS6 2AB", "EC1A", "B33 8TH", "W1A", "nonsense")] == [
        "LS",
        "EC",
        "B",
        "W",
        None,
    ]
