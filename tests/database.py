"""Test helpers that act on the database as its owner would: emptying it, and getting past the triggers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app

from accreditation.criteria import SEED_CRITERIA
from index_service.audit import append_only, canonical
from index_service.audit.chain import HEAD_ID
from index_service.audit.models import AuditChainHead
from index_service.extensions import db
from index_service.organisation_models import Criterion


def worker_database_name(name: str) -> str:
    """The name with this pytest-xdist worker's id (`test_gw0`), so parallel workers use databases of their
    own; the name itself outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"{name}_{worker}" if worker else name


@contextmanager
def owner_bypass(connection: sa.Connection) -> Iterator[sa.Connection]:
    """The append-only triggers dropped for the block and made again after it, as an owner could."""
    dialect = connection.dialect.name
    append_only.drop_triggers(lambda sql: connection.exec_driver_sql(sql), dialect)
    try:
        yield connection
    finally:
        append_only.create_triggers(lambda sql: connection.exec_driver_sql(sql), dialect)


def empty_database(connection: sa.Connection) -> None:
    """Every table emptied, then left as the migrations leave it: the audit chain started again from its
    first link, and the accreditation criteria they seed."""
    key = current_app.config["AUDIT_CHECKPOINT_KEY"].encode()
    with owner_bypass(connection):
        for table in reversed(db.metadata.sorted_tables):
            if table.name != AuditChainHead.__tablename__:
                connection.execute(table.delete())
    connection.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(
            position=0,
            event_hash=canonical.GENESIS_HASH,
            signature=canonical.signature(key, "head", 0, canonical.GENESIS_HASH),
        )
    )
    connection.execute(
        sa.insert(Criterion),
        [
            {
                "code": seed.code,
                "title": seed.title,
                "mandatory": seed.mandatory,
                "retired": False,
                "position": position,
            }
            for position, seed in enumerate(SEED_CRITERIA, start=1)
        ],
    )
