"""Slices of a source, read by separate connections as a fanned-out run's chunks read them:
every row once, in one order, the same on every read; partners that cannot say so have no
slice order (their runs ship rows instead)."""

from __future__ import annotations

import datetime as dt

import psycopg

from connectors.base import SliceOrder

from .conftest import PG_URL, ROWS


def read_slices(warehouse, source, order, bounds, since=None) -> list[list[dict]]:
    """Each slice read on a connection of its own, as chunk tasks do."""
    slices = []
    for i, (low, first) in enumerate(bounds):
        end = bounds[i + 1][1] if i + 1 < len(bounds) else None
        high = bounds[i + 1][0] if end else None
        with warehouse.connect() as c:
            rows = [
                row
                for batch in c.iter_slice(
                    source,
                    order,
                    low if i else None,
                    high,
                    limit=end - first if end else None,
                    batch_size=3_000,
                    incremental_column="d",
                    since=since,
                )
                for row in batch
            ]
        assert end is None or len(rows) == end - first
        slices.append(rows)
    return slices


def test_slices_on_a_column_with_ties_cover_the_source_once_in_one_order(warehouse):
    with warehouse.connect() as c:
        order = c.slice_order(warehouse.table, "d")
        if order is None:
            assert not c.slices_supported
            return
        # `users` has no key: ties on d (365 dates) are broken by the whole row.
        assert order == SliceOrder("d", (), by_row=True)
        bounds = c.slice_bounds(warehouse.table, order, [1, 20_001, 50_001, 99_999])
    firsts = [first for _, first in bounds]
    # Each start moved to the first row of a date (274 or 275 rows a date): back to its own
    # date's, or (PostgreSQL's cursor) on to the next date's; 99,999 lies in the last date,
    # which has no next one, so it may merge into the slice before.
    assert firsts[0] == 1 and len(set(firsts)) == len(firsts) == len(bounds) in (3, 4)
    assert firsts == sorted(firsts) and firsts[-1] < 100_000
    assert all(
        abs(asked - first) < 280 for asked, first in zip([20_001, 50_001], firsts[1:3], strict=True)
    )
    slices = read_slices(warehouse, warehouse.table, order, bounds)
    rows = [row for part in slices for row in part]
    assert sorted(r["id"] for r in rows) == list(range(1, ROWS + 1))
    dates = [r["d"] for r in rows]
    assert dates == sorted(dates)
    # A bound is its value's first row: the date is the bound's, the row before holds another.
    for value, first in bounds:
        assert dates[first - 1] == value and (first == 1 or dates[first - 2] != value)
    # Read again, a slice has the same rows in the same order (a retried chunk's numbers).
    with warehouse.connect() as c:
        (low, first), (high, end) = bounds[1:3]
        again = [r for b in c.iter_slice(warehouse.table, order, low, high, end - first) for r in b]
    assert again == slices[1]


def test_slices_on_a_unique_key_start_exactly_at_the_rows_asked(warehouse):
    """A one-column key has no ties, so each bound is the key's value at the row asked for
    (PostgreSQL steps a cursor to it, the others number the rows), with an incremental filter
    and through a query source as well."""
    order = SliceOrder("id")
    assert order.unique and not SliceOrder("id", ("name",)).unique
    since = dt.date(2024, 7, 1)
    kept = [i for i in range(11, ROWS + 1) if dt.date(2024, 1, 1) + dt.timedelta(i % 365) > since]
    starts = [1, 2, 20_001, len(kept) // 2 + 7, len(kept), len(kept) + 1]
    with warehouse.connect() as c:
        if not c.slices_supported:
            assert c.slice_order(warehouse.table, None) is None
            return
        whole = c.slice_bounds(warehouse.table, order, [1, 20_001, 99_999, ROWS + 1])
        filtered = c.slice_bounds("SELECT * FROM users WHERE id > 10", order, starts, "d", since)
    assert [(int(v), n) for v, n in whole] == [(1, 1), (20_001, 20_001), (99_999, 99_999)]
    assert [(int(v), n) for v, n in filtered] == [(kept[n - 1], n) for n in starts[:-1]]


def test_postgres_moves_a_start_in_a_long_run_of_ties_to_the_next_value(postgres_warehouse):
    """Runs of 5,000 equal values (longer than the cursor fetches at a time): a start inside
    one moves on to the next value's first row, a start walked past merges, and a start in
    the last run has no bound (the slice before it reads to the end)."""
    source = "SELECT id, LEAST(id / 5000, 19) AS g FROM users"
    starts = [1, 2, 2_500, 7_499, 7_500, 10_000, 10_001, 99_000]
    values = sorted(min(i // 5000, 19) for i in range(1, ROWS + 1))
    expected = []
    for start in starts:
        first = next(
            (p for p in range(start, ROWS + 1) if p == 1 or values[p - 2] != values[p - 1]), None
        )
        if first is not None and (not expected or first > expected[-1][1]):
            expected.append((values[first - 1], first))
    assert expected == [(0, 1), (1, 5_000), (2, 10_000), (3, 15_000)]
    with postgres_warehouse.connect() as c:
        order = c.slice_order(source, "g")
        assert order == SliceOrder("g", (), by_row=True)
        assert c.slice_bounds(source, order, starts, "g") == expected


def test_postgres_plans_ties_of_text_with_the_numbering_statement(postgres_warehouse):
    """Python cannot tell whether PostgreSQL calls two texts equal (a case-insensitive
    collation, citext), so ties on a text column are planned as on the other partners: each
    start moved back to the first row of its value."""
    source = "SELECT id, 'g' || LEAST(id / 5000, 19) AS g FROM users"
    with postgres_warehouse.connect() as c:
        order = c.slice_order(source, "g")
        bounds = c.slice_bounds(source, order, [1, 7_499, 99_000], "g")
    # Text order: g0 (4,999 rows), g1, g10 ... g18 (5,000 each), g19 (5,001), g2 ... g9.
    assert bounds == [("g0", 1), ("g1", 5_000), ("g9", 95_001)]


def test_a_postgres_table_is_cut_only_on_a_column_it_can_seek_on(postgres_warehouse):
    """A slice of an unindexed column would read the whole table: no slices there (the run
    ships rows); an index that leads with the column, or a query source, can be cut."""
    with postgres_warehouse.connect() as c:
        assert c.seeks_on("users", "d") and not c.seeks_on("users", "ts")
        assert c.slice_order("users", "ts") is None
        assert c.slice_order("users", "d") == SliceOrder("d", (), by_row=True)
        assert c.slice_order("SELECT * FROM users", "ts") == SliceOrder("ts", (), by_row=True)
    database = postgres_warehouse.settings["database"]
    with psycopg.connect(PG_URL, dbname=database, autocommit=True) as admin:
        admin.execute("CREATE VIEW users_view AS SELECT * FROM users")
        try:
            with postgres_warehouse.connect() as c:
                assert c.seeks_on("users_view", "ts")
        finally:
            admin.execute("DROP VIEW users_view")


def test_slices_apply_the_incremental_filter_of_a_query(warehouse):
    source = "SELECT * FROM users WHERE id > 10"
    since = dt.date(2024, 7, 1)
    with warehouse.connect() as c:
        order = c.slice_order(source, "d")
        if order is None:
            assert not c.slices_supported
            return
        expected = c.count(source, since=since, incremental_column="d")
        bounds = c.slice_bounds(source, order, [1, 10_001, 30_000], "d", since)
    rows = [row for part in read_slices(warehouse, source, order, bounds, since) for row in part]
    assert len(rows) == expected == len({r["id"] for r in rows})
    assert min(r["d"] for r in rows) > since and min(r["id"] for r in rows) > 10
