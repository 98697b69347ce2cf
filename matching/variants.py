"""Name variants (nicknames, spellings, transliterations) from the curated data files.

A name maps to the canonical forms of every group it belongs to, so that Bill and William,
or Mohammed and Muhammad, share blocking keys and compare as the same name.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _load(filename: str) -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for line in (DATA / filename).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names = [name.strip() for name in line.split(",") if name.strip()]
        canonical = names[0]
        for name in names:
            groups.setdefault(name, set()).add(canonical)
    return {name: frozenset(canonicals) for name, canonicals in groups.items()}


@cache
def _given() -> dict[str, frozenset[str]]:
    return _load("given_name_variants.txt")


@cache
def _family() -> dict[str, frozenset[str]]:
    return _load("family_name_variants.txt")


def given_forms(token: str) -> frozenset[str]:
    """The canonical forms of a given-name token, or the token itself when it has no group."""
    return _given().get(token, frozenset({token}))


def family_forms(token: str) -> frozenset[str]:
    return _family().get(token, frozenset({token}))


def _share_a_form(groups: dict[str, frozenset[str]], left: str, right: str) -> bool:
    """Whether the two tokens have a canonical form in common (a token with no group is its own
    form), without making a set of one for such a token: a load compares hundreds of thousands
    of names, and this is on that path (see docs/performance.md)."""
    left_forms, right_forms = groups.get(left), groups.get(right)
    if left_forms is None:
        return left == right if right_forms is None else left in right_forms
    return right in left_forms if right_forms is None else not left_forms.isdisjoint(right_forms)


def are_given_variants(left: str, right: str) -> bool:
    return _share_a_form(_given(), left, right)


def are_family_variants(left: str, right: str) -> bool:
    return _share_a_form(_family(), left, right)
