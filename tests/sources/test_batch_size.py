"""A row's outcome does not depend on how the extract is cut into batches, nor on the workers,
nor on whether the load is a dry run.

Each row is decided against the index as the rows before it left it, whether they were
committed in an earlier batch or applied earlier in its own: the same extract loaded one row
a batch, two, three or all at once, with matching workers or without, gives every row the
same outcome, child, score and reasons. A dry run of it, cut any of those ways, predicts
exactly that report (with no id for the children the load would make) and changes nothing,
whether it holds every record it carries in memory or only one or two (DRY_RUN_CARRIED_RECORDS),
spilling the rest to its scratch file and recalling them when a later row meets them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Table, delete, select

from index_service.audit.models import AuditEvent, AuditTag
from index_service.children.models import (
    Address,
    BlockingKey,
    CarerContact,
    Child,
    ChildName,
    FieldProvenance,
    Involvement,
    SourceIdentifier,
)
from index_service.children.shielding_decisions import ShieldingDecision
from index_service.extensions import db
from index_service.load_models import Load, LoadKind, LoadRow, ReviewItem, RowOutcome
from index_service.sources.loading import run
from index_service.sources.models import DataSource
from matching.blocking import address_code, key_hash
from matching.deciding import RESEMBLES, SHIELDED_RESEMBLANCE
from tests.factories import make_child
from tests.sources.loads import TODAY, distinct_children, load_file, make_source, row, scratch_in, write_extract

OLIVER_NHS = "9434765919"
GRACE_NHS = "4010231009"
WARD_NHS = "4010231017"

AMELIA = {
    "given_name": "Amelia",
    "family_name": "Khan",
    "date_of_birth": "2014-09-04",
    "gender": "f",
    "postcode": "BD1 1AA",
    "address_line1": "3 Mill Street",
    "parent_carer_name": "Imran Khan",
}
GRACE = {
    "given_name": "Grace",
    "family_name": "Taylor",
    "date_of_birth": "2013-06-10",
    "gender": "f",
    "postcode": "LS9 9AA",
    "address_line1": "8 Oak Road",
    "parent_carer_name": "Mary Taylor",
}
THOMAS = {
    "given_name": "Thomas",
    "family_name": "Hughes",
    "date_of_birth": "2015-01-02",
    "postcode": "LS7 3BB",
    "address_line1": "1 Park Road",
    "parent_carer_name": "Paul Hughes",
}
HELD = [row("A1", nhs_number=OLIVER_NHS), row("A2", **AMELIA), row("A3", **GRACE), row("A4", **THOMAS)]
NOAH = {
    "given_name": "Noah",
    "family_name": "Green",
    "date_of_birth": "2013-02-03",
    "postcode": "LS2 7AA",
    "address_line1": "5 Elm Close",
    "parent_carer_name": "Kate Green",
}
GRACE_MOVED = {"address_line1": "40 River View", "postcode": "LS10 1AA"}
WARD = {
    "given_name": "Leo",
    "family_name": "Ward",
    "date_of_birth": "2012-08-08",
    "postcode": "BD2 2AA",
    "address_line1": "12 Hill Top",
    "parent_carer_name": "Jo Ward",
    "nhs_number": WARD_NHS,
}
RUBY = {  # a middle name, so that P3 (a new family name and home) links only through P2's family name
    "given_name": "Ruby",
    "middle_names": "Mae",
    "family_name": "Price",
    "date_of_birth": "2014-04-04",
    "gender": "f",
    "postcode": "M1 1AE",
    "address_line1": "2 Canal Street",
    "parent_carer_name": "",
}
# Each row meets a child that rows just before it made or changed: in-file duplicates and
# near-duplicates, a twin, an NHS number given to a held child and then sent with other
# names, a held child's move and then a row found only at the new address, a held child
# shielded and then a row weakly like her, one NHS number on three rows, a family name changed.
ROWS = [
    row("N1", **NOAH),
    row("N2", **NOAH),
    row("N3", **{**NOAH, "given_name": "Noa"}),
    row("N4", **{**NOAH, "given_name": "Nina", "gender": "f"}),
    row("G1", **{**GRACE, **GRACE_MOVED, "nhs_number": GRACE_NHS}),
    row(
        "X1",
        given_name="Harry",
        family_name="Stone",
        date_of_birth="2011-11-11",
        nhs_number=GRACE_NHS,
        address_line1="9 Far Lane",
        postcode="HX1 1AA",
        parent_carer_name="",
    ),
    row("G2", **{**GRACE, **GRACE_MOVED, "given_name": "Grayce", "family_name": "Tailer", "parent_carer_name": ""}),
    row("K1", **{**AMELIA, "shield": "yes"}),
    row(
        "K2",
        given_name="Amelia",
        family_name="Holt",
        date_of_birth="2014-09-04",
        gender="f",
        address_line1="3 Elm Close",
        postcode="HG1 2AA",
        parent_carer_name="",
    ),
    row("W1", **WARD),
    row("W2", **{**WARD, "given_name": "Leon"}),
    row("W3", **{**WARD, "given_name": "Mia", "gender": "f"}),
    row("O1", nhs_number=OLIVER_NHS, address_line1="7 Hill Road", postcode="LS7 3QP"),
    row("O2", given_name="Ollie", address_line1="7 Hill Road", postcode="LS7 3QP"),
    row("P1", **RUBY),
    row("P2", **{**RUBY, "family_name": "Price-Jones"}),
    row("P3", **{**RUBY, "family_name": "Jones", "address_line1": "6 Rose Lane", "postcode": "LS3 3AA"}),
    row("B1", date_of_birth="31/02/2015"),
    row("E1", given_name="Edith", family_name="Lane", date_of_birth="2001-06-01"),
    row("N5", **{**NOAH, "address_line1": "7 Elm Close"}),
]
# The same source records again (each rejected): one that made a child, one linked to a held
# child, one sent to review, one rejected, one left out as over age, one linked to a made child.
REPEATED = [
    row("N1", **{**NOAH, "parent_carer_phone": "07700 900456"}),
    row("G1", **{**GRACE, **GRACE_MOVED, "nhs_number": GRACE_NHS}),
    row(
        "X1",
        given_name="Harry",
        family_name="Stone",
        date_of_birth="2011-11-11",
        nhs_number=GRACE_NHS,
        address_line1="9 Far Lane",
        postcode="HX1 1AA",
        parent_carer_name="",
    ),
    row("B1", **NOAH),
    row("E1", given_name="Edith", family_name="Lane", date_of_birth="2001-06-01"),
    row("N2", **{**NOAH, "date_of_birth": "2013-13-03"}),
]
CUTS = ((1, 0), (2, 0), (3, 0), (1, 2), (2, 2), (3, 2))  # with the whole file at once: every way tried
IN_MEMORY = (1, 2)  # the most records a dry run holds in memory: it spills the others it carries
# Every table a load writes to in the index (a dry run writes to none of them).
INDEX_TABLES = (
    Child,
    ChildName,
    Address,
    CarerContact,
    SourceIdentifier,
    Involvement,
    FieldProvenance,
    BlockingKey,
    ReviewItem,
    ShieldingDecision,
)


@contextmanager
def undone() -> Iterator[None]:
    """Whatever is committed inside is undone after it (a savepoint of the test's own connection)."""
    db.session.commit()
    savepoint = db.session.get_bind().begin_nested()  # type: ignore[union-attr]
    try:
        yield
    finally:
        db.session.rollback()
        savepoint.rollback()
        db.session.expire_all()


def _decisions(load: Load) -> list[tuple[Any, ...]]:
    """Each report row with the children the load made named by the row that made them (as a dry
    run names them itself)."""
    report = list(db.session.scalars(select(LoadRow).where(LoadRow.load_id == load.id).order_by(LoadRow.row_number)))
    made = {
        r.child_id: f"made by row {r.row_number}"
        for r in report
        if r.outcome is RowOutcome.CREATED and r.child_id is not None
    }
    index_ids = dict(db.session.execute(select(Child.index_id, Child.id).where(Child.id.in_(made))).all())
    names = {index_id: made[child_id] for index_id, child_id in index_ids.items()}

    def named(reason: str) -> str:
        for index_id, name in names.items():
            reason = reason.replace(index_id, name)
        return re.sub(r"\(new from row (\d+)\)", r"made by row \1", reason)

    return [
        (
            r.row_number,
            r.source_record_id,
            r.outcome.value,
            made.get(r.child_id, r.child_id),
            r.score,
            tuple(named(reason) for reason in r.reasons),
        )
        for r in report
    ]


def _report(load: Load) -> tuple[list[tuple[Any, ...]], dict[str, int], dict[str, Any]]:
    """The load's decisions, its counts, and the fields it found rejected and missing."""
    summary = {name: load.summary[name] for name in ("rejected_by_field", "missing", "warnings")}
    return _decisions(load), dict(load.counts), summary


def _index() -> dict[str, list[tuple[Any, ...]]]:
    """Everything in the index a load could change, and the audit trail less loads' own events."""
    tables: list[Table] = [model.__table__ for model in INDEX_TABLES]  # type: ignore[misc]
    held = {
        table.name: [tuple(r) for r in db.session.execute(select(table).order_by(*table.primary_key.columns))]
        for table in tables
    }
    held["audit_events"] = [
        tuple(r)
        for r in db.session.execute(
            select(AuditEvent.id, AuditEvent.tag)
            .where(AuditEvent.tag.not_in((AuditTag.LOAD_START, AuditTag.LOAD_FINISH)))
            .order_by(AuditEvent.id)
        )
    ]
    return held


def _load(
    app: Flask, monkeypatch: pytest.MonkeyPatch, source: DataSource, path: Path, size: int, workers: int
) -> tuple[list[tuple[Any, ...]], dict[str, int], dict[str, Any]]:
    monkeypatch.setitem(app.config, "LOAD_BATCH_ROWS", size)
    monkeypatch.setitem(app.config, "LOAD_WORKERS", workers)
    with undone():
        return _report(load_file(source, path))


def _dry_run(
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    source: DataSource,
    path: Path,
    size: int,
    workers: int,
    scratch: Callable[[], list[Path]],
    *,
    in_memory: int | None = None,
) -> tuple[tuple[list[tuple[Any, ...]], dict[str, int], dict[str, Any]], bool]:
    """A dry run that changes nothing in the index, holding at most `in_memory` records in memory
    (None: the default, more than these files carry), and leaves no scratch file behind; and whether it spilled."""
    monkeypatch.setitem(app.config, "LOAD_BATCH_ROWS", size)
    monkeypatch.setitem(app.config, "LOAD_WORKERS", workers)
    if in_memory is not None:
        monkeypatch.setitem(app.config, "DRY_RUN_CARRIED_RECORDS", in_memory)
    seen: list[Path] = []
    with undone():
        before = _index()
        load = run.begin_load(source, path, LoadKind.DELTA, dry_run=True)
        db.session.commit()
        run.run_load(load, today=TODAY, progress=lambda _: seen.extend(scratch()))
        report = _report(load)
        db.session.expire_all()
        assert _index() == before, "the dry run changed the index"
    assert scratch() == [], "the dry run left its scratch file behind"
    return report, bool(seen)


def _made_or_changed(decisions: list[tuple[Any, ...]]) -> int:
    """How many records a load's rows made or changed: the most a dry run of it carries."""
    return len({d[3] for d in decisions if d[2] in ("created", "linked", "updated")})


def _as_predicted(decisions: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A load's decisions as a dry run predicts them: with no id for the children the load made."""
    return [(*d[:3], None if str(d[3]).startswith("made by row") else d[3], *d[4:]) for d in decisions]


def _decided_alike_every_way(
    app: Flask, monkeypatch: pytest.MonkeyPatch, source: DataSource, path: Path, rows: int
) -> list[tuple[Any, ...]]:
    """The load's decisions, the same one row a batch, two, three or all at once, with workers
    or without, and predicted alike by a dry run cut each of those ways that holds one or two of
    the records it carries in memory, and by one that holds them all."""
    scratch = scratch_in(monkeypatch, path.parent / "scratch")
    one_by_one = _load(app, monkeypatch, source, path, 1, 0)
    decisions, counts, summary = one_by_one
    predicted = (_as_predicted(decisions), counts, summary)
    carried = _made_or_changed(decisions)
    assert _dry_run(app, monkeypatch, source, path, 1, 0, scratch) == (predicted, False)
    for size, workers in (*CUTS, (rows, 0)):
        assert _load(app, monkeypatch, source, path, size, workers) == one_by_one, (size, workers)
        for in_memory in IN_MEMORY:
            # Spilling when it carries more than it may hold in memory, and predicting alike.
            assert _dry_run(app, monkeypatch, source, path, size, workers, scratch, in_memory=in_memory) == (
                predicted,
                carried > in_memory,
            ), ("dry run", size, workers, in_memory)
    return decisions


def _by_record(decisions: list[tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    return {decision[1]: decision[2:] for decision in decisions}


def test_every_row_is_decided_alike_whatever_the_batch_size_and_workers(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_file(make_source("Held census"), write_extract(tmp_path / "held.csv", HELD))
    path = write_extract(tmp_path / "second.csv", ROWS)

    decided = _by_record(_decided_alike_every_way(app, monkeypatch, make_source("Second census"), path, len(ROWS)))
    outcomes = {record: outcome for record, (outcome, *_) in decided.items()}
    assert set(outcomes.values()) == {"created", "linked", "review", "rejected"}
    # Rows a batch used to decide without what earlier rows of the same batch made or changed.
    # (W3 carries Leo Ward's NHS number under another name: the twin rule yields to it, so it links
    # to the record W1 made, which it finds only if what W1 made is seen.)
    assert [outcomes[record] for record in ("X1", "G2", "K2", "W3", "P3")] == [
        "review",
        "linked",
        "review",
        "linked",
        "linked",
    ]
    assert decided["W1"][:2] == ("created", "made by row 10") and decided["W3"][:2] == ("linked", "made by row 10")
    # Rows that meet a child an earlier row made, which a dry run must link to it though it makes none.
    assert [decided[record][:2] for record in ("N2", "N5")] == [("linked", "made by row 1")] * 2


def test_a_source_record_sent_again_names_the_child_its_first_row_went_to_whatever_the_batch_size(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row repeating an earlier row's source record id is rejected, and names the child the
    earlier row made or linked, as it would had the earlier row been loaded in a batch before."""
    load_file(make_source("Held census"), write_extract(tmp_path / "held.csv", HELD))
    path = write_extract(tmp_path / "second.csv", ROWS + REPEATED)

    decided = _decided_alike_every_way(app, monkeypatch, make_source("Second census"), path, len(ROWS + REPEATED))
    first = {record: child for _, record, _, child, *_ in decided[: len(ROWS)]}
    again = [(record, outcome, child) for _, record, outcome, child, *_ in decided[len(ROWS) :]]
    assert again == [(r["source_record_id"], "rejected", first[r["source_record_id"]]) for r in REPEATED]
    assert [child for _, _, child in again][:3] == ["made by row 1", first["G1"], None]
    assert isinstance(first["G1"], int)


# Rows that meet, in the very next batch, what the row before gave a source record id and an NHS
# number: with workers, a batch's candidates are read before the batch before it is written.
PRICE_NHS = "4010231025"
NEXT = [
    row("F1", **NOAH),
    row("F1", **{**NOAH, "parent_carer_phone": "07700 900456"}),
    row("F2", **{**RUBY, "nhs_number": PRICE_NHS}),
    row("F3", **{**THOMAS, "nhs_number": PRICE_NHS}),
]


def test_a_row_meets_what_the_row_just_before_gave_its_source_record_and_nhs_number_whatever_the_batch_size(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The source record id sent again names the child the row before made, and the NHS number
    the row before gave a child it made is not given to the held child the next row links to."""
    load_file(make_source("Held census"), write_extract(tmp_path / "held.csv", HELD))
    thomas = db.session.scalar(select(Child.id).where(Child.given_name == "Thomas"))
    path = write_extract(tmp_path / "second.csv", NEXT)

    decided = _decided_alike_every_way(app, monkeypatch, make_source("Second census"), path, len(NEXT))
    assert [d[2:4] for d in decided] == [
        ("created", "made by row 1"),
        ("rejected", "made by row 1"),
        ("created", "made by row 3"),
        ("linked", thomas),
    ]
    assert (
        f"conflict: this source gave the NHS number {PRICE_NHS} for another record too; not added here"
        in (decided[3][5])
    )


def test_a_changed_record_is_met_by_the_keys_it_is_stored_with(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An index not yet refreshed since the address key came: a row that gives a held child an
    NHS number leaves its stored keys as they were, so a row that only the address key would
    find is not found in the next batch, nor then in the same one."""
    oliver = make_child(nhs_number=None)
    address_key = key_hash(f"ad|{address_code('12 Meadow Lane')}|2016-03-27")
    db.session.execute(delete(BlockingKey).where(BlockingKey.child_id == oliver.id, BlockingKey.key == address_key))
    db.session.commit()
    rows = [row("C1", nhs_number=OLIVER_NHS), row("C2", given_name="Pliver", family_name="Vennett", postcode="LS6 2AP")]
    path = write_extract(tmp_path / "care.csv", rows)

    decided = _by_record(_decided_alike_every_way(app, monkeypatch, make_source("Leeds social care"), path, len(rows)))
    assert decided["C1"][:2] == ("linked", oliver.id)
    assert decided["C2"][:2] == ("created", "made by row 2")


# Rows that meet what rows many rows before them made or changed: a dry run holding one or two
# records in memory has spilled those by then, and recalls them when a later row could meet them.
# Row 5 moves held Oliver; row 9 of LATE is found only by the key of his old address, which the
# index holds and the moved record will not.
EARLY = [
    row("E1", **NOAH),
    row("E2", **{**GRACE, **GRACE_MOVED, "nhs_number": GRACE_NHS}),
    row("E3", **WARD),
    row("E4", **{**AMELIA, "shield": "yes"}),
    row("E5", nhs_number=OLIVER_NHS, address_line1="7 Hill Road", postcode="LS7 3QP"),
]
LATE = [
    row("L1", **{**NOAH, "given_name": "Noa"}),
    row("L2", **{**GRACE, **GRACE_MOVED, "given_name": "Grayce", "family_name": "Tailer", "parent_carer_name": ""}),
    row(
        "L3",
        given_name="Harry",
        family_name="Stone",
        date_of_birth="2011-11-11",
        nhs_number=GRACE_NHS,
        address_line1="9 Far Lane",
        postcode="HX1 1AA",
        parent_carer_name="",
    ),
    row("L4", **{**WARD, "given_name": "LEO", "nhs_number": ""}),
    row("L5", **{**WARD, "given_name": "Mia", "gender": "f"}),
    row(
        "L6",
        given_name="Amelia",
        family_name="Holt",
        date_of_birth="2014-09-04",
        gender="f",
        address_line1="3 Elm Close",
        postcode="HG1 2AA",
        parent_carer_name="",
    ),
    row("L7", **{**NOAH, "given_name": "Nina", "gender": "f"}),
    row("L8", **GRACE),
    row("L9", given_name="Pliver", family_name="Vennett", postcode="LS6 2AP"),
    row("E1", **{**NOAH, "parent_carer_phone": "07700 900456"}),
    row("E2", **GRACE),
]


def test_a_dry_run_spilling_all_but_one_record_predicts_rows_meeting_records_made_or_changed_long_before(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Early rows make Noah and Leo Ward (with his NHS number), move held Grace and give her an NHS
    number, and shield held Amelia; a dozen other children follow; then rows meet each of them."""
    load_file(make_source("Held census"), write_extract(tmp_path / "held.csv", HELD))
    rows = EARLY + distinct_children("F", 12) + LATE
    path = write_extract(tmp_path / "second.csv", rows)

    decided = _decided_alike_every_way(app, monkeypatch, make_source("Second census"), path, len(rows))
    late = {record: (outcome, child, reasons) for _, record, outcome, child, _, reasons in decided[-len(LATE) :]}
    grace = decided[1][3]
    assert [late[record][:2] for record in ("L1", "L2", "L4", "L8")] == [
        ("linked", "made by row 1"),
        ("linked", grace),
        ("linked", "made by row 3"),
        ("linked", grace),
    ]
    # Grace at her old address, found by the index's keys, met as moved: it is her previous address now.
    assert "household: same family name (Taylor), a previous address or the same carer" in late["L8"][2][1]
    # The NHS numbers given early on, to Grace and to the child Leo Ward's row made, with other names.
    assert late["L3"][0] == "review" and late["L3"][2][0].startswith("conflict: the NHS number is already held")
    # Leo Ward's NHS number under another given name and gender, at his home and birthday: the twin
    # rule yields to the shared number (twins never share one), so it is Leo.
    assert late["L5"][:2] == ("linked", "made by row 3")
    # Amelia shielded by row 4: a row like her resembles a shielded record, named nowhere.
    assert late["L6"] == ("review", None, (SHIELDED_RESEMBLANCE, RESEMBLES))
    # Met as moved, where only the index's keys found him: too unlike him to link, at a previous address.
    assert late["L9"] == ("created", f"made by row {len(rows) - 2}", ())
    # The source record ids of rows 1 and 2 again.
    assert [late[record][:2] for record in ("E1", "E2")] == [("rejected", "made by row 1"), ("rejected", grace)]


def test_a_dry_run_spilling_recalls_a_record_changed_long_before_for_another_source_record_id_of_it(
    app: Flask,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A source that sent Thomas twice, under two source record ids, gives his carer a new phone
    under one and, rows later, the same phone under the other: the second row finds him only by
    its source record id (a phone is no key nor identifier), and leaves him as the first changed him."""
    source = make_source("Held census")
    load_file(source, write_extract(tmp_path / "held.csv", [*HELD, row("A5", **THOMAS)]))
    phoned = {**THOMAS, "parent_carer_phone": "07700 900999"}
    rows = [row("A4", **phoned), *distinct_children("F", 4), row("A5", **phoned)]
    path = write_extract(tmp_path / "second.csv", rows)

    decided = _decided_alike_every_way(app, monkeypatch, source, path, len(rows))
    assert [(outcome, child) for _, _, outcome, child, *_ in (decided[0], decided[-1])] == [
        ("updated", decided[0][3]),
        ("unchanged", decided[0][3]),
    ]
