"""Database conventions shared by every model: constraint names, SQLite behaviour, time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.session import Session as FlaskSession
from psycopg.sql import SQL, Identifier
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A bulk load's connection on SQLite (see tune_for_bulk_load): its page cache, and the pages its
# write-ahead log holds before they are copied back into the database file.
SQLITE_LOAD_CACHE_KIB = 65_536
SQLITE_LOAD_CHECKPOINT_PAGES = 50_000
READ_SNAPSHOT = "child_index_read_snapshot"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IndexSession(FlaskSession):
    """Flask-SQLAlchemy's session, but honouring an explicit bind.

    Tests bind the session to one connection inside a transaction that is rolled back; the
    stock session would ignore that bind and go straight to the engine.
    """

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        if bind is None and self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_today() -> date:
    """Today's date in UTC: the day on which vetting checks and accreditations are judged."""
    return utcnow().date()


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and write transactions that take the lock up front.

    Nearly every request writes (each search and view leaves an audit event), so a deferred
    transaction that reads first would fail with SQLITE_BUSY when another worker wrote in
    between; BEGIN IMMEDIATE waits for the lock instead. The driver's own transaction
    handling is switched off so that SQLAlchemy's BEGIN and SAVEPOINT are the real ones.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A long read that must not hold the write lock (`audit verify`) asks for a snapshot instead.
        snapshot = connection.get_execution_options().get(READ_SNAPSHOT, False)
        connection.exec_driver_sql("BEGIN" if snapshot else "BEGIN IMMEDIATE")


def tune_for_bulk_load(connection: sa.Connection) -> None:
    """On SQLite, a page cache and a write-ahead log the size of a bulk load's batches; nothing
    on PostgreSQL.

    A batch reads candidates and writes rows and keys all over indexes of millions of entries:
    with SQLite's default cache it read the same index pages from the operating system again and
    again, and with its default log every commit copied the batch's pages back into the database
    file and synced it (most of a commit's time; measured in docs/performance.md). With a larger
    log a page changed by several batches is copied back once. These are settings of this
    connection only; other connections keep theirs.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_LOAD_CACHE_KIB}")
        connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {SQLITE_LOAD_CHECKPOINT_PAGES}")


def insert_rows(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows, all with the same columns, through the driver itself: on PostgreSQL with
    COPY, on SQLite with one executemany.

    A bulk load's batch writes tens of thousands of rows. psycopg's executemany sends one INSERT a
    row, and the server spent longer running those statements than the load spent matching: COPY
    takes the rows whole. On SQLite, SQLAlchemy's executemany made each row's parameters in
    Python at as much cost again as SQLite's own inserts. Each value is converted as an INSERT
    would convert it (its column type's bind processing), and a column the rows leave out gets
    its default, as an INSERT would give it (a callable default is called once for all the rows).
    """
    if not rows:
        return
    given = list(rows[0])
    dialect = connection.dialect
    get = itemgetter(*given)
    converting = [
        (at, convert) for at, name in enumerate(given) if (convert := _converter(table.c[name], dialect)) is not None
    ]
    left_out = [
        column
        for column in table.columns
        if column.name not in rows[0] and isinstance(column.default, sa.ColumnDefault)
    ]
    filled = []
    for column in left_out:
        value, convert = _default(column), _converter(column, dialect)
        filled.append(value if value is None or convert is None else convert(value))
    names = [*given, *(column.name for column in left_out)]

    def values() -> Iterator[list[Any]]:
        for row in rows:
            if len(row) != len(given):
                raise _other_columns(table, given, row)
            try:
                found = [get(row)] if len(given) == 1 else list(get(row))
            except KeyError:  # as many columns as the first row, but not the same ones
                raise _other_columns(table, given, row) from None
            for at, convert in converting:
                if (value := found[at]) is not None:
                    found[at] = convert(value)
            yield found + filled

    driver = connection.connection.driver_connection
    assert driver is not None
    if dialect.name == "postgresql":
        statement = SQL("COPY {} ({}) FROM STDIN").format(
            Identifier(table.name), SQL(", ").join(Identifier(name) for name in names)
        )
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in values():
                copy.write_row(row)
        return
    quote = dialect.identifier_preparer.quote
    insert = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "  # noqa: S608 - the table's own names
        f"VALUES ({', '.join('?' * len(names))})"
    )
    driver.executemany(insert, values())


def _other_columns(table: sa.Table, given: list[str], row: dict[str, Any]) -> ValueError:
    return ValueError(f"every row for {table.name} must have the columns {given}, not {sorted(row)}")


def _converter(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """How an INSERT converts a value for this column (None where its type does not), remembering
    the last value it converted: a batch's rows share their timestamps and kinds, and converting
    each again (an enum's name, a timestamp's text) cost more than inserting the row."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    seen: Any = _NOTHING
    converted: Any = None

    def convert(value: Any) -> Any:
        nonlocal seen, converted
        if value is not seen:
            seen, converted = value, process(value)
        return converted

    return convert


_NOTHING = object()


def _default(column: sa.Column[Any]) -> Any:
    """A column's Python-side default value; a SQL expression default cannot be sent through the driver."""
    default = column.default
    assert isinstance(default, sa.ColumnDefault)
    if default.is_callable:
        return default.arg(None)  # type: ignore[operator]
    if default.is_scalar:
        return default.arg
    raise ValueError(f"{column.table.name}.{column.name} has a SQL default: give its value in every row")


def sql_dialect(dialect: sa.Dialect) -> str:
    """ "postgresql" or "sqlite": which of the two the statements written for the driver itself are for."""
    return "postgresql" if dialect.name == "postgresql" else "sqlite"


def shareable(bind: sa.Connection | Engine) -> bool:
    """Whether other processes can read what this connection or engine reads (not an in-memory SQLite database)."""
    if bind.dialect.name == "postgresql":
        return True
    database = bind.engine.url.database
    return bool(database) and database != ":memory:" and not database.startswith("file::memory:")


def snapshot_options(dialect_name: str) -> dict[str, Any]:
    """The execution options under which a transaction reads one consistent snapshot and never
    takes SQLite's write lock."""
    if dialect_name == "sqlite":
        return {READ_SNAPSHOT: True}
    return {"isolation_level": "REPEATABLE READ"}


def read_snapshot(connection: sa.Connection) -> sa.Connection:
    """A connection that reads one consistent snapshot and never takes SQLite's write lock."""
    return connection.execution_options(**snapshot_options(connection.dialect.name))
