"""The connector interface, checked against every partner's local warehouse (see conftest)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors import ConnectorError, get_connector

from .conftest import ROWS

COLUMNS = ["id", "name", "d", "ts", "amt", "f", "b"]
KINDS = ["integer", "string", "date", "datetime", "decimal", "float", "boolean"]


def lower(row: dict) -> dict:
    # Snowflake folds unquoted names to upper case; the data is the same.
    return {k.lower(): v for k, v in row.items()}


def check_types(row: dict) -> None:
    row = lower(row)
    assert type(row["id"]) is int
    assert isinstance(row["name"], str) and row["name"] == f"user_{row['id']}"
    assert type(row["d"]) is dt.date
    assert type(row["ts"]) is dt.datetime
    assert isinstance(row["amt"], Decimal) and row["amt"] == Decimal(row["id"]) / 100
    assert type(row["f"]) is float and row["f"] == row["id"] * 1.5
    assert type(row["b"]) is bool and row["b"] is (row["id"] % 2 == 0)


def test_connection_succeeds(warehouse):
    with warehouse.connect() as c:
        assert c.test_connection() is None


def test_columns_have_names_and_types(warehouse):
    with warehouse.connect() as c:
        cols = c.columns(warehouse.table)
    assert [col.name.lower() for col in cols] == COLUMNS
    assert [col.kind for col in cols] == KINDS
    assert all(col.type for col in cols)


def test_preview_returns_columns_and_typed_rows(warehouse):
    with warehouse.connect() as c:
        cols, rows = c.preview(warehouse.table, limit=5)
    assert [col.name.lower() for col in cols] == COLUMNS
    assert len(rows) == 5
    for row in rows:
        check_types(row)


def test_preview_of_a_select(warehouse):
    with warehouse.connect() as c:
        cols, rows = c.preview("SELECT id, name FROM users WHERE id <= 3 ORDER BY id;")
    assert [col.name.lower() for col in cols] == ["id", "name"]
    assert [lower(r)["id"] for r in rows] == [1, 2, 3]


def test_count_is_the_row_total(warehouse):
    with warehouse.connect() as c:
        assert c.count(warehouse.table) == ROWS
        assert c.count("SELECT * FROM users WHERE id <= 1234") == 1234


def test_stream_of_100k_rows_in_batches(warehouse):
    total = id_sum = batches = 0
    with warehouse.connect() as c:
        for batch in c.iter_batches(warehouse.table, batch_size=7_000):
            assert 0 < len(batch) <= 7_000
            check_types(batch[0])
            check_types(batch[-1])
            batches += 1
            total += len(batch)
            id_sum += sum(lower(r)["id"] for r in batch)
    assert total == ROWS
    assert id_sum == ROWS * (ROWS + 1) // 2
    assert batches >= ROWS // 7_000


def test_incremental_run_returns_only_newer_rows(warehouse):
    since = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=ROWS - 10)
    with warehouse.connect() as c:
        assert c.count(warehouse.table, since=since, incremental_column="ts") == 10
        rows = [
            lower(r)
            for b in c.iter_batches(warehouse.table, 4, incremental_column="ts", since=since)
            for r in b
        ]
        assert [r["id"] for r in rows] == list(range(ROWS - 9, ROWS + 1))
        assert all(r["ts"].replace(tzinfo=None) > since for r in rows)
        by_id = c.iter_batches(
            "SELECT id, name FROM users", incremental_column="id", since=ROWS - 3
        )
        assert [lower(r)["id"] for b in by_id for r in b] == [ROWS - 2, ROWS - 1, ROWS]


def test_first_incremental_run_reads_everything(warehouse):
    with warehouse.connect() as c:
        assert c.count(warehouse.table, incremental_column="id") == ROWS


def test_incremental_column_missing_from_select_is_named(warehouse):
    with warehouse.connect() as c, pytest.raises(ConnectorError) as info:
        list(c.iter_batches("SELECT id FROM users", incremental_column="ts", since=1))
    assert info.value.kind == "query"
    assert '"ts"' in str(info.value)


def test_incremental_column_missing_is_named_on_a_first_run_too(warehouse):
    with warehouse.connect() as c:
        for read in (
            lambda: c.count("SELECT id FROM users", incremental_column="ts"),
            lambda: list(c.iter_batches("SELECT id FROM users", incremental_column="ts")),
        ):
            with pytest.raises(ConnectorError) as info:
                read()
            assert info.value.kind == "query"
            assert '"ts"' in str(info.value)


def test_since_without_a_column_or_a_bad_batch_size_is_refused(warehouse):
    with warehouse.connect() as c:
        for read in (
            lambda: c.count(warehouse.table, since=5),
            lambda: list(c.iter_batches(warehouse.table, since=5)),
            lambda: list(c.iter_batches(warehouse.table, batch_size=0)),
        ):
            with pytest.raises(ConnectorError) as info:
                read()
            assert info.value.kind == "config"


@pytest.mark.parametrize(
    ("partner", "message"),
    [
        ("postgresql", "PostgreSQL settings are missing: host, database, user."),
        ("snowflake", "Snowflake settings are missing: account, user."),
        ("bigquery", "BigQuery settings are missing: project, dataset."),
    ],
)
def test_missing_settings_are_named(partner, message):
    with pytest.raises(ConnectorError) as info:
        get_connector(partner, {"user": ""}, {"password": "x"})
    assert (info.value.kind, str(info.value)) == ("config", message)


def test_unknown_table_is_not_found(warehouse):
    with warehouse.connect() as c:
        with pytest.raises(ConnectorError) as info:
            c.columns("no_such_table")
        assert info.value.kind == "not_found"
        assert info.value.detail  # the driver's text, kept for the run log
        assert info.value.from_warehouse
        with pytest.raises(ConnectorError) as info:
            list(c.iter_batches("no_such_table"))
        assert info.value.kind == "not_found"


@pytest.mark.parametrize(
    "source",
    [
        "DELETE FROM users",
        "DROP TABLE users",
        "UPDATE users SET name = 'x'",
        "SELECT 1; DROP TABLE users",
        "WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
        "SELECT * INTO copy_of_users FROM users",
        "SELECT 'unterminated FROM users",
        "users; drop table x",
        'users"; drop table x; --',
        "users' OR '1'='1",
        "users --",
        "",
        "SELECT 'a\x00b' AS x",
    ],
)
def test_unsafe_source_is_refused_before_sending(warehouse, source, monkeypatch):
    with warehouse.connect() as c:

        def sent(*args, **kwargs):
            raise AssertionError("the source reached the warehouse")

        monkeypatch.setattr(c, "_connect", sent)
        for call in (c.columns, c.count, lambda s: list(c.iter_batches(s))):
            with pytest.raises(ConnectorError) as info:
                call(source)
            assert info.value.kind == "query"
            assert str(info.value).startswith("Import Center refused this source before sending")
            assert "table name" in str(info.value)
            assert not info.value.from_warehouse
    with warehouse.connect() as c:
        assert c.count(warehouse.table) == ROWS


def test_query_failing_while_streaming_is_a_query_error(warehouse):
    received = 0
    with warehouse.connect() as c:
        with pytest.raises(ConnectorError) as info:
            for batch in c.iter_batches(warehouse.failing_query, batch_size=5_000):
                received += len(batch)
        assert info.value.kind == "query"
        assert info.value.detail
        if warehouse.fails_after_first_batch:
            assert received > 0
        # The connector stays usable after the failure.
        assert c.count(warehouse.table) == ROWS


def test_close_is_idempotent(warehouse):
    c = warehouse.connect()
    c.test_connection()
    c.close()
    c.close()


# --- the user's SQL reaches the warehouse as written -------------------------------------------

# String literals holding what drivers and client libraries take for placeholders or format
# codes: each must come back as written, whether or not an incremental value is bound beside it.
PLACEHOLDER_LOOKALIKES = {
    "pct": "a%b",
    "fmt": "%s",
    "named": "%(a)s",
    "doubled": "%%",
    "qmark": "?",
    "dollar": "$1",
    "colon": ":name",
    "at": "@since",
    "at_name": "@name",
    "tab": "a\tb",
    "nbsp": "a\u00a0b",
}


def lookalike_query(partner: str) -> str:
    """A SELECT using ``%`` as an operator and in LIKE, with the literals above. BigQuery has no
    ``%`` operator; it gets MOD() and keeps the ``%`` of LIKE."""
    modulo = "MOD(id, 7)" if partner == "bigquery" else "id % 7"
    literals = ",\t".join(f"'{text}' AS {name}" for name, text in PLACEHOLDER_LOOKALIKES.items())
    # name LIKE 'user_1%' with id <= 200: ids 1, 10-19 and 100-199.
    return (
        f"SELECT id, ts, {modulo} AS m, {literals}\n"
        "FROM users\nWHERE name LIKE 'user_1%' AND id <= 200"
    )


LIKE_IDS = [1, *range(10, 20), *range(100, 200)]


def check_lookalike_row(row: dict) -> None:
    row = lower(row)
    assert row["m"] == row["id"] % 7
    for name, text in PLACEHOLDER_LOOKALIKES.items():
        assert row[name] == text, name


def test_sql_with_percent_and_placeholder_lookalikes_runs_as_written(warehouse):
    sql = lookalike_query(warehouse.partner)
    since_ts = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=150)
    with warehouse.connect() as c:
        names = [col.name.lower() for col in c.columns(sql)]
        assert names == ["id", "ts", "m", *PLACEHOLDER_LOOKALIKES]

        _, rows = c.preview(sql, limit=500)
        assert sorted(lower(r)["id"] for r in rows) == LIKE_IDS
        for row in rows:
            check_lookalike_row(row)

        assert c.count(sql) == len(LIKE_IDS)
        assert c.count(sql, incremental_column="ts") == len(LIKE_IDS)
        assert c.count(sql, since=since_ts, incremental_column="ts") == 49  # ids 151-199
        assert c.count(sql, since=150, incremental_column="id") == 49

        streamed = [r for b in c.iter_batches(sql, batch_size=7) for r in b]
        assert sorted(lower(r)["id"] for r in streamed) == LIKE_IDS
        for row in streamed:
            check_lookalike_row(row)

        newer = [
            lower(r)
            for b in c.iter_batches(sql, batch_size=7, incremental_column="ts", since=since_ts)
            for r in b
        ]
        assert [r["id"] for r in newer] == list(range(151, 200))
        for row in newer:
            check_lookalike_row(row)
        by_id = c.iter_batches(sql, batch_size=7, incremental_column="id", since=150)
        assert [lower(r)["id"] for b in by_id for r in b] == list(range(151, 200))
