"""Local warehouses for the connector tests, one per partner, each seeded with ``users``.

``users`` has ROWS rows: id 1..ROWS, name ``user_<id>``, d (date: 2024-01-01 + id % 365 days),
ts (timestamp: 2024-01-01 00:00:00 + id seconds), amt (decimal: id / 100), f (float: id * 1.5),
b (boolean: id is even).

* DuckDB: a file in the test tmpdir.
* PostgreSQL: a throwaway database on 127.0.0.1:5432 (marked ``postgres``), dropped afterwards.
* Snowflake and BigQuery: local servers started and seeded by servers.py.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from connectors import get_connector

from . import servers
from .servers import ROWS, SF_PASSWORD

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Warehouse:
    """What the shared contract tests need to know about one partner's local warehouse."""

    partner: str
    settings: dict[str, Any]
    secret: dict[str, Any] | None
    table: str = "users"
    # A SELECT that fails while its result is being produced.
    failing_query: str = ""
    # Whether the failure above surfaces only after some batches (a true mid-stream failure).
    fails_after_first_batch: bool = False
    bad_auth: Callable[[], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def connect(self):
        return get_connector(self.partner, self.settings, self.secret)


# --- DuckDB ----------------------------------------------------------------------------------

DUCKDB_SEED = f"""
CREATE TABLE users AS SELECT
    range::BIGINT AS id,
    'user_' || range AS name,
    DATE '2024-01-01' + (range % 365)::INTEGER AS d,
    TIMESTAMP '2024-01-01' + to_seconds(range) AS ts,
    (range / 100)::DECIMAL(12, 2) AS amt,
    (range * 1.5)::DOUBLE AS f,
    range % 2 = 0 AS b
FROM range(1, {ROWS} + 1)
"""


@pytest.fixture(scope="session")
def duckdb_warehouse(tmp_path_factory) -> Warehouse:
    import duckdb

    folder = tmp_path_factory.mktemp("duckdb")
    path = folder / "warehouse.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(DUCKDB_SEED)
        db.execute("COPY (SELECT * FROM users WHERE id <= 1000) TO ?", [str(folder / "u.parquet")])
        db.execute("COPY (SELECT * FROM users WHERE id <= 1000) TO ?", [str(folder / "u.csv")])
    return Warehouse(
        "duckdb",
        {"path": str(path)},
        None,
        # Large enough that DuckDB's result buffer fills before the failing rows are reached.
        failing_query=(
            "SELECT CASE WHEN range > 3000000 THEN error('boom') ELSE range END AS x "
            "FROM range(4000000)"
        ),
        fails_after_first_batch=True,
        extra={"folder": folder},
    )


# --- PostgreSQL ------------------------------------------------------------------------------

PG_SEED = f"""
CREATE TABLE users AS SELECT
    g::bigint AS id,
    'user_' || g AS name,
    (DATE '2024-01-01' + (g % 365))::date AS d,
    TIMESTAMP '2024-01-01' + g * INTERVAL '1 second' AS ts,
    (g / 100.0)::numeric(12, 2) AS amt,
    (g * 1.5)::double precision AS f,
    g % 2 = 0 AS b
FROM generate_series(1, {ROWS}) AS g
"""


@pytest.fixture(scope="session")
def postgres_warehouse() -> Iterator[Warehouse]:
    import psycopg

    name = f"ic_connectors_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(PG_URL, dbname=name, autocommit=True) as conn:
            conn.execute(PG_SEED)
            # As an incremental column should be (slices read ranges of it; `seeks_on`).
            conn.execute("CREATE INDEX users_d ON users (d)")
            conn.execute("ANALYZE users")
        info = psycopg.conninfo.conninfo_to_dict(PG_URL)
        settings = {
            "host": info.get("host", "127.0.0.1"),
            "port": int(info.get("port", 5432)),
            "database": name,
            "user": info.get("user", "postgres"),
            "sslmode": "disable",
        }
        yield Warehouse(
            "postgresql",
            settings,
            {"password": info.get("password") or "unused-with-trust-auth"},
            failing_query="SELECT id, 1 / (id - 50000) AS x FROM users",
            fails_after_first_batch=True,
        )
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_cursor_warehouse(postgres_warehouse, monkeypatch) -> Warehouse:
    """The PostgreSQL warehouse streamed through a named cursor, as with a libpq older than 17
    (this machine's libpq has chunked rows, so that path would otherwise go untested)."""
    from connectors import postgresql

    monkeypatch.setattr(postgresql, "_CHUNKED_ROWS", False)
    return postgres_warehouse


@pytest.fixture(params=[True, False], ids=["chunked-rows", "named-cursor"])
def pg_streams(request, postgres_warehouse, monkeypatch) -> Warehouse:
    """The PostgreSQL warehouse, once per way of streaming (libpq 17's chunked rows, and the
    named cursor on a read-ahead thread that an older libpq gets)."""
    from connectors import postgresql

    monkeypatch.setattr(postgresql, "_CHUNKED_ROWS", request.param)
    return postgres_warehouse


# --- Snowflake (fakesnow) --------------------------------------------------------------------


@pytest.fixture(scope="session")
def snowflake_server(tmp_path_factory) -> Iterator[dict[str, Any]]:
    with servers.snowflake_server(tmp_path_factory.mktemp("fakesnow")) as server:
        yield server


@pytest.fixture(scope="session")
def snowflake_warehouse(snowflake_server) -> Warehouse:
    return Warehouse(
        "snowflake",
        servers.seed_snowflake(snowflake_server, ROWS),
        {"password": SF_PASSWORD},
        failing_query=(
            "SELECT CASE WHEN id > 50000 THEN 'x' ELSE id::varchar END::int AS x FROM users"
        ),
        fails_after_first_batch=False,
    )


# --- BigQuery (bqemulator) -------------------------------------------------------------------


@pytest.fixture(scope="session")
def bigquery_server(tmp_path_factory) -> Iterator[str]:
    with servers.bigquery_server(tmp_path_factory.mktemp("bqemu-home")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def bigquery_warehouse(bigquery_server) -> Warehouse:
    return Warehouse(
        "bigquery",
        servers.seed_bigquery(bigquery_server, ROWS),
        None,
        failing_query=(
            "SELECT CAST(IF(id > 50000, 'x', CAST(id AS STRING)) AS INT64) AS x FROM users"
        ),
        fails_after_first_batch=False,
    )


WAREHOUSES = {
    "duckdb": ("duckdb_warehouse", ()),
    "postgresql": ("postgres_warehouse", (pytest.mark.postgres,)),
    "postgresql-cursor": ("postgres_cursor_warehouse", (pytest.mark.postgres,)),
    "snowflake": ("snowflake_warehouse", ()),
    "bigquery": ("bigquery_warehouse", (pytest.mark.slow,)),
}


@pytest.fixture(params=[pytest.param(name, marks=marks) for name, (_, marks) in WAREHOUSES.items()])
def warehouse(request) -> Warehouse:
    """Each partner's seeded warehouse in turn (the contract tests run against all four, and
    PostgreSQL's both ways of streaming)."""
    return request.getfixturevalue(WAREHOUSES[request.param][0])
