"""Values a warehouse holds that Python cannot represent, or that a mapping cannot take.

Each must reach validation and fail (or pass) its own record; none may fail the read, so none
may fail the run (issue 15 item 2). Each partner has a table of cases, read through its
connector's iter_batches and then validated by the same tests.

What a local server cannot hold is said where its cases would be, and tested on the value the
real client returns, through the connector's own conversion.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors import snowflake
from connectors.base import Column
from connectors.bigquery import BigQueryConnector
from validation import (
    MESSAGES,
    FieldError,
    FieldMapping,
    MappingSpec,
    validate_batch,
    validate_record,
)

from . import servers


def verdict(value, field_type: str) -> tuple[bool, list[str], object]:
    spec = MappingSpec(
        sync_type="profile",
        identity_column="user_id",
        fields=[FieldMapping(column="v", target="my_field", type=field_type)],
    )
    out = validate_record({"user_id": "u1", "v": value}, spec)
    return out.ok, [e.code for e in out.errors], out.payload.get("my_field")


def event_verdict(value) -> list[str]:
    spec = MappingSpec(
        sync_type="event",
        identity_column="user_id",
        event_name_column="n",
        timestamp_column="t",
        fields=[],
    )
    return [e.code for e in validate_record({"user_id": "u1", "n": "x", "t": value}, spec).errors]


def read_one(warehouse, sql: str):
    with warehouse.connect() as c:
        batches = list(c.iter_batches(sql))
    assert len(batches) == 1 and len(batches[0]) == 1
    (value,) = batches[0][0].values()
    return value


# BigQuery's cases are columns of one seeded table: the emulator keeps a NUMERIC or BIGNUMERIC
# literal exact when it is selected alone, but rounds it inside the subquery the connector wraps
# a SELECT in. Its DATE, DATETIME and TIMESTAMP hold years 1 to 9999 only, like Python's, so no
# out-of-range date can reach the client (the emulator cannot hold one either).
BQ_ODD_VALUES = """
CREATE OR REPLACE TABLE ds.odd_values AS SELECT
    NUMERIC '12345678901234567890123456789.123456789' AS num,
    BIGNUMERIC '1234567890123456789012345678.1234567890' AS bignum,
    CAST('NaN' AS FLOAT64) AS nan,
    CAST('inf' AS FLOAT64) AS inf,
    CAST('-inf' AS FLOAT64) AS ninf,
    INTERVAL 1 DAY AS day,
    MAKE_INTERVAL(1, 2, 3, 4, 5, 6) AS iv,
    [1, 2] AS arr,
    JSON '{"a": 1}' AS j,
    STRUCT(1 AS a, 'x' AS b) AS rec,
    FROM_HEX('00ff') AS bin,
    DATE '0001-01-01' AS first_day,
    DATE '9999-12-31' AS last_day,
    TIMESTAMP '9999-12-31 23:59:59.999999+00' AS last_moment
"""


@pytest.fixture(scope="module")
def bigquery_odd_values(bigquery_warehouse, bigquery_server):
    client = servers.bigquery_client(bigquery_server)
    try:
        client.query(BQ_ODD_VALUES).result()
    finally:
        client.close()
    return bigquery_warehouse


WAREHOUSES = {
    "postgresql": ("postgres_warehouse", [pytest.mark.postgres]),
    "duckdb": ("duckdb_warehouse", []),
    "snowflake": ("snowflake_warehouse", []),
    "bigquery": ("bigquery_odd_values", [pytest.mark.slow]),
}


def on(partner: str, *cases) -> list:
    """Each case (an expression, then what the test expects) as a parameter set on ``partner``:
    its warehouse fixture's name first, and its marks."""
    fixture, marks = WAREHOUSES[partner]
    return [
        pytest.param(fixture, *(case if isinstance(case, tuple) else (case,)), marks=marks)
        for case in cases
    ]


def read_value(request, fixture: str, expr: str):
    """The value ``expr`` (a column of BigQuery's odd_values table) arrives as."""
    source = f"SELECT {expr} AS v" + (
        " FROM odd_values" if fixture == "bigquery_odd_values" else ""
    )
    return read_one(request.getfixturevalue(fixture), source)


OUT_OF_RANGE_DATES = [
    *on(
        "postgresql",
        "'infinity'::date",
        "'-infinity'::date",
        "'4713-01-01 BC'::date",
        "'10000-01-01'::date",
        "'infinity'::timestamp",
        "'-infinity'::timestamp",
        "'0044-03-15 12:00 BC'::timestamp",
        "'10000-01-01 00:00'::timestamp",
        "'infinity'::timestamptz",
        "'-infinity'::timestamptz",
        "'0044-03-15 12:00+00 BC'::timestamptz",
        "'10000-01-01 00:00+00'::timestamptz",
    ),
    *on(
        "duckdb",
        "'infinity'::DATE",
        "'-infinity'::DATE",
        "'4713-01-01 (BC)'::DATE",
        "'infinity'::TIMESTAMP",
        "'-infinity'::TIMESTAMP",
        "'10000-01-01'::TIMESTAMP",
        "'infinity'::TIMESTAMPTZ",
        "'-infinity'::TIMESTAMP_NS",
    ),
    # Snowflake's own connector fails the read on these ("252005: Failed to convert current
    # row"): year 0, years BC, past 9999.
    *on(
        "snowflake",
        "'0000-12-30'::DATE",
        "'-0044-03-15'::DATE",
        "'10000-01-01'::DATE",
        "'10000-01-01 00:00'::TIMESTAMP_NTZ",
        "'0000-01-01 00:00 +00:00'::TIMESTAMP_TZ",
        "'10000-01-01 00:00'::TIMESTAMP_LTZ",
    ),
]


@pytest.mark.parametrize(("fixture", "expr"), OUT_OF_RANGE_DATES)
def test_out_of_range_dates_fail_their_record_as_text(request, fixture, expr):
    value = read_value(request, fixture, expr)
    assert isinstance(value, str)
    assert verdict(value, "Date")[:2] == (False, ["invalid_date"])
    assert event_verdict(value) == ["invalid_timestamp"]
    # Mapped as String the value is kept as the warehouse's text.
    assert verdict(value, "String") == (True, [], value)


UTC = dt.UTC
ORDINARY_DATES = [
    *on(
        "postgresql",
        ("'2024-02-29'::date", dt.date(2024, 2, 29)),
        ("'2024-02-29 10:00:01.5'::timestamp", dt.datetime(2024, 2, 29, 10, 0, 1, 500000)),
        ("'2024-02-29 10:00+05:30'::timestamptz", dt.datetime(2024, 2, 29, 4, 30, tzinfo=UTC)),
    ),
    *on(
        "duckdb",
        ("DATE '2024-02-29'", dt.date(2024, 2, 29)),
        ("DATE '9999-12-31'", dt.date(9999, 12, 31)),
        ("TIMESTAMP '2024-02-29 10:00:01.5'", dt.datetime(2024, 2, 29, 10, 0, 1, 500000)),
        (
            "TIMESTAMP_NS '2024-02-29 10:00:01.123456789'",
            dt.datetime(2024, 2, 29, 10, 0, 1, 123456),
        ),
        ("TIMESTAMPTZ '2024-02-29 10:00:00+05:30'", dt.datetime(2024, 2, 29, 4, 30, tzinfo=UTC)),
    ),
    *on(
        "snowflake",
        ("'2024-02-29'::DATE", dt.date(2024, 2, 29)),
        ("'0001-01-01'::DATE", dt.date(1, 1, 1)),
        (
            "'2024-02-29 10:00:01.123456789'::TIMESTAMP_NTZ",
            dt.datetime(2024, 2, 29, 10, 0, 1, 123456),
        ),
        (
            "'2024-02-29 10:00:01.5 +05:30'::TIMESTAMP_TZ",
            dt.datetime(2024, 2, 29, 4, 30, 1, 500000, tzinfo=UTC),
        ),
        (
            "'9999-12-31 23:59:59'::TIMESTAMP_LTZ",
            dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
    ),
    *on(
        "bigquery",
        ("first_day", dt.date(1, 1, 1)),
        ("last_day", dt.date(9999, 12, 31)),
        ("last_moment", dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ),
]


@pytest.mark.parametrize(("fixture", "expr", "expected"), ORDINARY_DATES)
def test_ordinary_dates_still_load_as_dates(request, fixture, expr, expected):
    value = read_value(request, fixture, expr)
    assert value == expected and type(value) is type(expected)
    assert verdict(value, "Date")[0]


@pytest.mark.parametrize(
    ("fixture", "sql"),
    [
        *on("postgresql", "SELECT * FROM (VALUES ('2024-01-01'::date), ('infinity')) AS v(d)"),
        *on("duckdb", "SELECT * FROM (VALUES ('2024-01-01'::DATE), ('infinity')) AS v(d)"),
        *on(
            "snowflake",
            "SELECT '2024-01-01'::DATE AS d UNION ALL SELECT '10000-01-01'::DATE",
        ),
    ],
)
def test_one_out_of_range_date_leaves_the_rest_of_its_batch_dates(request, fixture, sql):
    with request.getfixturevalue(fixture).connect() as c:
        (batch,) = list(c.iter_batches(sql))
    values = [next(iter(row.values())) for row in batch]
    assert values[0] == dt.date(2024, 1, 1) and isinstance(values[1], str)


@pytest.mark.postgres
def test_postgres_dates_load_as_dates_whatever_the_servers_datestyle(postgres_warehouse):
    import psycopg

    from .conftest import PG_URL

    db = postgres_warehouse.settings["database"]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{db}\" SET DateStyle = 'German, DMY'")
        try:
            date = read_one(postgres_warehouse, "SELECT '2024-02-29'::date AS v")
            stamp = read_one(postgres_warehouse, "SELECT '2024-02-29 10:00+02'::timestamptz AS v")
        finally:
            admin.execute(f'ALTER DATABASE "{db}" RESET DateStyle')
    assert date == dt.date(2024, 2, 29)
    assert stamp == dt.datetime(2024, 2, 29, 8, tzinfo=UTC)


BIG = "1234567890123456789012345678.1234567890"
NOT_NUMERIC = (False, ["not_numeric"], None)
# (expression, the field type it is mapped as, ok, the record's error codes, the value a String
# mapping keeps — None when the mapping is not String).
ODD_VALUES = [
    *on(
        "postgresql",
        ("'NaN'::numeric", "Float", *NOT_NUMERIC),
        ("'NaN'::numeric", "Integer", *NOT_NUMERIC),
        ("'Infinity'::numeric", "Float", *NOT_NUMERIC),
        ("'-Infinity'::numeric", "Integer", *NOT_NUMERIC),
        ("'NaN'::float8", "Float", *NOT_NUMERIC),
        ("'Infinity'::float8", "Float", *NOT_NUMERIC),
        ("'-Infinity'::float4", "Integer", *NOT_NUMERIC),
        (f"'{BIG}'::numeric(38,10)", "String", True, [], BIG),
        ("'1 day 02:00'::interval", "String", True, [], "1 day 02:00:00"),
        ("'1 day'::interval", "Integer", *NOT_NUMERIC),
        ("ARRAY[1, 2]", "String", True, [], "[1, 2]"),
        ("ARRAY[1, 2]", "Float", *NOT_NUMERIC),
        ("'{\"a\": 1}'::jsonb", "String", True, [], '{"a": 1}'),
        ("'{\"a\": 1}'::json", "Integer", *NOT_NUMERIC),
        ("'\\x00ff'::bytea", "Integer", *NOT_NUMERIC),
        ("'\\x00ff'::bytea", "String", True, [], "00ff"),
        ("ARRAY['infinity'::date, '2024-01-01']", "String", True, [], '["infinity", "2024-01-01"]'),
    ),
    *on(
        "duckdb",
        ("'NaN'::DOUBLE", "Float", *NOT_NUMERIC),
        ("'inf'::DOUBLE", "Integer", *NOT_NUMERIC),
        ("'-inf'::FLOAT", "Float", *NOT_NUMERIC),
        (f"'{BIG}'::DECIMAL(38,10)", "String", True, [], BIG),
        ("INTERVAL '1 day'", "String", True, [], "1 day"),
        ("INTERVAL '1 day'", "Integer", *NOT_NUMERIC),
        ("[1, 2]", "String", True, [], "[1, 2]"),
        ("[1, 2]", "Float", *NOT_NUMERIC),
        ("'{\"a\": 1}'::JSON", "String", True, [], '{"a": 1}'),
        ("'{\"a\": 1}'::JSON", "Integer", *NOT_NUMERIC),
        ("'\\x00\\xff'::BLOB", "Integer", *NOT_NUMERIC),
    ),
    # Snowflake has no interval columns (fakesnow holds none either).
    *on(
        "snowflake",
        ("'NaN'::FLOAT", "Float", *NOT_NUMERIC),
        ("'inf'::FLOAT", "Integer", *NOT_NUMERIC),
        ("'-inf'::FLOAT", "Float", *NOT_NUMERIC),
        (f"{BIG}::NUMBER(38,10)", "String", True, [], BIG),
        ("PARSE_JSON('{\"a\": 1}')", "String", True, [], '{"a":1}'),
        ("PARSE_JSON('{\"a\": 1}')", "Integer", *NOT_NUMERIC),
        ("PARSE_JSON('[1, 2]')::ARRAY", "String", True, [], "[1,2]"),
        ("PARSE_JSON('[1, 2]')::ARRAY", "Float", *NOT_NUMERIC),
        ("PARSE_JSON('{\"a\": 1}')::OBJECT", "String", True, [], '{"a":1}'),
        ("PARSE_JSON('{\"a\": 1}')::OBJECT", "Integer", *NOT_NUMERIC),
        ("TO_BINARY('00FF', 'HEX')", "String", True, [], "00ff"),
        ("TO_BINARY('00FF', 'HEX')", "Integer", *NOT_NUMERIC),
    ),
    *on(
        "bigquery",
        ("nan", "Float", *NOT_NUMERIC),
        ("inf", "Integer", *NOT_NUMERIC),
        ("ninf", "Float", *NOT_NUMERIC),
        ("num", "String", True, [], "12345678901234567890123456789.123456789"),
        ("bignum", "String", True, [], BIG),
        ("day", "String", True, [], "0-0 1 0:0:0"),
        ("day", "Integer", *NOT_NUMERIC),
        ("iv", "String", True, [], "1-2 3 4:5:6"),
        ("arr", "String", True, [], "[1, 2]"),
        ("arr", "Float", *NOT_NUMERIC),
        ("j", "String", True, [], '{"a": 1}'),
        ("j", "Integer", *NOT_NUMERIC),
        ("rec", "String", True, [], '{"a": 1, "b": "x"}'),
        ("bin", "String", True, [], "00ff"),
        ("bin", "Integer", *NOT_NUMERIC),
    ),
]


@pytest.mark.parametrize(("fixture", "expr", "field_type", "ok", "codes", "kept"), ODD_VALUES)
def test_odd_values_fail_or_keep_their_record(request, fixture, expr, field_type, ok, codes, kept):
    value = read_value(request, fixture, expr)
    got_ok, got_codes, got_kept = verdict(value, field_type)
    assert (got_ok, got_codes) == (ok, codes)
    if ok:
        assert got_kept == kept


# Values the local servers cannot hold, as the real clients return them, through the connector's
# own conversion: a BIGNUMERIC of 76 digits (the emulator keeps 38), and a Snowflake NUMBER(38,0)
# past 64 bits (fakesnow stores NUMBER(38,0) as BIGINT).
BIGNUMERIC_76 = Decimal(
    "1234567890123456789012345678901234567.12345678901234567890123456789012345678"
)


def test_bigquery_bignumeric_beyond_the_emulator_keeps_its_exact_text():
    shape = BigQueryConnector(
        {"project": "p", "dataset": "d", "api_endpoint": "http://x", "emulator": True}
    )._shaper([Column("v", "BIGNUMERIC")])
    (row,) = shape([(BIGNUMERIC_76,)])
    assert verdict(row["v"], "String") == (True, [], str(BIGNUMERIC_76))


def test_snowflake_number_38_0_past_64_bits_keeps_its_exact_text():
    cols = [Column("N", "NUMBER(38,0)"), Column("D", "DATE")]
    casts, build = snowflake._dates_as_text(cols)
    assert list(casts) == [1]
    # NUMBER(38,0) arrives as a Python int of any size; the date column as the cast's text.
    (row,) = build([(10**37 + 1, "10000-01-01")])
    assert verdict(row["N"], "String") == (True, [], "10000000000000000000000000000000000001")
    assert verdict(row["D"], "Date")[:2] == (False, ["invalid_date"])


def test_cast_columns_keeps_the_order_by_outermost_and_leaves_repeated_names_alone():
    c = snowflake.SnowflakeConnector({"account": "a", "user": "u"}, {"password": "p"})
    sql = c.select_sql("SELECT * FROM t", "TS")
    cols = [Column("ID", "NUMBER(38,0)"), Column("TS", "TIMESTAMP_NTZ")]
    cast = c.cast_columns(sql, cols, {1: "TO_VARCHAR({})"})
    assert cast == (
        'SELECT ic_source."ID" AS "ID", TO_VARCHAR(ic_source."TS") AS "TS" FROM (SELECT * FROM t'
        '\n) AS ic_source WHERE ic_source."TS" > ? ORDER BY ic_source."TS"'
    )
    # Two columns of one name cannot be named apart: such a source is refused at setup, and
    # the preview that says so must still run.
    twice = [Column("TS", "NUMBER(38,0)"), Column("TS", "TIMESTAMP_NTZ")]
    assert c.cast_columns(sql, twice, {1: "TO_VARCHAR({})"}) == sql


MIXED_BATCH = """
SELECT 'u' || id AS user_id, 'Charged' AS name, ts, day, amount FROM (VALUES
    (1, '2024-02-29 10:00'::timestamp, '2024-02-29'::date, 12.50::numeric),
    (2, 'infinity', '-infinity', 'NaN'),
    (3, '0044-03-15 12:00 BC', '10000-01-01', '1e400'),
    (4, '10000-01-01 00:00', '4713-01-01 BC', '-Infinity'),
    (5, '2024-03-01 00:00:00.5', '2024-03-01', 0.1)
) AS v(id, ts, day, amount) ORDER BY id
"""


@pytest.mark.postgres
def test_odd_typed_values_fail_only_their_own_record_in_a_batch(postgres_warehouse):
    """One batch of typed columns mixing ordinary values and ones Python cannot hold: the
    ordinary rows pass with their values; each odd one fails its own record, with the codes
    and messages of DESIGN.md, on the batch path as on the plain one."""
    spec = MappingSpec(
        sync_type="event",
        identity_column="user_id",
        event_name_column="name",
        timestamp_column="ts",
        fields=[
            FieldMapping(column="day", target="day", type="Date"),
            FieldMapping(column="amount", target="amount", type="Float"),
        ],
    )
    with postgres_warehouse.connect() as c:
        (batch,) = list(c.iter_batches(MIXED_BATCH))
    outcomes = validate_batch(batch, spec)
    assert outcomes == [validate_record(row, spec) for row in batch]
    odd = [
        FieldError("ts", "invalid_timestamp", MESSAGES["invalid_timestamp"]),
        FieldError("day", "invalid_date", MESSAGES["invalid_date"]),
        FieldError("amount", "not_numeric", MESSAGES["not_numeric"]),
    ]
    assert [o.errors for o in outcomes] == [[], odd, odd, odd, []]
    first, last = outcomes[0], outcomes[4]
    assert first.timestamp == dt.datetime(2024, 2, 29, 10, tzinfo=UTC)
    assert first.payload == {"day": dt.datetime(2024, 2, 29, tzinfo=UTC), "amount": 12.5}
    assert last.timestamp == dt.datetime(2024, 3, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert last.payload == {"day": dt.datetime(2024, 3, 1, tzinfo=UTC), "amount": 0.1}
