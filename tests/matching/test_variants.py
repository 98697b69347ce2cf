import pytest

from matching.variants import are_family_variants, are_given_variants, given_forms


@pytest.mark.parametrize(
    ("left", "right", "variants"),
    [
        ("bill", "william", True),  # two names of one group
        ("william", "william", True),
        ("liam", "billy", True),  # neither the group's first name
        ("harry", "henry", True),  # harry belongs to two groups; one is henry's
        ("harry", "harrison", True),
        ("henry", "harrison", False),  # harry's two groups are not one
        ("william", "oliver", False),  # two groups
        ("william", "zebedee", False),  # a group, and a name in none
        ("zebedee", "william", False),
        ("zebedee", "zebedee", True),  # a name in no group is its own form
        ("zebedee", "zachariah", False),
    ],
)
def test_given_names_are_variants_when_they_share_a_group(left: str, right: str, variants: bool) -> None:
    assert are_given_variants(left, right) is variants
    assert bool(given_forms(left) & given_forms(right)) is variants  # the forms say the same


@pytest.mark.parametrize(
    ("left", "right", "variants"),
    [
        ("smyth", "smith", True),
        ("reed", "reade", True),
        ("smith", "reid", False),
        ("smith", "zed", False),
        ("zed", "zed", True),
        ("zed", "zee", False),
    ],
)
def test_family_names_are_variants_when_they_share_a_group(left: str, right: str, variants: bool) -> None:
    assert are_family_variants(left, right) is variants
