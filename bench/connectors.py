"""Connector streaming speed beside each raw driver's own fetchmany loop on the same query.

    .venv/bin/python bench/connectors.py [duckdb] [postgresql] [snowflake] [bigquery]

(default: all four). Prints the machine's calibration and load (see ``calibration``), then rows/s
for our ``iter_batches`` (dicts) and for the driver's own loop (tuples / Row objects), the ratio
(target >= 0.9), and peak RSS after 100k and after 1M rows (should stay flat).

* DuckDB, PostgreSQL: 1M rows. PostgreSQL needs 127.0.0.1:5432 (user postgres); a throwaway
  database is created and dropped.
* Snowflake (fakesnow), BigQuery (bqemulator): 100k rows on the local servers that the connector
  tests use (tests/connectors/servers.py), started and stopped here. The raw loops are the
  connector's ``cursor.fetchmany`` and ``client.query(...).result(page_size=...)`` iteration.

Both sides' timings include connecting and running the query, since our ``iter_batches`` does
(it connects on first use, and the DuckDB connector also reads the source's columns first).

Each side runs REPEAT times (env BENCH_REPEAT, default 3), alternating which goes first, and the
best rate of each is kept: on a shared machine single runs swing by 2x. Rates are given per
wall-clock second and per CPU second of this process (``time.process_time``: every thread of
it, so DuckDB's query threads count, but not the Snowflake/BigQuery server processes, which do
the same work for both sides); the CPU ratio is the steadier one when others share the machine.
Peak RSS is read during the first run of ours, before the raw loop has run. With several
partners, each runs in its own process so that peak RSS is that partner's alone.

PostgreSQL and BigQuery streams read one batch ahead on a thread (``connectors.base.ReadAhead``):
the next fetch overlaps the consumer's work. Here the consumer does nothing but count, which
hides most of that gain; env BENCH_WORK=N makes both sides' loops do N small units of Python work
per row (one unit is ``sum(range(8))``, about 0.5 us here), standing in for an import's validation.
"""

from __future__ import annotations

import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from connectors import get_connector  # noqa: E402

ROWS = 1_000_000
# The local Snowflake and BigQuery servers are far slower than a real warehouse; 100k is plenty.
SERVER_ROWS = 100_000
BATCH = 10_000
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
WORK = int(os.environ.get("BENCH_WORK", "0"))
PARTNERS = ("duckdb", "postgresql", "snowflake", "bigquery")


def calibration() -> str:
    """How fast this machine is right now: CPU time of ``sum(range(10**6))`` (best of 5) and the
    load average, printed first so figures from different runs compare as ratios."""
    times = []
    for _ in range(5):
        began = time.process_time()
        sum(range(10**6))
        times.append(time.process_time() - began)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"calibration: sum(range(10**6)) takes {min(times) * 1000:.1f} ms of CPU; load {load}"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


Rates = tuple[float, float]  # rows per wall-clock second, rows per CPU second


class Timer:
    """Wall-clock and CPU time from creation to ``rates(n)``."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, n: int) -> Rates:
        """Rows per wall-clock second and per CPU second."""
        return n / (time.perf_counter() - self.wall), n / (time.process_time() - self.cpu)


def work(count: int) -> None:
    """BENCH_WORK units of work for each of ``count`` rows (none by default), both sides alike."""
    for _ in range(count * WORK):
        sum(range(8))


def ours(connector, source: str, rows: int = ROWS) -> tuple[Rates, dict[int, float]]:
    marks, n, timer = {}, 0, Timer()
    for batch in connector.iter_batches(source, batch_size=BATCH):
        n += len(batch)
        work(len(batch))
        if n in (100_000, ROWS):
            marks[n] = rss_mb()
    if n != rows:
        raise SystemExit(f"{connector.partner}: iter_batches gave {n:,} rows, expected {rows:,}")
    return timer.rates(n), marks


def compare(
    name: str, run_ours: Callable[[], tuple[Rates, dict[int, float]]], run_raw: Callable[[], Rates]
) -> None:
    """Best of REPEAT alternating runs of each side, then the report line."""
    our_rates, raw_rates, marks = [], [], {}
    for i in range(REPEAT):
        if i % 2 == 0:
            rate, got = run_ours()
            raw_rates.append(run_raw())
        else:
            raw_rates.append(run_raw())
            rate, got = run_ours()
        our_rates.append(rate)
        marks = marks or got
    report(name, raw_rates, our_rates, marks)


def report(
    name: str, raw_rates: list[Rates], our_rates: list[Rates], marks: dict[int, float]
) -> None:
    raw_wall, raw_cpu = (max(r[i] for r in raw_rates) for i in (0, 1))
    our_wall, our_cpu = (max(r[i] for r in our_rates) for i in (0, 1))
    at_1m = f"{marks[ROWS]:.0f} MB" if ROWS in marks else "n/a (100k-row run)"
    print(
        f"{name:11s} raw fetchmany {raw_wall:>10,.0f} rows/s | iter_batches {our_wall:>10,.0f} "
        f"rows/s | ratio {our_wall / raw_wall:.2f} | per CPU s: raw {raw_cpu:>10,.0f}, ours "
        f"{our_cpu:>10,.0f}, ratio {our_cpu / raw_cpu:.2f} | peak RSS at 100k "
        f"{marks.get(100_000, 0):.0f} MB, at 1M {at_1m}",
        flush=True,
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

    def run_ours() -> tuple[Rates, dict[int, float]]:
        with get_connector("duckdb", {"path": path}) as c:
            return ours(c, "t")

    def run_raw() -> Rates:
        n, timer = 0, Timer()
        with duckdb.connect(path, read_only=True) as db:
            cur = db.execute("SELECT * FROM t")
            while rows := cur.fetchmany(BATCH):
                n += len(rows)
                work(len(rows))
            return timer.rates(n)

    compare("duckdb", run_ours, run_raw)


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

        def run_ours() -> tuple[Rates, dict[int, float]]:
            with get_connector("postgresql", settings, None) as c:
                return ours(c, "t")

        def run_raw() -> Rates:
            n, timer = 0, Timer()
            with psycopg.connect(url, dbname=name) as conn:
                cur = conn.cursor(name="raw")
                cur.execute('SELECT * FROM "t"')
                while rows := cur.fetchmany(BATCH):
                    n += len(rows)
                    work(len(rows))
                return timer.rates(n)

        compare("postgresql", run_ours, run_raw)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_snowflake() -> None:
    import snowflake.connector

    from tests.connectors import servers

    with servers.snowflake_server() as server:
        settings = servers.seed_snowflake(server, SERVER_ROWS)

        def run_ours() -> tuple[Rates, dict[int, float]]:
            with get_connector("snowflake", settings, {"password": servers.SF_PASSWORD}) as c:
                return ours(c, "users", SERVER_ROWS)

        def run_raw() -> Rates:
            n, timer = 0, Timer()
            with snowflake.connector.connect(password=servers.SF_PASSWORD, **settings) as conn:
                cur = conn.cursor()
                cur.execute("SELECT * FROM users")
                while rows := cur.fetchmany(BATCH):
                    n += len(rows)
                    work(len(rows))
                return timer.rates(n)

        compare("snowflake", run_ours, run_raw)


def bench_bigquery() -> None:
    from tests.connectors import servers

    with servers.bigquery_server() as endpoint:
        settings = servers.seed_bigquery(endpoint, SERVER_ROWS)
        sql = f"SELECT * FROM `{servers.BQ_PROJECT}.{servers.BQ_DATASET}.users`"  # noqa: S608

        def run_ours() -> tuple[Rates, dict[int, float]]:
            with get_connector("bigquery", settings, None) as c:
                return ours(c, "users", SERVER_ROWS)

        def run_raw() -> Rates:
            n, timer = 0, Timer()
            client = servers.bigquery_client(endpoint)
            try:
                for _row in client.query(sql).result(page_size=BATCH):
                    n += 1
                    if WORK and n % BATCH == 0:
                        work(BATCH)
                work(n % BATCH)
                return timer.rates(n)
            finally:
                client.close()

        compare("bigquery", run_ours, run_raw)


BENCHES = {
    "duckdb": bench_duckdb,
    "postgresql": bench_postgresql,
    "snowflake": bench_snowflake,
    "bigquery": bench_bigquery,
}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(PARTNERS)
    unknown = [p for p in wanted if p not in BENCHES]
    if unknown:
        raise SystemExit(f"unknown partner(s): {', '.join(unknown)}; choose from {PARTNERS}")
    if len(wanted) == 1:
        print(calibration(), flush=True)
        BENCHES[wanted[0]]()
    else:
        # ru_maxrss is a process-lifetime peak: one process per partner keeps the figures apart.
        failed = [p for p in wanted if subprocess.run([sys.executable, __file__, p]).returncode]
        if failed:
            raise SystemExit(f"failed: {', '.join(failed)}")
