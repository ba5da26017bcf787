"""End-to-end import benchmark: 1M event rows and 200k profile rows from a PostgreSQL
"warehouse" through real Celery workers (1, then 2 worker processes) into the PostgreSQL store;
and 1M rows of two more event tables, keyed by id: a realistic one (`events_text`: text
timestamps `yyyy-MM-dd HH:mm:ss`, a Date column `dd/MM/yyyy`, numeric and boolean text, 6% bad
rows) and the same events in native types (`events_typed`: TIMESTAMP, DATE, NUMERIC, BOOLEAN).

Beside each figure it prints dlt's on the same table in the same run (a plain copy, PostgreSQL
to PostgreSQL: sql_database source, pyarrow backend, csv loader; dlt validates nothing) and
the ratio. dlt runs in its own virtual environment, var/dlt-venv, which the bench creates with
dlt from PyPI on first use: it is never a dependency of the project.

Prints rows/s end to end (trigger → completed), the peak RSS of each worker process, the CPU
time spent per row by the workers and by PostgreSQL (their sum bounds what two cores can do,
whatever else the machine is running), and two references: the floor, a plain `COPY` of the same rows from the warehouse into a table of the
store; and the read + validation rate, the same rows streamed through the connector and
`validation.validate_batch` in this process with nothing written (wall and CPU time), so the
engine's own share of the end-to-end time can be told apart.

    .venv/bin/python bench/import_e2e.py [--events 1000000] [--profiles 200000]
        [--tables events profiles events_text events_typed] [--name bench] [--redis-db 7]
        [--workers 1 2] [--no-dlt] [--choices ROUNDS]

`--choices ROUNDS` measures instead what the pipeline's speed choices buy (the figures in the
comments of `imports/pipeline.py`): a lone worker's run with the cyclic-GC pause or the writer
thread switched off, and the row builders against the plain ways.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379; it (re)creates
the databases `ic_<name>` (store), `ic_<name>_warehouse` and `ic_<name>_dlt` (dlt's
destination) and uses Redis db `--redis-db`, so two checkouts can be measured back to back
without sharing anything. It prints a calibration
(the time of `sum(range(10**6))` and the load average) before and after: on a shared machine,
compare runs by their ratio to it.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG = "postgres://postgres@127.0.0.1:5432"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

import psycopg  # noqa: E402

EVENTS_SQL = """
CREATE TABLE events AS
SELECT i AS id,
       CASE WHEN i % 100 = 7 THEN 'null' ELSE 'user' || (i % 50000) END AS user_id,
       CASE WHEN i % 100 = 11 THEN 'App Launched' WHEN i % 100 = 13 THEN 'Bad.Name'
            ELSE (ARRAY['Charged','Product Viewed','Added To Cart','Search'])[1 + i % 4] END
         AS event_name,
       CASE WHEN i % 100 = 17 THEN 'yesterday'
            ELSE to_char(timestamptz '2024-01-01' + i * interval '1 second',
                         'YYYY-MM-DD"T"HH24:MI:SS"Z"') END AS ts,
       CASE WHEN i % 100 = 19 THEN 'n/a' ELSE (i * 0.37)::text END AS amount,
       (i % 9) AS quantity,
       CASE WHEN i % 100 = 23 THEN 'maybe' ELSE (i % 2 = 0)::text END AS first_order,
       'SKU-' || (i % 1000) AS sku
FROM generate_series(1, %(n)s) AS i
"""
PROFILES_SQL = """
CREATE TABLE profiles AS
SELECT i AS id,
       CASE WHEN i % 100 = 7 THEN 'null' ELSE 'user' || i END AS user_id,
       'Person ' || i AS name,
       CASE WHEN i % 100 = 11 THEN 'broken@' ELSE 'person' || i || '@example.com' END AS email,
       CASE WHEN i % 100 = 13 THEN '12345' ELSE '+9198' || lpad((i % 100000000)::text, 8, '0')
         END AS phone,
       CASE WHEN i % 100 = 17 THEN 'old' ELSE (18 + i % 60)::text END AS age,
       (i % 3 = 0) AS vip,
       CASE WHEN i % 100 = 19 THEN 'yes' ELSE (i % 2)::text END AS sms_ok
FROM generate_series(1, %(n)s) AS i
"""


# The realistic shape of an event table (issue 16): text timestamps `yyyy-MM-dd HH:mm:ss`, a
# Date column `dd/MM/yyyy` of a few hundred values, numeric and boolean text, 6% bad rows (one
# bad value each: identity, event name, timestamp, amount, boolean, date). Keyed by id, as
# warehouse tables usually are, so the run's chunks read their own slices.
EVENTS_TEXT_SQL = """
CREATE TABLE events_text (id bigint PRIMARY KEY, user_id text, event_name text, ts text,
                          day text, amount text, quantity text, first_order text, sku text);
INSERT INTO events_text
SELECT i,
       CASE WHEN i % 100 = 7 THEN 'null' ELSE 'user' || (i % 50000) END,
       CASE WHEN i % 100 = 13 THEN 'Bad.Name'
            ELSE (ARRAY['Charged','Product Viewed','Added To Cart','Search'])[1 + i % 4] END,
       CASE WHEN i % 100 = 17 THEN '2024-02-30 10:00:00'
            ELSE to_char(timestamp '2024-01-01' + i * interval '1 second',
                         'YYYY-MM-DD HH24:MI:SS') END,
       CASE WHEN i % 100 = 29 THEN '31/04/2024'
            ELSE to_char(date '2023-01-01' + (i % 400), 'DD/MM/YYYY') END,
       CASE WHEN i % 100 = 19 THEN 'n/a' ELSE (i * 0.37)::numeric(14, 2)::text END,
       (i % 9)::text,
       CASE WHEN i % 100 = 23 THEN 'maybe' ELSE (i % 2 = 0)::text END,
       'SKU-' || (i % 1000)
FROM generate_series(1, %(n)s) AS i
"""
# The same events in native types (TIMESTAMP, DATE, NUMERIC, BOOLEAN): only the identity and
# the event name can be bad (2% of rows).
EVENTS_TYPED_SQL = """
CREATE TABLE events_typed (id bigint PRIMARY KEY, user_id text, event_name text, ts timestamp,
                           day date, amount numeric(14, 2), quantity integer,
                           first_order boolean, sku text);
INSERT INTO events_typed
SELECT i,
       CASE WHEN i % 100 = 7 THEN 'null' ELSE 'user' || (i % 50000) END,
       CASE WHEN i % 100 = 13 THEN 'Bad.Name'
            ELSE (ARRAY['Charged','Product Viewed','Added To Cart','Search'])[1 + i % 4] END,
       timestamp '2024-01-01' + i * interval '1 second',
       date '2023-01-01' + (i % 400),
       (i * 0.37)::numeric(14, 2),
       i % 9,
       i % 2 = 0,
       'SKU-' || (i % 1000)
FROM generate_series(1, %(n)s) AS i
"""
TABLES = {  # table: (its SQL, its columns)
    "events": (EVENTS_SQL, "id, user_id, event_name, ts, amount, quantity, first_order, sku"),
    "profiles": (PROFILES_SQL, "id, user_id, name, email, phone, age, vip, sms_ok"),
    "events_text": (
        EVENTS_TEXT_SQL,
        "id, user_id, event_name, ts, day, amount, quantity, first_order, sku",
    ),
    "events_typed": (
        EVENTS_TYPED_SQL,
        "id, user_id, event_name, ts, day, amount, quantity, first_order, sku",
    ),
}


def field(column, target, type_):
    return {"column": column, "target": target, "type": type_, "date_format": None}


EVENT_MAPPING = {
    "sync_type": "event",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "event_name_column": "event_name",
    "timestamp_column": "ts",
    "timestamp_format": None,
    "fields": [
        field("amount", "amount", "Float"),
        field("quantity", "quantity", "Integer"),
        field("first_order", "first_order", "Boolean"),
        field("sku", "sku", "String"),
    ],
}
PROFILE_MAPPING = {
    "sync_type": "profile",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "event_name_column": None,
    "timestamp_column": None,
    "timestamp_format": None,
    "fields": [
        field("name", "Name", "String"),
        field("email", "Email", "String"),
        field("phone", "Phone", "String"),
        field("age", "age", "Integer"),
        field("vip", "vip", "Boolean"),
        field("sms_ok", "MSG-sms", "Boolean"),
    ],
}


# Both realistic tables map the same way: the Date column as a Date field.
EVENTS_DAY_MAPPING = {
    **EVENT_MAPPING,
    "fields": [*EVENT_MAPPING["fields"], field("day", "day", "Date")],
}

STORE = "ic_bench"  # set from --name in main()
WAREHOUSE = "ic_bench_warehouse"
DLT_DESTINATION = "ic_bench_dlt"
DLT_VENV = ROOT / "var" / "dlt-venv"


def calibration() -> str:
    """The best of five `sum(range(10**6))` and the load average: how busy the machine is."""
    best = min(_timed_sum() for _ in range(5))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"calibration: sum(range(10**6)) {best * 1e3:.1f} ms; load average {load}"


def _timed_sum() -> float:
    started = time.perf_counter()
    sum(range(10**6))
    return time.perf_counter() - started


def recreate_databases(sizes: dict[str, int]) -> None:
    """The store, the warehouse with `sizes` rows in each table, and dlt's destination."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        for db in (STORE, WAREHOUSE, DLT_DESTINATION):
            con.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            con.execute(f"CREATE DATABASE {db}")
    with psycopg.connect(f"{PG}/{WAREHOUSE}", autocommit=True) as con:
        for table, rows in sizes.items():
            con.execute(TABLES[table][0].replace("%(n)s", str(int(rows))))
        con.execute("ANALYZE")


# dlt's plain copy of one table, PostgreSQL to PostgreSQL (sql_database source, pyarrow
# backend, csv loader), run by dlt's own interpreter: prints its rows, seconds and CPU seconds.
DLT_COPY = """
import json, resource, sys, time
import dlt
from dlt.sources.sql_database import sql_table

source_url, destination_url, table, workdir = sys.argv[1:5]
pipeline = dlt.pipeline(
    pipeline_name=f"bench_{table}",
    destination=dlt.destinations.postgres(credentials=destination_url),
    dataset_name="dlt_bench",
    pipelines_dir=workdir,
)
started, cpu = time.perf_counter(), time.process_time()
pipeline.run(
    sql_table(credentials=source_url, table=table, backend="pyarrow"),
    write_disposition="replace",
    loader_file_format="csv",
)
seconds = time.perf_counter() - started
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - cpu + children.ru_utime + children.ru_stime
rows = pipeline.last_trace.last_normalize_info.row_counts.get(table, 0)
print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu}))
"""


def dlt_python() -> Path:
    """dlt's interpreter: a virtual environment of its own under var/ (never a dependency of
    the project), created with dlt from PyPI on first use."""
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing dlt into {DLT_VENV} ...")
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "dlt[postgres]", "sqlalchemy", "pyarrow"],
            check=True,
        )
    return python


def dlt_copy(table: str) -> tuple[float, int, float, float]:
    """dlt's rows/s copying `table` into its destination, its rows, its CPU per row (its
    processes) and PostgreSQL's (every process of the server), in us."""
    import json
    import shutil
    import tempfile

    python = dlt_python()
    workdir = tempfile.mkdtemp(prefix="dlt-", dir=ROOT / "var")
    postmaster = postmaster_pid()
    database_cpu = postgres_cpu(postmaster)
    try:
        done = subprocess.run(
            # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which dlt[postgres] lacks.
            [str(python), "-c", DLT_COPY, f"postgresql+psycopg2://postgres:postgres@127.0.0.1:"
             f"5432/{WAREHOUSE}", f"postgresql://postgres:postgres@127.0.0.1:5432/{DLT_DESTINATION}",
             table, workdir],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if done.returncode:
        raise SystemExit(f"dlt failed on {table}:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = max(1, result["rows"])
    database_us = (postgres_cpu(postmaster) - database_cpu) / rows * 1e6
    return (
        result["rows"] / result["seconds"],
        result["rows"],
        result["cpu"] / rows * 1e6,
        database_us,
    )


def copy_floor(table: str, columns: str) -> float:
    """rows/s of COPY warehouse → store (no validation, no per-record results)."""
    with (
        psycopg.connect(f"{PG}/{WAREHOUSE}") as src,
        psycopg.connect(f"{PG}/{STORE}") as dst,
    ):
        dst.execute(f"CREATE TEMP TABLE floor_{table} AS SELECT * FROM (SELECT 1) x WHERE false")
        dst.execute(f"DROP TABLE floor_{table}")
        types = src.execute(
            "SELECT string_agg(quote_ident(column_name) || ' ' || data_type, ', ' "
            "ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = %s",
            [table],
        ).fetchone()[0]
        dst.execute(f"CREATE UNLOGGED TABLE IF NOT EXISTS floor_{table} ({types})")
        dst.execute(f"TRUNCATE floor_{table}")
        started = time.perf_counter()
        n = 0
        with (
            src.cursor().copy(f"COPY (SELECT {columns} FROM {table}) TO STDOUT") as out,
            dst.cursor().copy(f"COPY floor_{table} ({columns}) FROM STDIN") as into,
        ):
            for data in out:
                into.write(data)
                n += 1
        dst.commit()
        rows = dst.execute(f"SELECT count(*) FROM floor_{table}").fetchone()[0]
        return rows / (time.perf_counter() - started)


def read_and_validate(imp) -> tuple[float, float, float]:
    """rows/s of connector streaming alone, and of streaming + validate_batch (wall, CPU)."""
    from connectors import get_connector
    from validation import MappingSpec, validate_batch

    ds = imp.datasource
    spec = MappingSpec.from_dict(imp.mapping)
    rates = []
    for validate in (False, True):
        n = 0
        wall, cpu = time.perf_counter(), time.process_time()
        with get_connector(ds.partner, ds.settings, ds.get_secret()) as conn:
            for batch in conn.iter_batches(imp.source, batch_size=10_000):
                if validate:
                    validate_batch(batch, spec)
                n += len(batch)
        rates.append((n / (time.perf_counter() - wall), n / (time.process_time() - cpu)))
    return rates[0][0], rates[1][0], rates[1][1]


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """utime + stime of a process so far (0 once it is gone); with ``reaped``, that of its
    children that have exited and been waited for instead."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    first = 13 if reaped else 11
    return (int(fields[first]) + int(fields[first + 1])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        (backend,) = cur.fetchone()
    return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds used so far by every PostgreSQL process: the live ones (backends, WAL writer,
    checkpointer, ...) and, through the postmaster's own account, those that have exited. Read
    at the start and the end of a run, the difference is exact whatever came and went between
    (the run's connections open and close as chunks come and go), with no sampling while the
    run works. It counts every database of the server: run it on a quiet machine."""
    return cpu_seconds(postmaster, reaped=True) + sum(map(cpu_seconds, children(postmaster)))


def run_with_workers(imp, processes: int) -> tuple[float, list[float], object, tuple]:
    from importcenter.celery import app
    from imports import services
    from imports.models import ImportRun

    app.control.purge()
    log = open(f"/tmp/{STORE}-worker-{processes}.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "importcenter", "worker",
         "-P", "prefork", "-c", str(processes), "--without-gossip", "--without-mingle",
         "-l", "WARNING", "-n", f"{STORE}-{processes}@%h"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # Started only once the worker answers: its start-up is no part of the run's time, and
        # its pool processes exist to be measured.
        name = f"{STORE}-{processes}@{socket.gethostname()}"
        deadline = time.monotonic() + 120
        while not app.control.ping([name], timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start: see {log.name}")
        # Read only at the start and the end: the monitor itself must not take the CPU it
        # measures (sampling /proc and spawning pgrep every 100 ms cost ~8% of the event rate).
        pool = children(worker.pid)
        postmaster = postmaster_pid()
        workers_cpu, database_cpu = sum(map(cpu_seconds, pool)), postgres_cpu(postmaster)
        run = services.run_now(imp)
        state = ImportRun.objects.filter(pk=run.pk).values_list("state", flat=True)
        while state.get() not in ImportRun.FINISHED_STATES:
            time.sleep(0.05)
        run.refresh_from_db()
        workers_cpu = sum(map(cpu_seconds, pool)) - workers_cpu
        database_cpu = postgres_cpu(postmaster) - database_cpu
        peaks = {pid: peak_rss_mb(pid) for pid in pool}  # VmHWM: the peak, not the current RSS
        elapsed = (run.finished_at - run.created_at).total_seconds()
        per_row = (workers_cpu / run.total * 1e6, database_cpu / run.total * 1e6)
        return run.total / elapsed, sorted(peaks.values()), run, per_row
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine: the figures above still stand
            worker.kill()
            worker.wait()


def measure_choices(imp, rounds: int) -> None:
    """What the pipeline's speed choices buy, each switched off in turn: the cyclic-GC pause and
    the writer thread on a lone worker's run (`pipeline.execute_run` in this process, no broker;
    best of `rounds`, interleaved), and the two row builders on 10,000 rows of `imp`'s source
    (best of 7)."""
    import contextlib
    import timeit

    from django.db import connection

    from connectors import get_connector
    from connectors.base import row_builder
    from imports import pipeline, runs
    from imports.models import Event, Profile

    class inline_writer:  # noqa: N801 - stands in for pipeline._writer
        def __enter__(self):
            return pipeline._call

        def __exit__(self, *exc):
            pass

    variants = {
        "as is": {},
        "cyclic GC not paused": {"_cyclic_gc_paused": contextlib.nullcontext},
        "no writer thread": {"_writer": inline_writer},
    }
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for name, patch in variants.items():
            with connection.cursor() as cur:
                cur.execute(f"TRUNCATE {Event._meta.db_table}, {Profile._meta.db_table}")
            saved = {key: getattr(pipeline, key) for key in patch}
            for key, value in patch.items():
                setattr(pipeline, key, value)
            try:
                run = runs.trigger_run(imp, enqueue=lambda run_id: None)
                wall, cpu = time.perf_counter(), time.process_time()
                pipeline.execute_run(run.pk)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            finally:
                for key, value in saved.items():
                    setattr(pipeline, key, value)
            run.refresh_from_db()
            assert run.state == "completed", run.error
            rate, per_row = run.total / wall, cpu / run.total * 1e6
            old = best.get(name, (0.0, float("inf")))
            best[name] = (max(old[0], rate), min(old[1], per_row))
    for name, (rate, per_row) in best.items():
        print(
            f"{imp.sync_type:8} lone worker in this process, {name:20}: {rate:,.0f} rows/s, "
            f"{per_row:.1f} us CPU per row (all threads)"
        )

    ds = imp.datasource
    with get_connector(ds.partner, ds.settings, ds.get_secret()) as conn:
        rows = next(iter(conn.iter_batches(imp.source, batch_size=10_000)))
    columns = list(rows[0])
    tuples = [tuple(row.values()) for row in rows]
    take, build = pipeline._row_values(columns), row_builder(columns)
    candidates = {
        "dict -> values: _row_values (itemgetter)": lambda: list(map(take, rows)),
        "dict -> values: tuple(row[c] for c)": lambda: [
            tuple(row[c] for c in columns) for row in rows
        ],
        "values -> dict: row_builder": lambda: build(tuples),
        "values -> dict: dict(zip(columns, row))": lambda: [
            dict(zip(columns, t, strict=True)) for t in tuples
        ],
    }
    for name, fn in candidates.items():
        seconds = min(timeit.repeat(fn, number=10, repeat=7)) / 10
        print(f"row builder {name:42}: {seconds * 1e3:.1f} ms per {len(rows):,} rows")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="rows of each event table")
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    parser.add_argument("--name", default="bench", help="databases ic_NAME, ic_NAME_warehouse")
    parser.add_argument("--redis-db", type=int, default=7)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt's copy of each table")
    parser.add_argument(
        "--choices", type=int, metavar="ROUNDS", help="measure the pipeline's speed choices instead"
    )
    args = parser.parse_args()
    global STORE, WAREHOUSE, DLT_DESTINATION
    STORE, WAREHOUSE = f"ic_{args.name}", f"ic_{args.name}_warehouse"
    DLT_DESTINATION = f"ic_{args.name}_dlt"
    os.environ["DATABASE_URL"] = f"{PG}/{STORE}"
    os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
    print(calibration())

    # An import over an empty table (--events 0 or --profiles 0) has nothing to measure.
    sizes = {t: args.profiles if t == "profiles" else args.events for t in args.tables}
    sizes = {t: n for t, n in sizes.items() if n}
    if args.choices:
        sizes.setdefault("events", args.events)
    print("seeding warehouse: " + ", ".join(f"{n:,} {t}" for t, n in sizes.items()) + " ...")
    recreate_databases(sizes)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from imports.models import Datasource, Event, Import, Profile

    ds = Datasource.objects.create(
        name="bench warehouse",
        partner="postgresql",
        settings={"host": "127.0.0.1", "port": 5432, "database": WAREHOUSE,
                  "user": "postgres", "sslmode": "disable"},
    )  # fmt: skip
    ds.set_secret({"password": ""})
    ds.save()
    common = dict(datasource=ds, status="scheduled", schedule_kind="manual", source_kind="table")
    event_fields = dict(
        sync_type="event", identity_column="user_id", event_name_column="event_name",
        timestamp_column="ts", **common,
    )  # fmt: skip
    imports = {
        table: Import.objects.create(
            nickname=f"bench {table}", source=table, mapping=mapping, **event_fields
        )
        for table, mapping in (
            ("events", EVENT_MAPPING),
            ("events_text", EVENTS_DAY_MAPPING),
            ("events_typed", EVENTS_DAY_MAPPING),
        )
    }
    imports["profiles"] = Import.objects.create(
        nickname="bench profiles", sync_type="profile", source="profiles",
        mapping=PROFILE_MAPPING, identity_column="user_id", **common,
    )  # fmt: skip

    if args.choices:
        measure_choices(imports["events"], args.choices)
        print(calibration())
        return
    measured = [imports[table] for table in sizes]
    for imp in measured:
        floor = copy_floor(imp.source, TABLES[imp.source][1])
        read, validated, validated_cpu = read_and_validate(imp)
        print(
            f"{imp.source:12} floor (plain COPY): {floor:,.0f} rows/s; connector read only: "
            f"{read:,.0f} rows/s; read + validate_batch: {validated:,.0f} rows/s "
            f"({validated_cpu:,.0f} rows per CPU second)"
        )
    dlt: dict[str, float] = {}
    if not args.no_dlt:
        for imp in measured:
            rate, rows, dlt_us, database_us = dlt_copy(imp.source)
            dlt[imp.source] = rate
            print(
                f"{imp.source:12} dlt (sql_database, pyarrow, csv loader): {rate:,.0f} rows/s "
                f"({rows:,} rows); CPU per row: dlt {dlt_us:.1f} us + PostgreSQL "
                f"{database_us:.1f} us"
            )
        print(calibration())
    rates: dict[tuple[str, int], tuple[float, float]] = {}
    for processes in args.workers:
        for imp in measured:
            # TRUNCATE, not DELETE: dead rows left by the previous pass would make every
            # upsert probe them, and the figures would depend on the order of the passes.
            with connection.cursor() as cur:
                cur.execute(f"TRUNCATE {Event._meta.db_table}, {Profile._meta.db_table}")
            rate, peaks, run, (worker_us, database_us) = run_with_workers(imp, processes)
            ceiling = 2e6 / (worker_us + database_us)
            versus = f"; {rate / dlt[imp.source]:.2f}x dlt" if imp.source in dlt else ""
            print(
                f"{imp.source:12} {processes} worker process(es): {rate:,.0f} rows/s{versus} "
                f"({run.state}, {run.total:,} rows, {run.failed:,} failed, {run.chunks_total} "
                f"chunks, health {run.health.label}); peak RSS per worker: "
                + ", ".join(f"{p:.0f} MB" for p in peaks)
                + f"; CPU per row: workers {worker_us:.1f} us + PostgreSQL {database_us:.1f} us"
                f" (two cores' ceiling at that cost: {ceiling:,.0f} rows/s)"
            )
            rates[imp.source, processes] = rate, ceiling
    # What more workers bring, and how much of it the machine's two cores allowed: PostgreSQL
    # runs on the same cores, so a lone worker already keeps more than one of them busy.
    for imp in measured:
        lone = rates.get((imp.source, 1))
        for processes in args.workers:
            if lone is None or processes == 1 or (imp.source, processes) not in rates:
                continue
            rate, ceiling = rates[imp.source, processes]
            print(
                f"{imp.source:12} 1 -> {processes} workers: {rate / lone[0]:.2f}x; the "
                f"{processes} workers at {rate / ceiling:.0%} of the two cores' ceiling"
            )
    print(calibration())


if __name__ == "__main__":
    main()
