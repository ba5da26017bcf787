"""PostgreSQL (and Redshift-style) warehouses through psycopg 3.

Settings: ``host``, ``port``, ``database``, ``user``, ``sslmode``; secret: ``password``.
Advanced: ``statement_timeout_ms`` (default 15 minutes, applied to every statement but a
chunked-rows stream's, which lasts as long as the import reads; a named cursor's FETCHes each get
it) and ``connect_timeout`` seconds (default 10).

Every session is a read-only transaction. Streams use libpq 17's chunked-rows mode: the server
sends the result ``batch_size`` rows at a time without waiting to be asked, and memory stays flat
whatever the table size. With an older libpq they use a named (server-side) cursor instead, on a
read-ahead thread (``connectors.base.ReadAhead``) that fetches the next batch while the current
one is turned into dicts and used. Either way a stream has a connection of its own, touched only
by the stream, so counts and previews on the connector's main connection can run meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.types.string import TextLoader

from connectors.base import (
    Column,
    Connector,
    ConnectorError,
    Dialect,
    SliceOrder,
    TableRef,
    parse_source,
    parsing_row_builder,
    quote_ident,
)

_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

# Types the run engine does not take as Python objects are loaded as their text form.
_TEXT_TYPES = (
    "uuid",
    "json",
    "jsonb",
    "time",
    "timetz",
    "interval",
    "inet",
    "cidr",
    "money",
    "xml",
    "bit",
    "varbit",
    "tsvector",
    "macaddr",
    "point",
    "int4range",
    "tstzrange",
)


# Dates and timestamps load as text too (psycopg's C text loader) and are parsed by the C
# ``fromisoformat`` in ``parsing_row_builder``: PostgreSQL holds 'infinity', years BC and years
# past 9999, which Python cannot; psycopg's own loaders raise DataError on them, failing the
# whole read, while as text such a value fails only its record. The sessions' DateStyle is ISO
# (see ``_open``) so that the text is what ``fromisoformat`` reads.
_PARSED_TYPES: dict[str, Callable[[str], Any]] = {
    "date": date.fromisoformat,
    "timestamp": datetime.fromisoformat,
    "timestamptz": datetime.fromisoformat,
}
_PARSERS = {psycopg.adapters.types[name].oid: parse for name, parse in _PARSED_TYPES.items()}


def _builder(cur: psycopg.Cursor) -> Callable[[list[tuple]], list[dict[str, Any]]]:
    """The function turning ``cur``'s row tuples into dicts, its dates and timestamps parsed."""
    description = cur.description or ()
    return parsing_row_builder(
        [d.name for d in description],
        {i: _PARSERS[d.type_code] for i, d in enumerate(description) if d.type_code in _PARSERS},
    )


# Rows fetched at a time while walking a run of equal values past a slice's start.
_TIES_FETCH = 1000
# Types whose values, as loaded here, are equal in Python exactly when PostgreSQL sorts them as
# equal. Not text: a case-insensitive collation or citext calls 'a' and 'A' equal.
_EQUAL_AS_IN_PYTHON = {
    psycopg.adapters.types[name].oid
    for name in ("int2", "int4", "int8", "numeric", "float4", "float8", "bool", *_PARSED_TYPES)
}


def _same(a: Any, b: Any) -> bool:
    # NaN equals nothing in Python; PostgreSQL sorts its NaNs together as one value.
    return a == b or (a != a and b != b)  # noqa: PLR0124


class _RowsByNumber:
    """A forward-only cursor read by 1-based row number (ascending): MOVE over the rows
    between, and the rows fetched ahead kept until a later number passes them."""

    def __init__(self, cur: psycopg.ServerCursor) -> None:
        self.cur = cur
        self.rows: list[tuple] = []  # fetched, not yet passed: rows[0] is row number `base`
        self.base = 1

    def at(self, number: int) -> tuple | None:
        """The row numbered `number` (not below the last asked), None past the end."""
        if number - self.base < len(self.rows):
            del self.rows[: number - self.base]
        else:
            skip = number - self.base - len(self.rows)
            if skip:
                self.cur.scroll(skip)
            self.rows = self.cur.fetchmany(1)
        self.base = number
        return self.rows[0] if self.rows else None

    def next_value(self, number: int) -> tuple[tuple, int] | None:
        """The first row after `number` whose value differs from that row's, with its number;
        None when that value runs to the end."""
        value = self.at(number)[0]
        n = number + 1
        while True:
            if n - self.base >= len(self.rows):
                del self.rows[: n - self.base]
                self.base = n
                self.rows += self.cur.fetchmany(_TIES_FETCH)
                if not self.rows:
                    return None
            row = self.rows[n - self.base]
            if not _same(row[0], value):
                return row, n
            n += 1


def _value_starts(
    cur: psycopg.ServerCursor, starts: list[int], unique: bool
) -> Iterator[tuple[tuple, int]]:
    """For each of the ascending 1-based `starts`, the first row at or after it that begins a
    value of the cursor's one ordered column, with its number (on a unique order, the row at
    the start), once: starts that lead to the same row give one."""
    rows, last = _RowsByNumber(cur), 0
    for start in starts:
        if start <= last:
            continue  # the value that begins at `last` runs past this start
        if unique or start == 1:
            found = (rows.at(start), start)
        else:
            before, row = rows.at(start - 1), rows.at(start)
            if before is None or row is None:
                return  # fewer rows than counted
            found = (row, start) if not _same(before[0], row[0]) else rows.next_value(start)
        if found is None or found[0] is None:
            return  # past the end, or the last value runs to it: the slice before takes it
        yield found
        last = found[1]


log = logging.getLogger(__name__)
_cursor_ids = itertools.count(1)

# Built-in roles whose rights a SELECT can use through functions, which a read-only transaction
# does not stop (pg_read_file, pg_terminate_backend, ...); what each allows, in plain words.
_POWER_ROLES = {
    "pg_execute_server_program": "run programs on the database server",
    "pg_read_server_files": "read files on the database server",
    "pg_signal_backend": "cancel or end other sessions",
    "pg_write_all_data": "write to every table",
    "pg_write_server_files": "write files on the database server",
}

# One round trip: who the user is and what it may do beyond reading. Tables and schemas are
# listed up to four each (the warning names three and says "and more").
_PRIVILEGES_SQL = r"""
SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, current_database(),
    has_database_privilege(current_database(), 'CREATE'),
    ARRAY(SELECT b.rolname::text FROM pg_roles AS b
          WHERE b.rolname = ANY($1) AND pg_has_role(current_user, b.oid, 'MEMBER')
          ORDER BY 1),
    ARRAY(SELECT format('%I', n.nspname) FROM pg_namespace AS n
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg\_%' AND has_schema_privilege(n.oid, 'CREATE')
          ORDER BY 1 LIMIT 4),
    ARRAY(SELECT format('%I.%I', n.nspname, c.relname)
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'f')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg\_%' AND has_schema_privilege(n.oid, 'USAGE')
            AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
          ORDER BY 1 LIMIT 4)
FROM pg_roles AS r WHERE r.rolname = current_user
"""


# The columns of a table's primary key, in the key's order (none for a view or a table
# without one). `to_regclass` resolves the quoted name as the FROM clause would.
_PRIMARY_KEY_SQL = """
SELECT a.attname FROM pg_index AS i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = to_regclass($1) AND i.indisprimary
ORDER BY k.position
"""

# A valid, whole-table btree index whose first column is $2: what lets a range of it be read
# without a scan of the table. A view is taken as a query source is (the range is pushed into
# it where its tables allow).
_LEADING_INDEX_SQL = """
SELECT EXISTS (SELECT FROM pg_class WHERE oid = to_regclass($1) AND relkind = 'v') OR EXISTS (
    SELECT FROM pg_index AS i
    JOIN pg_class AS ic ON ic.oid = i.indexrelid
    JOIN pg_am AS am ON am.oid = ic.relam AND am.amname = 'btree'
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND i.indpred IS NULL
      AND a.attname = $2
)
"""


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (" and more" if len(names) > 3 else "")


# Chunked-rows streaming needs libpq 17 (psycopg-binary bundles 17+; a system libpq may be older).
_CHUNKED_ROWS = psycopg.pq.version() >= 170000


def _take(rows: Iterator[tuple], size: int) -> list[tuple]:
    return list(itertools.islice(rows, size))


class PostgresConnector(Connector):
    partner = "postgresql"
    label = "PostgreSQL"
    required_settings = ("host", "database", "user")
    driver_error = psycopg.Error
    error_kinds = (
        (pgerrors.UndefinedTable, "not_found", None),
        (pgerrors.InsufficientPrivilege, "permission", None),
        (
            pgerrors.QueryCanceled,
            "query",
            "The query was cancelled because it ran longer than the statement timeout.",
        ),
        (
            pgerrors.ReadOnlySqlTransaction,
            "query",
            "Imports may only read: the statement tried to write.",
        ),
        ((pgerrors.InvalidAuthorizationSpecification, pgerrors.InvalidPassword), "auth", None),
        # Classes 54 and 55 (chr(0), a value over 1 GB, an object in use) are the query's fault,
        # but psycopg files them under OperationalError with the lost connections below.
        ((pgerrors.ProgramLimitExceeded, pgerrors.ObjectNotInPrerequisiteState), "query", None),
        (
            (psycopg.OperationalError, psycopg.InterfaceError),
            "network",
            "The connection to the warehouse was lost.",
        ),
    )
    dialect = Dialect("postgresql", dollar_quotes=True, fold="lower", max_parts=3)
    # Raw cursors (below) bind PostgreSQL's own $1 server-side and never read the query text,
    # so a user's %, %s or %(name)s reaches the server as written.
    param = "$1"
    slices_supported = True

    def __init__(self, settings: dict[str, Any], secret: dict[str, Any] | None = None):
        super().__init__(settings, secret)
        self._conn: psycopg.Connection | None = None
        # Each stream reads on a connection of its own, so the connector's other calls (a
        # count, a preview) neither wait behind a stream nor end its transaction.
        self._stream_conns: set[psycopg.Connection] = set()
        sslmode = self.settings.get("sslmode") or "prefer"
        if sslmode not in _SSLMODES:
            raise ConnectorError(
                "config", f"sslmode must be one of: {', '.join(sorted(_SSLMODES))}."
            )
        try:
            self._port = int(self.settings.get("port") or 5432)
        except (TypeError, ValueError):
            raise ConnectorError("config", "The port must be a number.") from None
        self._sslmode = sslmode

    # Connection ---------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._open()
        return self._conn

    def _open(self) -> psycopg.Connection:
        timeout_ms = int(self.settings.get("statement_timeout_ms") or 15 * 60 * 1000)
        try:
            conn = psycopg.connect(
                host=self.settings["host"],
                port=self._port,
                dbname=self.settings["database"],
                user=self.settings["user"],
                password=self.secret.get("password") or None,
                sslmode=self._sslmode,
                connect_timeout=int(self.settings.get("connect_timeout") or 10),
                application_name="import-center",
                # DateStyle ISO: dates arrive as the text fromisoformat reads, whatever the
                # server's default (it sets the output format only, not the input order).
                options=f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on "
                "-c DateStyle=ISO",
                # psycopg's default cursors take % in the query text for a placeholder (even
                # with no parameters to bind); the user's SQL is not a psycopg template.
                cursor_factory=psycopg.RawCursor,
            )
        except psycopg.Error as exc:
            raise self._map_connect_error(exc) from None
        # Read-only twice over: the session default above and the transaction flag here.
        conn.read_only = True
        conn.server_cursor_factory = psycopg.RawServerCursor
        for name in (*_TEXT_TYPES, *_PARSED_TYPES):
            conn.adapters.register_loader(name, TextLoader)
        return conn

    def _release(self) -> None:
        for conn in list(self._stream_conns):
            conn.close()
        self._stream_conns.clear()
        super()._release()

    def cancel(self) -> bool:
        """Cancel the count's and the streams' statements through libpq's cancel request (a
        separate connection to the server, safe from another thread): a statement waiting on
        a lock in the warehouse ends with QueryCanceled instead of waiting forever."""
        for conn in [self._conn, *list(self._stream_conns)]:
            if conn is not None and not conn.closed:
                try:
                    conn.cancel_safe(timeout=10)
                except (psycopg.Error, OSError) as exc:
                    log.warning("could not cancel a warehouse statement: %s", exc)
        return True

    def _map_connect_error(self, exc: psycopg.Error) -> ConnectorError:
        text = str(exc).lower()
        if (
            "password" in text
            or "authentication" in text
            or "role" in text
            and "does not exist" in text
        ):
            return self.error("auth", exc=exc)
        if "database" in text and "does not exist" in text:
            return self.error(
                "not_found",
                f'The database "{self.settings["database"]}" does not exist on this server.',
                exc,
            )
        if "permission denied" in text or "not permitted" in text:
            return self.error(
                "permission", "The user is not allowed to connect to this database.", exc
            )
        if "ssl" in text:
            return self.error(
                "network", "The SSL connection failed. Check the sslmode setting.", exc
            )
        return self.error("network", exc=exc)

    def _run(self, sql: str, params: list | tuple = ()) -> psycopg.Cursor:
        conn = self._connect()
        try:
            return conn.execute(sql, params)
        except psycopg.Error as exc:
            self._reset()
            raise self._map_error(exc) from None

    def _reset(self) -> None:
        # After an error the transaction is aborted; start clean for the next call.
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.rollback()
            except psycopg.Error:
                self.close()

    # Interface ------------------------------------------------------------------------------
    def test_connection(self) -> None:
        self._run("SELECT 1").fetchall()
        self._reset()

    def privilege_warnings(self) -> list[str]:
        try:
            row = self._run(_PRIVILEGES_SQL, (list(_POWER_ROLES),)).fetchone()
        except ConnectorError:
            # A server without these catalogs (a Redshift-style one): the connection works, so
            # say only what is true.
            return ["Import Center could not check whether this user can do more than read."]
        self._reset()
        if row is None:  # the user's role is not visible in pg_roles: nothing to say
            return []
        superuser, create_db, create_role, database, db_create, powers, schemas, tables = row
        warnings = []
        if superuser:
            warnings.append(
                "This user is a PostgreSQL superuser: an import's query could read files on the "
                "database server, run programs there or end other sessions, because the "
                "read-only transaction Import Center uses does not stop functions."
            )
        else:
            if powers:
                rights = "; ".join(f"{name} ({_POWER_ROLES[name]})" for name in powers)
                warnings.append(
                    f"This user is a member of {rights}: an import's query could use these "
                    "rights, because the read-only transaction does not stop functions."
                )
            can = []
            if tables:
                can.append(f"write to {_some(tables)}")
            if db_create:
                can.append(f"create schemas in database {database}")
            if schemas:
                can.append(f"create tables in schema {_some(schemas)}")
            if create_db:
                can.append("create databases")
            if create_role:
                can.append("create roles")
            if can:
                warnings.append(f"This user can do more than read: it can {'; '.join(can)}.")
        if warnings:
            warnings.append(self._reader_advice(database))
        return warnings

    def _reader_advice(self, database: str) -> str:
        db = quote_ident(database, True, self.dialect)
        advice = (
            "Imports only need to read: connect as a read-only role instead. As a superuser, "
            "run: CREATE ROLE importcenter_reader LOGIN PASSWORD '…'; "
            f"GRANT CONNECT ON DATABASE {db} TO importcenter_reader; "
            "GRANT USAGE ON SCHEMA public TO importcenter_reader; "
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO importcenter_reader; "
            "Repeat the last two for each schema the imports read, and grant SELECT on tables "
            "added later."
        )
        if self._connect().info.server_version < 150000:
            # Before PostgreSQL 15 every role may create tables in schema public.
            advice += (
                " On this PostgreSQL version, also run: REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
            )
        return advice

    def _describe(self, cur: psycopg.Cursor) -> list[Column]:
        types = self._connect().adapters.types
        cols = []
        for d in cur.description or ():
            info = types.get(d.type_code)
            cols.append(Column(d.name, info.name if info else str(d.type_code)))
        return cols

    def columns(self, source: str) -> list[Column]:
        cur = self._run(self.select_sql(source) + " LIMIT 0")
        cols = self._describe(cur)
        self._reset()
        return cols

    def preview(self, source: str, limit: int = 20) -> tuple[list[Column], list[dict[str, Any]]]:
        cur = self._run(self.select_sql(source, limit=max(0, int(limit))))
        cols = self._describe(cur)
        rows = _builder(cur)(cur.fetchall())
        self._reset()
        return cols, rows

    def primary_key(self, source: str) -> list[str]:
        parsed = parse_source(source, self.dialect)
        if not isinstance(parsed, TableRef):
            return []
        rows = self._run(_PRIMARY_KEY_SQL, [self.table_sql(parsed)]).fetchall()
        self._reset()
        return [name for (name,) in rows]

    def seeks_on(self, source: str, column: str) -> bool:
        parsed = parse_source(source, self.dialect)
        if not isinstance(parsed, TableRef):
            return True
        (found,) = self._run(_LEADING_INDEX_SQL, [self.table_sql(parsed), column]).fetchone()
        self._reset()
        return bool(found)

    def slice_bounds(
        self,
        source: str,
        order: SliceOrder,
        starts: Sequence[int],
        incremental_column: str | None = None,
        since: Any = None,
    ) -> list[tuple[Any, int]]:
        """The bounds through a cursor over the ordered cut column, stepped by MOVE: the server
        skips the rows between the starts without numbering or filtering them. A 1M-row
        table's plan took 1.2 s with the window functions (the run waits for it, its workers
        idle; at that rate 100M rows take two minutes), 0.63 s once vacuumed, and 0.06 s this
        way.

        A start inside a run of equal values moves on to the first row of the next value (the
        base moves back to its first row; either way rows of one value are never split), and
        a start already walked past merges into the slice before it. Ties are told apart in
        Python, so a column of a type that PostgreSQL may compare otherwise (text under a
        case-insensitive collation) is planned by the base's statement. The cursor's one
        snapshot gives every bound from one state of the source."""
        where, params = self._slice_filter(source, incremental_column, since)
        key = self.source_column(order.column)
        sql = (
            f"SELECT {key} AS ic_key FROM {self.relation(source)} "  # noqa: S608 (names quoted)
            f"WHERE {' AND '.join([*where, f'{key} IS NOT NULL'])} ORDER BY {key}"
        )
        conn = self._connect()
        bounds = None
        try:
            with conn.cursor(name=f"ic_bounds_{next(_cursor_ids)}") as cur:
                cur.execute(sql, params)
                if order.unique or cur.description[0].type_code in _EQUAL_AS_IN_PYTHON:
                    build = _builder(cur)
                    bounds = [
                        (build([row])[0]["ic_key"], first)
                        for row, first in _value_starts(cur, sorted(set(starts)), order.unique)
                    ]
        except psycopg.Error as exc:
            raise self._map_error(exc) from None
        finally:
            self._reset()  # ends the cursor's transaction, however the plan ended
        if bounds is None:  # ties of a type PostgreSQL may call equal where Python does not
            return super().slice_bounds(source, order, starts, incremental_column, since)
        return bounds

    def row_text(self) -> str:
        return 'CAST(ic_source AS text) COLLATE "C"'

    def _count(self, sql: str, params: list) -> int:
        (n,) = self._run(sql, params).fetchone()
        self._reset()
        return int(n)

    def _stream(self, sql: str, params: list, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        # Chunked rows overlap the server's work with ours by themselves (a read-ahead thread
        # only added GIL hand-offs: 1.10 -> 1.02x the raw driver). A named cursor's FETCH loop
        # runs one batch ahead on its own thread, so that its round trips and the server's
        # work overlap the dict building here and whatever the caller does.
        fetch = self._fetch(sql, params, batch_size)
        with contextlib.closing(fetch) if _CHUNKED_ROWS else self.read_ahead(fetch) as batches:
            for build, rows in batches:
                yield build(rows)

    def _fetch(
        self, sql: str, params: list, batch_size: int
    ) -> Generator[tuple[Callable[[list[tuple]], list[dict[str, Any]]], list[tuple]], None, None]:
        """The stream's driver half (on the read-ahead thread when it is a named cursor), from
        the query's start to its end: each batch of row tuples with the function that makes them
        dicts."""
        conn = self._open()
        self._stream_conns.add(conn)
        rows_iter: Iterator[tuple] | None = None
        try:
            if _CHUNKED_ROWS:
                # libpq 17's chunked-rows mode: the server sends the result without waiting to
                # be asked, so it produces the next rows while these are parsed (a named
                # cursor's FETCH round trips leave it idle meanwhile: ~1.1M vs ~1.7M rows/s
                # here). Memory stays flat: libpq holds one chunk, and the socket's buffers pace
                # the server.
                cur = conn.cursor()
                # The stream is one statement that lasts as long as the import reads: a
                # statement timeout would end long imports. (The run's heartbeat and Stop bound
                # it instead.)
                cur.execute("SET LOCAL statement_timeout = 0")
                rows_iter = cur.stream(sql, params, size=batch_size)
                next_batch = functools.partial(_take, rows_iter, batch_size)
            else:
                cur = conn.cursor(name=f"ic_stream_{next(_cursor_ids)}")
                cur.itersize = batch_size
                cur.execute(sql, params)
                next_batch = functools.partial(cur.fetchmany, batch_size)
            rows = next_batch()
            build = _builder(cur)
            while rows:
                yield build, rows
                rows = next_batch()
        except psycopg.Error as exc:
            raise self._map_error(exc) from None
        finally:
            if rows_iter is not None:
                try:
                    # Ended early: psycopg cancels the query and drains what already arrived.
                    rows_iter.close()
                except psycopg.Error:
                    pass
            # Closing the stream's own connection also closes its cursor and transaction.
            self._stream_conns.discard(conn)
            conn.close()
