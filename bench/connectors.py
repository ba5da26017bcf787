"""Connector streaming speed beside each raw driver's own fetchmany loop on the same query.

    .venv/bin/python bench/connectors.py [duckdb] [postgresql]

Prints rows/s for our ``iter_batches`` (dicts) and for the driver's ``fetchmany`` (tuples), the
ratio (target >= 0.9), and peak RSS after 100k and after 1M rows (should stay flat).
PostgreSQL needs 127.0.0.1:5432 (user postgres); a throwaway database is created and dropped.
"""

from __future__ import annotations

import os
import resource
import secrets
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from connectors import get_connector  # noqa: E402

ROWS = 1_000_000
BATCH = 10_000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(connector, source: str) -> tuple[float, dict[int, float]]:
    marks, n, t = {}, 0, time.perf_counter()
    for batch in connector.iter_batches(source, batch_size=BATCH):
        n += len(batch)
        if n in (100_000, ROWS):
            marks[n] = rss_mb()
    return n / (time.perf_counter() - t), marks


def report(name: str, raw_rate: float, our_rate: float, marks: dict[int, float]) -> None:
    print(
        f"{name:11s} raw fetchmany {raw_rate:>10,.0f} rows/s | iter_batches {our_rate:>10,.0f} "
        f"rows/s | ratio {our_rate / raw_rate:.2f} | peak RSS at 100k {marks.get(100_000, 0):.0f} MB"
        f", at 1M {marks.get(ROWS, 0):.0f} MB"
    )


def bench_duckdb() -> None:
    import duckdb

    path = os.path.join(tempfile.mkdtemp(), "bench.duckdb")
    with duckdb.connect(path) as db:
        db.execute(
            "CREATE TABLE t AS SELECT range AS id, 'user_' || range AS name, "
            "DATE '2024-01-01' + (range % 365)::INT AS d, "
            "TIMESTAMP '2024-01-01' + to_seconds(range) AS ts, "
            "(range / 100)::DECIMAL(12,2) AS amt, (range * 1.5)::DOUBLE AS f, "
            f"range % 2 = 0 AS b FROM range({ROWS})"
        )
    with get_connector("duckdb", {"path": path}) as c:
        rate, marks = ours(c, "t")
    with duckdb.connect(path, read_only=True) as db:
        cur = db.execute("SELECT * FROM t")
        n, t = 0, time.perf_counter()
        while rows := cur.fetchmany(BATCH):
            n += len(rows)
        raw = n / (time.perf_counter() - t)
    report("duckdb", raw, rate, marks)


def bench_postgresql() -> None:
    import psycopg

    name = f"ic_connectors_bench_{secrets.token_hex(4)}"
    url = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(url, dbname=name, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE t AS SELECT g::bigint AS id, 'user_' || g AS name, "
                "(DATE '2024-01-01' + (g % 365))::date AS d, "
                "TIMESTAMP '2024-01-01' + g * INTERVAL '1 second' AS ts, "
                "(g / 100.0)::numeric(12,2) AS amt, (g * 1.5)::float8 AS f, g % 2 = 0 AS b "
                f"FROM generate_series(1, {ROWS}) g"
            )
        settings = {"host": "127.0.0.1", "port": 5432, "database": name, "user": "postgres"}
        with get_connector("postgresql", settings, None) as c:
            rate, marks = ours(c, "t")
        with psycopg.connect(url, dbname=name) as conn:
            cur = conn.cursor(name="raw")
            cur.execute('SELECT * FROM "t"')
            n, t = 0, time.perf_counter()
            while rows := cur.fetchmany(BATCH):
                n += len(rows)
            raw = n / (time.perf_counter() - t)
        report("postgresql", raw, rate, marks)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["duckdb", "postgresql"]
    for partner in wanted:
        {"duckdb": bench_duckdb, "postgresql": bench_postgresql}[partner]()
