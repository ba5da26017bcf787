"""row_builder: driver tuples into dicts keyed by column name, with optional converters."""

from __future__ import annotations

from decimal import Decimal

from connectors.base import row_builder


def test_rows_become_dicts_in_column_order():
    build = row_builder(["id", "name"])
    rows = build([(1, "a"), (2, None)])
    assert rows == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    assert list(rows[0]) == ["id", "name"]


def test_single_column_and_no_columns():
    assert row_builder(["id"])([(1,), (2,)]) == [{"id": 1}, {"id": 2}]
    assert row_builder([])([(), ()]) == [{}, {}]


def test_converters_apply_to_their_column_and_leave_none_alone():
    build = row_builder(["id", "amt", "note"], {1: Decimal})
    rows = build([(1, "1.50", "1.50"), (2, None, None), (3, "-0.01", "x")])
    assert rows == [
        {"id": 1, "amt": Decimal("1.50"), "note": "1.50"},
        {"id": 2, "amt": None, "note": None},
        {"id": 3, "amt": Decimal("-0.01"), "note": "x"},
    ]
    assert repr(rows[0]["amt"]) == "Decimal('1.50')"  # the scale survives


def test_duplicate_names_keep_the_later_column_with_or_without_converters():
    assert row_builder(["id", "id"])([(1, 2)]) == [{"id": 2}]
    build = row_builder(["amt", "id", "amt"], {0: Decimal, 2: Decimal})
    rows = build([("1.5", 7, "2.25"), ("1.5", 8, None)])
    assert rows == [{"amt": Decimal("2.25"), "id": 7}, {"amt": None, "id": 8}]
    assert list(rows[0]) == ["amt", "id"]


def test_names_are_data_not_code():
    names = ["a'], __import__('os')#", "}", "k0"]
    assert row_builder(names)([(1, 2, 3)]) == [dict(zip(names, (1, 2, 3), strict=True))]
