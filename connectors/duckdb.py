"""DuckDB: a local ``.duckdb`` file, or Parquet/CSV files by path or glob. The demo's warehouse.

Settings: ``path``. A ``.duckdb``/``.db`` file is opened read-only and its tables are the
sources. A Parquet or CSV path or glob (``/data/events/*.parquet``) is exposed as one view
named ``data``: the source is then ``data`` or a SELECT over it. Only the file name may hold a
wildcard, so a datasource is always one file or files of one folder.

File access is exactly the datasource's own files: a ``.duckdb`` file is opened with external
access off from the start; a glob is expanded when the connection opens and DuckDB may read
exactly the files it matched (``allowed_paths``), never their folder, so
``read_text('<folder>/../secret.txt')`` is refused. The configuration is then locked, so an
import's SQL cannot widen it (``SET``, ``ATTACH``, ``COPY``, ``INSTALL``/``LOAD``, readers).

Two more settings, given by the application rather than typed by users, bound where the files
may be: ``allowed_roots`` (folders the files must lie under, after symlinks and ``..`` are
resolved; absent means anywhere) and ``forbidden_roots`` (folders and files never opened, such
as the application's own secrets). ``check_path`` applies the same rule before a path is saved.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from connectors.base import (
    Column,
    Connector,
    ConnectorError,
    Dialect,
    TableRef,
    parse_source,
    parsing_row_builder,
)

FILE_VIEW = "data"
_WILDCARDS = frozenset("*?[]{}")
_READERS = {".parquet": "read_parquet", ".csv": "read_csv", ".tsv": "read_csv"}
# Results the run engine does not take as Python objects are cast to text in the query.
_TEXT_TYPES = {"UUID", "TIME", "TIME WITH TIME ZONE", "INTERVAL", "BLOB", "BIT", "JSON"}
_TEXT_PREFIXES = ("STRUCT", "MAP", "UNION")


def _literal(text: str) -> str:
    """A DuckDB string literal (standard SQL: quotes doubled, no backslash escapes)."""
    if "\x00" in text:
        raise ConnectorError("config", "The path contains a NUL character.")
    return "'" + text.replace("'", "''") + "'"


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _real(path: str) -> str:
    """``path`` made absolute, with ``~``, ``..`` and every symlink resolved."""
    return os.path.realpath(os.path.expanduser(path))


def _check_place(
    real: str, shown: str, allowed_roots: Sequence[str] | None, forbidden_roots: Sequence[str]
) -> None:
    """Refuse a resolved path outside the allowed roots or inside a forbidden one."""
    if any(_under(real, _real(f)) for f in forbidden_roots):
        raise ConnectorError("config", f"{shown} is in a folder that datasources may not read.")
    if allowed_roots is not None and not any(_under(real, _real(r)) for r in allowed_roots):
        roots = ", ".join(allowed_roots) or "(none)"
        raise ConnectorError(
            "config",
            f"{shown} is outside the folders DuckDB datasources may read: {roots}. "
            "Move the files there, or ask the administrator to add their folder to "
            "DUCKDB_ALLOWED_ROOTS.",
        )


def check_path(
    path: str, allowed_roots: Sequence[str] | None = None, forbidden_roots: Sequence[str] = ()
) -> None:
    """Refuse a datasource path that could reach files other than its own, before anything is
    opened: a wildcard above the file name, or a place outside ``allowed_roots`` or inside
    ``forbidden_roots`` (after symlinks and ``..`` are resolved). Raises ConnectorError."""
    if "\x00" in path:
        raise ConnectorError("config", "The path contains a NUL character.")
    folder, name = os.path.split(os.path.expanduser(path))
    if _WILDCARDS & set(folder):
        raise ConnectorError(
            "config",
            f"Only the file name may contain a wildcard: {path} has one in a folder name. "
            "Give the folder itself, e.g. /data/exports/*.csv.",
        )
    wild = bool(_WILDCARDS & set(name))
    if wild and _reader(path) is None:
        raise ConnectorError(
            "config", "A wildcard selects Parquet or CSV files; a DuckDB file is one path."
        )
    # A wildcard name is checked by its folder now, and each file it matches when opened.
    _check_place(_real(folder if wild else path), path, allowed_roots, forbidden_roots)


def _reader(path: str) -> str | None:
    lower = path.lower()
    for ext, fn in _READERS.items():
        if lower.endswith(ext) or lower.endswith(ext + ".gz"):
            return fn
    return None


def _list_literal(items: list[str]) -> str:
    return "[" + ", ".join(_literal(item) for item in items) + "]"


# Extensions are never installed or loaded on the fly: each one is code that reaches files.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class DuckDBConnector(Connector):
    partner = "duckdb"
    label = "DuckDB"
    driver_error = duckdb.Error
    error_kinds = (
        (
            duckdb.PermissionException,
            "permission",
            "The query tried to reach files outside the datasource.",
        ),
    )
    dialect = Dialect("duckdb", dollar_quotes=True, max_parts=3)
    param = "?"
    slices_supported = True

    def __init__(self, settings: dict[str, Any], secret: dict[str, Any] | None = None):
        super().__init__(settings, secret)
        path = self.settings.get("path")
        if not path or not isinstance(path, str):
            raise ConnectorError("config", "Set the path of a DuckDB file or Parquet/CSV files.")
        self.path = os.path.expanduser(path)
        roots = self.settings.get("allowed_roots")
        self.allowed_roots: list[str] | None = None if roots is None else list(roots)
        self.forbidden_roots: list[str] = list(self.settings.get("forbidden_roots") or ())
        self._conn: duckdb.DuckDBPyConnection | None = None

    def _files(self) -> list[str]:
        """The files the glob matches now, resolved, each checked against the roots."""
        files = []
        for match in sorted(glob.glob(self.path)):
            real = _real(match)
            _check_place(real, match, self.allowed_roots, self.forbidden_roots)
            if os.path.isfile(real):
                files.append(real)
        if not files:
            raise self.error("not_found", f"No file matches {self.path}.")
        return files

    def _open_files(self, reader: str) -> duckdb.DuckDBPyConnection:
        """An in-memory database with the matched files as the view ``data``, locked."""
        files = _list_literal(self._files())
        conn = duckdb.connect(config=_CONFIG)
        try:
            # DDL and SET take no bound parameters, so the paths go in as string literals.
            # Exactly these files, not their folder: DuckDB refuses any other path, ``..``
            # included, once external access is off.
            conn.execute(f"SET allowed_paths = {files}")
            conn.execute(f"CREATE VIEW {FILE_VIEW} AS SELECT * FROM {reader}({files})")  # noqa: S608
            conn.execute(f"SELECT * FROM {FILE_VIEW} LIMIT 0")  # noqa: S608 - fixed name
            conn.execute("SET enable_external_access = false")
            conn.execute("SET lock_configuration = true")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._conn is not None:
            return self._conn
        reader = _reader(self.path)
        try:
            # Checked on every open: the roots may have changed since the path was saved.
            check_path(self.path, self.allowed_roots, self.forbidden_roots)
            if reader is None:
                real = _real(self.path)
                if not os.path.isfile(real):
                    raise self.error("not_found", f"The DuckDB file {self.path} does not exist.")
                # Locked from the start: DuckDB reads its own file and nothing else.
                conn = duckdb.connect(
                    real,
                    read_only=True,
                    config={
                        **_CONFIG,
                        "enable_external_access": False,
                        "lock_configuration": True,
                    },
                )
            else:
                conn = self._open_files(reader)
        except ConnectorError:
            raise
        except duckdb.IOException as exc:
            raise self.error(
                "config", f"{self.path} is not a readable DuckDB, Parquet or CSV file.", exc
            ) from None
        except duckdb.Error as exc:
            raise self.error("config", f"Could not open {self.path}.", exc) from None
        self._conn = conn
        return conn

    def _map_error(self, exc: BaseException) -> ConnectorError:
        text = str(exc)
        if isinstance(exc, duckdb.CatalogException) and (
            "Table with name" in text or "does not exist" in text
        ):
            return self.error("not_found", exc=exc)
        return super()._map_error(exc)

    def _execute(self, sql: str, params: list | None = None) -> duckdb.DuckDBPyConnection:
        conn = self._connect()
        try:
            # A cursor per statement, so that a stream and a count do not share a result.
            return conn.cursor().execute(sql, params or [])
        except duckdb.Error as exc:
            raise self._map_error(exc) from None

    @staticmethod
    def _describe(cur: duckdb.DuckDBPyConnection) -> list[Column]:
        return [Column(d[0], str(d[1])) for d in cur.description or ()]

    def _typed(
        self, sql: str, params: list | None = None
    ) -> tuple[str, Callable[[list[tuple]], list[dict[str, Any]]]]:
        """``sql`` with some columns cast to VARCHAR, and the function turning its row tuples
        into dicts that turns the cast columns back where the run engine wants objects.

        Exotic columns stay text. DECIMAL columns travel as text and become ``Decimal`` here:
        DuckDB's own DECIMAL to Python conversion costs about 1.4 us a value, several times the
        text cast plus ``Decimal(text)``, and gives the same value, exponent included (the text
        has exactly the column's scale). DATE and TIMESTAMP columns travel as text too: DuckDB
        hands an infinite one to Python as date.max / datetime.min, a valid date the record
        would keep; from text they become dates again, or stay text (infinity, BC, past 9999)
        and fail their record (see ``parsing_row_builder``).
        """
        described = self._execute(f"SELECT * FROM ({sql}) AS ic_described LIMIT 0", params)  # noqa: S608
        cols = self._describe(described)
        parse: dict[int, Callable[[str], Any]] = {}
        convert: dict[int, Callable[[str], Any]] = {}
        casts: dict[int, str] = {}
        for i, c in enumerate(cols):
            kind = c.type.upper()
            if kind.startswith("DECIMAL"):
                convert[i] = Decimal
            elif kind == "DATE":
                parse[i] = date.fromisoformat
            elif kind.startswith("TIMESTAMP"):
                parse[i] = datetime.fromisoformat
            elif not (
                kind in _TEXT_TYPES or kind.startswith(_TEXT_PREFIXES) or kind.endswith("]")
            ):  # lists and arrays end in ]
                continue
            casts[i] = "CAST({} AS VARCHAR)"
        build = parsing_row_builder([c.name for c in cols], parse, convert)
        return self.cast_columns(sql, cols, casts), build

    # Interface ------------------------------------------------------------------------------
    def test_connection(self) -> None:
        self._execute("SELECT 1").fetchall()

    def columns(self, source: str) -> list[Column]:
        return self._describe(self._execute(self.select_sql(source) + " LIMIT 0"))

    def preview(self, source: str, limit: int = 20) -> tuple[list[Column], list[dict[str, Any]]]:
        sql, build = self._typed(self.select_sql(source, limit=max(0, int(limit))))
        cur = self._execute(sql)
        try:
            rows = cur.fetchall()
        except duckdb.Error as exc:
            raise self._map_error(exc) from None
        return self.columns(source), build(rows)

    def primary_key(self, source: str) -> list[str]:
        parsed = parse_source(source, self.dialect)
        if not isinstance(parsed, TableRef):
            return []
        # DuckDB matches names without regard to case; a name that could mean two tables
        # gets no key (the run then reads the source whole).
        names = [name for name, _ in parsed.parts]
        fields = ["database_name", "schema_name", "table_name"][-len(names) :]
        where = " AND ".join(f"lower({f}) = lower(?)" for f in fields)
        keys = self._execute(
            "SELECT constraint_column_names FROM duckdb_constraints() "  # noqa: S608 - fixed names
            f"WHERE constraint_type = 'PRIMARY KEY' AND {where}",
            names,
        ).fetchall()
        return list(keys[0][0]) if len(keys) == 1 else []

    def row_text(self) -> str:
        return "CAST(to_json(ic_source) AS VARCHAR)"

    def _count(self, sql: str, params: list) -> int:
        cur = self._execute(sql, params)
        try:
            return int(cur.fetchone()[0])
        except duckdb.Error as exc:
            raise self._map_error(exc) from None

    def _stream(self, sql: str, params: list, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        sql, build = self._typed(sql, params)
        # DuckDB streams the result: fetchmany pulls the next chunks, not a materialised copy.
        yield from self.fetch_batches(self._execute(sql, params), build, batch_size)
