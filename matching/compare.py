"""Field comparators: each says how alike two values are (0 to 1) and why, in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from rapidfuzz.distance import OSA, JaroWinkler

from matching.normalise import name_key, name_tokens, postcode_outward, swapped_day_month
from matching.person import Person
from matching.variants import are_family_variants, are_given_variants

TYPO = 0.9
VARIANT = 0.92
PART = 0.95
SWAPPED_DATE = 0.85
PREVIOUS_POSTCODE = 0.8
POSTCODE_DISTRICT = 0.4
MIDDLE_NAME = 0.85
SIMILAR_FLOOR = 0.9


@dataclass(frozen=True)
class Comparison:
    field: str
    similarity: float
    explanation: str | None

    @property
    def agrees(self) -> bool:
        return self.similarity > 0


def _spelling(left: str, right: str) -> float:
    """Similarity of two normalised names by spelling alone."""
    if left == right:
        return 1.0
    if min(len(left), len(right)) >= 3 and OSA.distance(left, right) <= 1:
        return TYPO
    similarity = JaroWinkler.normalized_similarity(left, right)
    return similarity * TYPO if similarity >= SIMILAR_FLOOR else 0.0


def _best(
    wanted: str,
    held: list[tuple[str, str]],
    are_variants: Callable[[str, str], bool],
    field: str,
) -> Comparison:
    """Best agreement between a query name and any (name, where-from) the child holds."""
    wanted_key = name_key(wanted)
    wanted_tokens = name_tokens(wanted)
    best = Comparison(field, 0.0, None)
    for name, origin in held:
        held_key = name_key(name)
        held_tokens = name_tokens(name)
        if not held_key or not wanted_key:
            continue
        suffix = f" ({origin})" if origin else ""
        candidates = [(1.0, f"{field}{suffix}")] if held_key == wanted_key else []
        several_parts = len(held_tokens) > 1 or len(wanted_tokens) > 1
        if several_parts and set(held_tokens) & set(wanted_tokens):
            candidates.append((PART, f"{field} (part of a double or hyphenated name){suffix}"))
        if any(are_variants(w, h) for w in wanted_tokens for h in held_tokens):
            candidates.append((VARIANT, f"{field} (nickname or spelling variant){suffix}"))
        spelling = max(
            [_spelling(wanted_key, held_key)] + [_spelling(w, h) for w in wanted_tokens for h in held_tokens]
        )
        if spelling:
            label = field if spelling == 1.0 else f"{field} (similar spelling)"
            candidates.append((spelling if spelling < 1.0 else PART, label + suffix))
        for similarity, explanation in candidates:
            if similarity > best.similarity:
                best = Comparison(field, similarity, explanation)
    return best


def compare_family_name(wanted: str, person: Person) -> Comparison:
    held = [(person.family_name or "", "")]
    held += [(other.family_name, "other name") for other in person.other_names if other.family_name]
    return _best(wanted, held, are_family_variants, "family name")


def compare_given_name(wanted: str, person: Person) -> Comparison:
    held = [(person.given_name or "", "")]
    held += [(other.given_name, "other name") for other in person.other_names if other.given_name]
    result = _best(wanted, held, are_given_variants, "given name")
    in_middle = person.middle_names and set(name_tokens(wanted)) & set(name_tokens(person.middle_names))
    if result.similarity < MIDDLE_NAME and in_middle:
        return Comparison("given name", MIDDLE_NAME, "given name (matches a middle name)")
    return result


def compare_date_of_birth(wanted: date, person: Person) -> Comparison:
    if person.date_of_birth is None:
        return Comparison("date of birth", 0.0, None)
    if wanted == person.date_of_birth:
        return Comparison("date of birth", 1.0, "date of birth")
    if swapped_day_month(wanted) == person.date_of_birth:
        return Comparison("date of birth", SWAPPED_DATE, "date of birth (day and month swapped)")
    return Comparison("date of birth", 0.0, None)


def compare_postcode(wanted: str, person: Person) -> Comparison:
    if person.postcode == wanted:
        return Comparison("postcode", 1.0, "postcode")
    if wanted in person.previous_postcodes:
        return Comparison("postcode", PREVIOUS_POSTCODE, "postcode (previous address)")
    if person.postcode and postcode_outward(person.postcode) == postcode_outward(wanted):
        return Comparison("postcode", POSTCODE_DISTRICT, "postcode district")
    return Comparison("postcode", 0.0, None)
