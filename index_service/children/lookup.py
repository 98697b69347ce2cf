"""Finding children: the database side of matching's search, and loading a record to view.

Candidates come only through indexed lookups (identifiers, blocking keys, and when those
find nobody a date-of-birth or postcode block), never a scan. Shielded children are removed
before ranking when a postcode was used, so that "too many" cannot betray them either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from index_service.children.held import person_of
from index_service.children.models import (
    Address,
    BlockingKey,
    CarerContact,
    Child,
    ChildName,
    IdentifierKind,
    SourceIdentifier,
)
from index_service.extensions import db
from index_service.sql_helpers import one_of
from matching.blocking import query_keys, record_keys
from matching.person import OtherName, Person
from matching.search import Candidate, Query, Ranking, dates_to_widen, names_agree, rank
from shielding.redaction import Viewer, hidden_from_search, redact

WIDEN_LIMIT = 5000


@dataclass(frozen=True)
class SearchOutcome:
    results: list[dict[str, Any]]
    too_many: bool
    candidates_read: int


def refresh_blocking_keys(child: Child) -> None:
    """Replace the child's stored blocking keys with those of its current details."""
    wanted = record_keys(person_of(child, household=True))
    kept = [stored for stored in child.blocking_keys if stored.key in wanted]
    kept_keys = {stored.key for stored in kept}
    child.blocking_keys = kept + [BlockingKey(key=key) for key in wanted - kept_keys]


def _ids_by_identifier(query: Query) -> set[int]:
    ids: set[int] = set()
    if query.index_id:
        ids |= set(db.session.scalars(select(Child.id).where(Child.index_id == query.index_id)))
    for kind, value in ((IdentifierKind.NHS_NUMBER, query.nhs_number), (IdentifierKind.UPN, query.upn)):
        if value:
            ids |= set(
                db.session.scalars(
                    select(SourceIdentifier.child_id).where(
                        SourceIdentifier.kind == kind, SourceIdentifier.value == value
                    )
                )
            )
    return ids


def _ids_by_keys(query: Query) -> set[int]:
    keys = list(query_keys(query.person))
    if not keys:
        return set()
    return set(db.session.scalars(select(BlockingKey.child_id).where(BlockingKey.key.in_(keys)).distinct()))


def _ids_by_block(query: Query, seen_ids: set[int]) -> set[int]:
    """The wider net when keys found nobody: everyone born that day, or living at that postcode.

    The block is read as names only and narrowed to children whose names agree with the
    query before any whole record is loaded, so a common date of birth stays cheap.
    """
    dates = dates_to_widen(query)
    if dates:
        statement = select(Child.id).where(Child.date_of_birth.in_(dates), Child.merged_into_id.is_(None))
    elif query.person.postcode:
        statement = select(Address.child_id).where(Address.postcode_key == query.person.postcode).distinct()
    else:
        return set()
    ids = set(db.session.scalars(statement.limit(WIDEN_LIMIT))) - seen_ids
    if not ids:
        return set()
    people: dict[int, tuple[Person, list[OtherName]]] = {}
    rows = db.session.execute(
        select(Child.id, Child.given_name, Child.middle_names, Child.family_name).where(Child.id.in_(ids))
    )
    for child_id, given, middle, family in rows:
        people[child_id] = (Person(given_name=given, middle_names=middle, family_name=family), [])
    others = db.session.execute(
        select(ChildName.child_id, ChildName.given_name, ChildName.family_name).where(ChildName.child_id.in_(ids))
    )
    for child_id, given, family in others:
        people[child_id][1].append(OtherName(given, family))
    return {
        child_id
        for child_id, (person, other_names) in people.items()
        if names_agree(query.person, replace(person, other_names=tuple(other_names)))
    }


def load_children(ids: Iterable[int], *also: Any) -> list[Child]:
    """Children with what matching reads, and any other relationships asked for, in few queries."""
    ids = list(ids)
    if not ids:
        return []
    wanted = (Child.other_names, Child.addresses, Child.identifiers, *also)
    return list(
        db.session.scalars(
            select(Child).where(Child.id.in_(ids)).options(*(selectinload(relation) for relation in wanted))
        )
    )


@dataclass(frozen=True)
class HeldPerson:
    """A child as matching compares it, read without building the whole record."""

    child_id: int
    index_id: str
    merged_into_id: int | None
    person: Person
    is_shielded: bool = False


def held_people(ids: Iterable[int], *, in_full: bool = True) -> dict[int, HeldPerson]:
    """Children as plain matching data, in five queries: who they are (names, date of birth,
    gender) in two, and unless in_full is false their details (identifiers, current address,
    previous postcodes, carers) in three more (see with_details).

    Core columns, not the ORM's: a load reads thousands of candidates a batch, and the ORM's
    row handling cost more than the queries.
    """
    ids = list(ids)
    if not ids:
        return {}
    names: dict[int, list[OtherName]] = {i: [] for i in ids}
    other, child = ChildName.__table__.c, Child.__table__.c
    for child_id, given, family in db.session.execute(
        select(other.child_id, other.given_name, other.family_name).where(one_of(other.child_id, ids))
    ):
        names[child_id].append(OtherName(given, family))
    held = {}
    # Rows unpacked as tuples: reading each value by its name cost more than the query.
    for child_id, index_id, merged_into_id, given, middle, family, born, gender, shielded in db.session.execute(
        select(
            child.id,
            child.index_id,
            child.merged_into_id,
            child.given_name,
            child.middle_names,
            child.family_name,
            child.date_of_birth,
            child.gender,
            child.is_shielded,
        ).where(one_of(child.id, ids))
    ):
        held[child_id] = HeldPerson(
            child_id,
            index_id,
            merged_into_id,
            Person(
                given_name=given,
                family_name=family,
                middle_names=middle,
                other_names=tuple(names[child_id]),
                date_of_birth=born,
                gender=gender.value,
            ),
            shielded,
        )
    return with_details(held) if in_full else held


def with_details(people: dict[int, HeldPerson]) -> dict[int, HeldPerson]:
    """The same people with their identifiers and households (current address, previous
    postcodes, carers) read."""
    ids = list(people)
    if not ids:
        return {}
    identifiers: dict[int, set[tuple[str, str]]] = {i: set() for i in ids}
    current: dict[int, tuple[str | None, str | None]] = {}
    previous: dict[int, list[str]] = {i: [] for i in ids}
    carers: dict[int, list[str]] = {i: [] for i in ids}
    identifier, address, carer = (model.__table__.c for model in (SourceIdentifier, Address, CarerContact))
    for child_id, kind, value in db.session.execute(
        select(identifier.child_id, identifier.kind, identifier.value).where(
            one_of(identifier.child_id, ids), identifier.kind != IdentifierKind.SOURCE_RECORD
        )
    ):
        identifiers[child_id].add((kind.value, value))
    for child_id, line1, postcode_key, is_current in db.session.execute(
        select(address.child_id, address.line1, address.postcode_key, address.is_current)
        .where(one_of(address.child_id, ids))
        .order_by(address.id)
    ):
        if is_current:
            current[child_id] = (line1, postcode_key)
        elif postcode_key:
            previous[child_id].append(postcode_key)
    for child_id, name in db.session.execute(select(carer.child_id, carer.name).where(one_of(carer.child_id, ids))):
        carers[child_id].append(name)
    found = {}
    for child_id, held in people.items():
        line1, postcode = current.get(child_id, (None, None))
        person = replace(
            held.person,
            identifiers=frozenset(identifiers[child_id]),
            postcode=postcode,
            previous_postcodes=tuple(previous[child_id]),
            address_line=line1,
            carer_names=tuple(carers[child_id]),
        )
        found[child_id] = replace(held, person=person)
    return found


def _rank_children(query: Query, children: list[Child]) -> Ranking:
    eligible = [c for c in children if not hidden_from_search(c.is_shielded, query.uses_postcode)]
    return rank(query, [Candidate(c.id, person_of(c), c.index_id) for c in eligible])


def _summary(child: Child, score: float, matched: tuple[str, ...], viewer: Viewer) -> dict[str, Any]:
    address = child.current_address
    record = {
        "index_id": child.index_id,
        "given_name": child.given_name,
        "middle_names": child.middle_names,
        "family_name": child.family_name,
        "date_of_birth": child.date_of_birth,
        "gender": child.gender.value,
        "status": child.status.value,
        "is_shielded": child.is_shielded,
        "town": address.town if address else None,
        "postcode": address.postcode if address else None,
    }
    return {**redact(record, viewer), "score": score, "matched": list(matched)}


MERGE_DEPTH = 20


def surviving(child: Child) -> Child:
    """The record a retired (merged) record now lives on: its rows, its searches and its views go there."""
    for _ in range(MERGE_DEPTH):
        if child.merged_into_id is None:
            break
        child = db.session.get(Child, child.merged_into_id) or child
    return child


def _surviving_index_id(index_id: str) -> str:
    child = db.session.scalar(select(Child).where(Child.index_id == index_id))
    return surviving(child).index_id if child is not None else index_id


def search_children(query: Query, viewer: Viewer) -> SearchOutcome:
    """Rank the candidates for a query; widen to a whole block only when keys found nobody."""
    if query.index_id:
        query = replace(query, index_id=_surviving_index_id(query.index_id))
    seen_ids = _ids_by_identifier(query) if query.identifiers else _ids_by_keys(query)
    children = load_children(seen_ids)
    ranking = _rank_children(query, children)
    if not query.identifiers and not ranking.matches and not ranking.too_many:
        extra = _ids_by_block(query, seen_ids)
        if extra:
            children += load_children(extra)
            ranking = _rank_children(query, children)
    by_id = {child.id: child for child in children}
    results = (
        []
        if ranking.too_many
        else [_summary(by_id[match.child_id], match.score, match.matched, viewer) for match in ranking.matches]
    )
    return SearchOutcome(results, ranking.too_many, len(children))


def child_by_index_id(index_id: str) -> Child | None:
    """The record for an index id; a retired (merged) id gives the record it was merged into."""
    return db.session.scalar(
        select(Child)
        .where(Child.index_id == _surviving_index_id(index_id))
        .options(
            selectinload(Child.other_names).joinedload(ChildName.source),
            selectinload(Child.addresses),
            selectinload(Child.carers),
            selectinload(Child.identifiers),
            selectinload(Child.involvements),
            selectinload(Child.provenance),
        )
    )
