"""Values a warehouse holds that Python cannot represent, or that a mapping cannot take.

Each must reach validation and fail (or pass) its own record; none may fail the read, so none
may fail the run (issue 15 item 2). Read through each connector's iter_batches, then validated.
"""

from __future__ import annotations

import datetime as dt

import pytest

from validation import FieldMapping, MappingSpec, validate_record


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


# (SQL expression, the field type it is mapped as, the record's error codes, the value a String
# mapping keeps — None when the mapping is not String).
PG_DATES = [
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
]


@pytest.mark.postgres
@pytest.mark.parametrize("expr", PG_DATES)
def test_postgres_out_of_range_dates_fail_their_record_as_text(postgres_warehouse, expr):
    value = read_one(postgres_warehouse, f"SELECT {expr} AS v")
    assert isinstance(value, str)
    assert verdict(value, "Date")[:2] == (False, ["invalid_date"])
    assert event_verdict(value) == ["invalid_timestamp"]
    # Mapped as String the value is kept as the warehouse's text.
    assert verdict(value, "String") == (True, [], value)


@pytest.mark.postgres
@pytest.mark.parametrize("expr", ["'2024-02-29'::date", "'2024-02-29 10:00+00'::timestamptz"])
def test_postgres_ordinary_dates_still_load_as_dates(postgres_warehouse, expr):
    value = read_one(postgres_warehouse, f"SELECT {expr} AS v")
    assert not isinstance(value, str)
    assert verdict(value, "Date")[0]


@pytest.mark.postgres
def test_postgres_one_infinity_leaves_the_other_dates_of_its_batch_dates(postgres_warehouse):
    sql = "SELECT d FROM (VALUES ('2024-01-01'::date), ('infinity'), ('2024-01-02')) AS v(d)"
    with postgres_warehouse.connect() as c:
        (batch,) = list(c.iter_batches(sql))
    assert [r["d"] for r in batch] == [dt.date(2024, 1, 1), "infinity", dt.date(2024, 1, 2)]


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
    assert stamp == dt.datetime(2024, 2, 29, 8, tzinfo=dt.UTC)


PG_VALUES = [
    # expression, type, ok, codes, kept value (String only)
    ("'NaN'::numeric", "Float", False, ["not_numeric"], None),
    ("'NaN'::numeric", "Integer", False, ["not_numeric"], None),
    ("'Infinity'::numeric", "Float", False, ["not_numeric"], None),
    ("'-Infinity'::numeric", "Integer", False, ["not_numeric"], None),
    ("'NaN'::float8", "Float", False, ["not_numeric"], None),
    ("'Infinity'::float8", "Float", False, ["not_numeric"], None),
    ("'-Infinity'::float4", "Integer", False, ["not_numeric"], None),
    (
        "'1234567890123456789012345678.1234567890'::numeric(38,10)",
        "String",
        True,
        [],
        "1234567890123456789012345678.1234567890",
    ),
    ("'1 day 02:00'::interval", "String", True, [], "1 day 02:00:00"),
    ("'1 day'::interval", "Integer", False, ["not_numeric"], None),
    ("ARRAY[1, 2]", "String", True, [], "[1, 2]"),
    ("ARRAY[1, 2]", "Float", False, ["not_numeric"], None),
    ("'{\"a\": 1}'::jsonb", "String", True, [], '{"a": 1}'),
    ("'{\"a\": 1}'::json", "Integer", False, ["not_numeric"], None),
    ("'\\x00ff'::bytea", "Integer", False, ["not_numeric"], None),
    ("'\\x00ff'::bytea", "String", True, [], "00ff"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("expr", "field_type", "ok", "codes", "kept"), PG_VALUES)
def test_postgres_odd_values_fail_or_keep_their_record(
    postgres_warehouse, expr, field_type, ok, codes, kept
):
    value = read_one(postgres_warehouse, f"SELECT {expr} AS v")
    got_ok, got_codes, got_kept = verdict(value, field_type)
    assert (got_ok, got_codes) == (ok, codes)
    if ok:
        assert got_kept == kept


@pytest.mark.postgres
def test_postgres_out_of_range_array_elements_load_as_text(postgres_warehouse):
    value = read_one(postgres_warehouse, "SELECT ARRAY['infinity'::date, '2024-01-01'] AS v")
    assert value[0] == "infinity"


DUCKDB_DATES = [
    "'infinity'::DATE",
    "'-infinity'::DATE",
    "'4713-01-01 (BC)'::DATE",
    "'infinity'::TIMESTAMP",
    "'-infinity'::TIMESTAMP",
    "'10000-01-01'::TIMESTAMP",
    "'infinity'::TIMESTAMPTZ",
    "'-infinity'::TIMESTAMP_NS",
]


@pytest.mark.parametrize("expr", DUCKDB_DATES)
def test_duckdb_out_of_range_dates_fail_their_record_as_text(duckdb_warehouse, expr):
    value = read_one(duckdb_warehouse, f"SELECT {expr} AS v")
    assert isinstance(value, str)
    assert verdict(value, "Date")[:2] == (False, ["invalid_date"])
    assert event_verdict(value) == ["invalid_timestamp"]
    assert verdict(value, "String") == (True, [], value)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("DATE '2024-02-29'", dt.date(2024, 2, 29)),
        ("DATE '9999-12-31'", dt.date(9999, 12, 31)),
        ("TIMESTAMP '2024-02-29 10:00:01.5'", dt.datetime(2024, 2, 29, 10, 0, 1, 500000)),
        (
            "TIMESTAMP_NS '2024-02-29 10:00:01.123456789'",
            dt.datetime(2024, 2, 29, 10, 0, 1, 123456),
        ),
        (
            "TIMESTAMPTZ '2024-02-29 10:00:00+05:30'",
            dt.datetime(2024, 2, 29, 4, 30, tzinfo=dt.UTC),
        ),
    ],
)
def test_duckdb_ordinary_dates_still_load_as_dates(duckdb_warehouse, expr, expected):
    value = read_one(duckdb_warehouse, f"SELECT {expr} AS v")
    assert value == expected and type(value) is type(expected)


DUCKDB_VALUES = [
    ("'NaN'::DOUBLE", "Float", False, ["not_numeric"], None),
    ("'inf'::DOUBLE", "Integer", False, ["not_numeric"], None),
    ("'-inf'::FLOAT", "Float", False, ["not_numeric"], None),
    (
        "'1234567890123456789012345678.1234567890'::DECIMAL(38,10)",
        "String",
        True,
        [],
        "1234567890123456789012345678.1234567890",
    ),
    ("INTERVAL '1 day'", "String", True, [], "1 day"),
    ("INTERVAL '1 day'", "Integer", False, ["not_numeric"], None),
    ("[1, 2]", "String", True, [], "[1, 2]"),
    ("[1, 2]", "Float", False, ["not_numeric"], None),
    ("'{\"a\": 1}'::JSON", "String", True, [], '{"a": 1}'),
    ("'{\"a\": 1}'::JSON", "Integer", False, ["not_numeric"], None),
    ("'\\x00\\xff'::BLOB", "Integer", False, ["not_numeric"], None),
]


@pytest.mark.parametrize(("expr", "field_type", "ok", "codes", "kept"), DUCKDB_VALUES)
def test_duckdb_odd_values_fail_or_keep_their_record(
    duckdb_warehouse, expr, field_type, ok, codes, kept
):
    value = read_one(duckdb_warehouse, f"SELECT {expr} AS v")
    got_ok, got_codes, got_kept = verdict(value, field_type)
    assert (got_ok, got_codes) == (ok, codes)
    if ok:
        assert got_kept == kept


SNOWFLAKE_VALUES = [
    ("'NaN'::FLOAT", "Float", False, ["not_numeric"], None),
    ("'inf'::FLOAT", "Integer", False, ["not_numeric"], None),
    (
        "1234567890123456789012345678.1234567890::NUMBER(38,10)",
        "String",
        True,
        [],
        "1234567890123456789012345678.1234567890",
    ),
    ("PARSE_JSON('{\"a\": 1}')", "String", True, [], '{"a":1}'),
    ("PARSE_JSON('{\"a\": 1}')", "Integer", False, ["not_numeric"], None),
    ("TO_BINARY('00FF', 'HEX')", "String", True, [], "00ff"),
    ("TO_BINARY('00FF', 'HEX')", "Integer", False, ["not_numeric"], None),
]


@pytest.mark.parametrize(("expr", "field_type", "ok", "codes", "kept"), SNOWFLAKE_VALUES)
def test_snowflake_odd_values_fail_or_keep_their_record(
    snowflake_warehouse, expr, field_type, ok, codes, kept
):
    value = read_one(snowflake_warehouse, f"SELECT {expr} AS v")
    got_ok, got_codes, got_kept = verdict(value, field_type)
    assert (got_ok, got_codes) == (ok, codes)
    if ok:
        assert got_kept == kept
