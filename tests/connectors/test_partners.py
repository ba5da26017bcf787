"""Partner-specific behaviour: credentials, settings and file sources."""

from __future__ import annotations

import json
import time

import pytest

from connectors import ConnectorError, get_connector

from .servers import ROWS


def test_unknown_partner_is_a_config_error():
    with pytest.raises(ConnectorError) as info:
        get_connector("oracle", {})
    assert info.value.kind == "config"


@pytest.mark.postgres
def test_postgres_unknown_user_is_an_auth_error(postgres_warehouse):
    # The local server trusts every password, so a user it does not know is the rejection
    # it can show; the password must not leak into the message or the log text.
    settings = {**postgres_warehouse.settings, "user": "no_such_loader"}
    with pytest.raises(ConnectorError) as info:
        get_connector("postgresql", settings, {"password": "hunter2-secret"}).test_connection()
    assert info.value.kind == "auth"
    assert "hunter2-secret" not in str(info.value) + (info.value.detail or "")


@pytest.mark.postgres
def test_postgres_closed_port_is_a_network_error(postgres_warehouse):
    settings = {**postgres_warehouse.settings, "port": 1}
    with pytest.raises(ConnectorError) as info:
        get_connector("postgresql", settings, None).test_connection()
    assert info.value.kind == "network"


@pytest.mark.postgres
def test_postgres_stream_may_outlast_the_statement_timeout(pg_streams):
    # An import reads one stream for as long as it runs; the timeout is for single statements.
    settings = {**pg_streams.settings, "statement_timeout_ms": 300}
    with get_connector("postgresql", settings, pg_streams.secret) as c:
        got, started = 0, time.monotonic()
        # ~20 MB: more than the socket buffers hold, so the server is still sending at the end.
        sql = "SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 200000) g"
        for batch in c.iter_batches(sql, batch_size=10_000):
            got += len(batch)
            time.sleep(0.05)
        assert got == 200_000 and time.monotonic() - started > 0.9
        with pytest.raises(ConnectorError) as info:  # a single statement still gets the timeout
            c.count("SELECT pg_sleep(1) AS x")
        assert info.value.kind == "query"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT chr(0) AS nul",  # 54000: psycopg files class 54 under OperationalError
        "SELECT repeat('x', 1073741824) AS huge",  # 54000 too
    ],
)
def test_postgres_limit_errors_are_query_errors_not_a_lost_connection(pg_streams, sql):
    with pg_streams.connect() as c, pytest.raises(ConnectorError) as info:
        list(c.iter_batches(sql))
    assert info.value.kind == "query"
    assert "connection to the warehouse was lost" not in str(info.value)
    assert c.count("users") == ROWS  # the connection is still good


@pytest.mark.postgres
def test_postgres_counts_and_previews_while_a_stream_is_open(pg_streams):
    with pg_streams.connect() as c:
        batches = c.iter_batches("users", batch_size=1_000)
        got = len(next(batches))
        assert c.count("users") == ROWS  # on the main connection: the stream goes on
        assert len(c.preview("users", limit=3)[1]) == 3
        got += sum(len(b) for b in batches)
        assert got == ROWS


def test_snowflake_wrong_password_is_an_auth_error(snowflake_warehouse):
    c = get_connector("snowflake", snowflake_warehouse.settings, {"password": "rotated-pw-123"})
    with pytest.raises(ConnectorError) as info:
        c.test_connection()
    assert info.value.kind == "auth"
    assert "rotated" in str(info.value)  # tells the user what to check
    assert "rotated-pw-123" not in str(info.value) + (info.value.detail or "")


def test_snowflake_unreadable_private_key_is_refused_before_login(snowflake_warehouse):
    c = get_connector("snowflake", snowflake_warehouse.settings, {"private_key": "not a key"})
    with pytest.raises(ConnectorError) as info:
        c.test_connection()
    assert info.value.kind == "config"
    assert "not a key" not in str(info.value)


def test_snowflake_key_pair_login_connects(snowflake_warehouse):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with get_connector("snowflake", snowflake_warehouse.settings, {"private_key": pem}) as c:
        assert c.count("users") > 0


@pytest.mark.parametrize(
    ("secret", "needle"),
    [
        ({"service_account_json": "{not json"}, "not valid JSON"),
        ({"service_account_json": json.dumps({"type": "service_account"})}, "lacks"),
        ({}, "JSON key"),
    ],
)
def test_bigquery_bad_key_is_a_config_error(secret, needle):
    with pytest.raises(ConnectorError) as info:
        get_connector("bigquery", {"project": "p", "dataset": "d"}, secret)
    assert info.value.kind == "config"
    assert needle in str(info.value)


def test_duckdb_missing_file_is_not_found(tmp_path):
    with pytest.raises(ConnectorError) as info:
        get_connector("duckdb", {"path": str(tmp_path / "nope.duckdb")}).test_connection()
    assert info.value.kind == "not_found"


@pytest.mark.parametrize("name", ["u.parquet", "u.csv", "*.parquet"])
def test_duckdb_reads_parquet_and_csv_paths_as_data(duckdb_warehouse, name):
    path = str(duckdb_warehouse.extra["folder"] / name)
    with get_connector("duckdb", {"path": path}) as c:
        assert c.count("data") == 1000
        assert sum(len(b) for b in c.iter_batches("SELECT id FROM data", 300)) == 1000


def test_duckdb_query_cannot_read_other_files(duckdb_warehouse):
    with duckdb_warehouse.connect() as c, pytest.raises(ConnectorError) as info:
        c.preview("SELECT * FROM read_csv('/etc/passwd')")
    assert info.value.kind == "permission"


DECIMAL_TYPES = ["DECIMAL(4,0)", "DECIMAL(4,4)", "DECIMAL(12,2)", "DECIMAL(18,6)", "DECIMAL(38,10)"]


def test_duckdb_decimals_are_the_drivers_own_values(tmp_path):
    # The connector reads DECIMAL columns as text and makes the Decimal itself; value, scale
    # (exponent) and NULLs must match what DuckDB's own conversion gives.
    import duckdb

    path = str(tmp_path / "decimals.duckdb")
    values = ["0", "1", "-1", "0.5", "-0.0001", "9999", "-9999", "0.1234", None]
    with duckdb.connect(path) as db:
        db.execute("CREATE TABLE n (v VARCHAR)")
        db.executemany("INSERT INTO n VALUES (?)", [[v] for v in values])
        # Each value that fits a type, else NULL, so every column sees the full range it can.
        fits = ", ".join(f"TRY_CAST(v AS {t}) AS c{i}" for i, t in enumerate(DECIMAL_TYPES))
        db.execute(f"CREATE TABLE d AS SELECT row_number() OVER () AS id, {fits} FROM n")
        db.execute(
            "INSERT INTO d SELECT 100, 1234, 0.9999, 1234567890.12, -123456789012.123456, "
            "'-1234567890123456789012345678.9012345678'::DECIMAL(38,10)"
        )
        expected = db.execute("SELECT * FROM d ORDER BY id").fetchall()
    with get_connector("duckdb", {"path": path}) as c:
        assert {col.kind for col in c.columns("d")[1:]} <= {"integer", "decimal"}
        streamed = [r for b in c.iter_batches("SELECT * FROM d ORDER BY id", 4) for r in b]
        _, previewed = c.preview("SELECT * FROM d ORDER BY id", limit=100)
        newer = [r for b in c.iter_batches("d", incremental_column="id", since=5) for r in b]
    names = ["id"] + [f"c{i}" for i in range(len(DECIMAL_TYPES))]
    want = [{n: v for n, v in zip(names, row, strict=True)} for row in expected]
    for got in (streamed, previewed):
        assert got == want
        assert [[repr(v) for v in r.values()] for r in got] == [
            [repr(v) for v in r.values()] for r in want
        ]
    assert [[repr(v) for v in r.values()] for r in newer] == [
        [repr(v) for v in r.values()] for r in want if r["id"] > 5
    ]


def test_snowflake_rows_are_keyed_by_the_column_names(snowflake_warehouse):
    sql = 'SELECT id, name AS "Mixed Case", id * 2 AS twice FROM users WHERE id <= 3 ORDER BY id'
    with snowflake_warehouse.connect() as c:
        names = [col.name for col in c.columns(sql)]
        rows = [r for b in c.iter_batches(sql, batch_size=2) for r in b]
        _, previewed = c.preview(sql)
    assert names == ["ID", "Mixed Case", "TWICE"]
    assert (
        rows
        == previewed
        == [{"ID": i, "Mixed Case": f"user_{i}", "TWICE": 2 * i} for i in (1, 2, 3)]
    )
    assert all(list(r) == names for r in rows)


PG = ("postgresql", {"host": "h", "database": "d", "user": "u"})
BQ = ("bigquery", {"project": "p", "dataset": "d", "api_endpoint": "http://x", "emulator": True})


def driver_errors():
    import psycopg
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as authexc
    from psycopg import errors as pgerrors

    return [
        (*PG, pgerrors.UndefinedTable("t"), "not_found", "The table or view was not found."),
        (*PG, pgerrors.QueryCanceled("c"), "query", "The query was cancelled because it ran"),
        (*PG, pgerrors.ReadOnlySqlTransaction("r"), "query", "Imports may only read"),
        (*PG, pgerrors.InvalidPassword("p"), "auth", "The warehouse rejected the credentials."),
        (*PG, psycopg.OperationalError("o"), "network", "The connection to the warehouse was"),
        (*PG, pgerrors.DivisionByZero("z"), "query", "The warehouse could not run the query."),
        (*BQ, authexc.RefreshError("r"), "auth", "Google rejected the service account key."),
        (*BQ, gexc.Forbidden("f"), "permission", "The service account lacks permission."),
        (*BQ, gexc.NotFound("n"), "not_found", "The table or view was not found."),
        (*BQ, requests.ConnectionError("c"), "network", "Could not reach the warehouse."),
        (*BQ, gexc.BadRequest("b"), "query", "The warehouse could not run the query."),
    ]


@pytest.mark.parametrize(("partner", "config", "exc", "kind", "message"), driver_errors())
def test_driver_errors_become_the_kind_the_pages_act_on(partner, config, exc, kind, message):
    error = get_connector(partner, config, {"password": "x"})._map_error(exc)
    assert error.kind == kind and str(error).startswith(message)
    assert error.detail == f"{type(exc).__name__}: {exc}"
