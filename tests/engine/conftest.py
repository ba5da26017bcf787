"""Fixtures of the run-engine tests: small DuckDB warehouses with known good/bad rows, imports
over them, and a real `celery worker` subprocess sharing the test database."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import kombu.pools
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from imports import tasks
from imports.models import Import
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
# The PostgreSQL "warehouse" of the tests that read one (not the store's database).
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

PROFILE_MAPPING = {
    "sync_type": "profile",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "event_name_column": None,
    "timestamp_column": None,
    "timestamp_format": None,
    "fields": [
        {"column": "email", "target": "Email", "type": "String", "date_format": None},
        {"column": "age", "target": "age", "type": "Integer", "date_format": None},
    ],
}
EVENT_MAPPING = {
    "sync_type": "event",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "event_name_column": "event",
    "timestamp_column": "ts",
    "timestamp_format": None,
    "fields": [{"column": "amount", "target": "amount", "type": "Float", "date_format": None}],
}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def profile_rows(n: int, start: int = 0):
    """Row i is bad (identity "null") when i % 10 == 3, and bad (age) when i % 10 == 7;
    identities repeat every n//2 rows so upserts merge."""
    rows = []
    for i in range(start, start + n):
        identity = "null" if i % 10 == 3 else f"u{i % max(1, (start + n) // 2)}"
        age = "old" if i % 10 == 7 else str(20 + i % 50)
        rows.append((i, identity, f"user{i}@example.com", age, T0 + timedelta(minutes=i)))
    return rows


def event_rows(n: int, start: int = 0):
    """Row i is bad (system event name) when i % 20 == 5."""
    rows = []
    for i in range(start, start + n):
        name = "App Launched" if i % 20 == 5 else "Charged"
        rows.append((i, f"u{i % 97}", name, T0 + timedelta(seconds=i), i * 1.5))
    return rows


def expected_bad_profiles(n, start=0):
    return sum(1 for i in range(start, start + n) if i % 10 in (3, 7))


def expected_bad_events(n, start=0):
    return sum(1 for i in range(start, start + n) if i % 20 == 5)


class Warehouse:
    def __init__(self, path: Path):
        self.path = path
        con = duckdb.connect(str(path))
        con.execute(
            "CREATE TABLE profiles (id INTEGER, user_id VARCHAR, email VARCHAR, age VARCHAR, "
            "updated TIMESTAMPTZ)"
        )
        con.execute(
            "CREATE TABLE events (id INTEGER, user_id VARCHAR, event VARCHAR, ts TIMESTAMPTZ, "
            "amount DOUBLE)"
        )
        con.close()

    def add_profiles(self, n: int, start: int = 0):
        """The rows of `profile_rows(n, start)`, generated in SQL (executemany is slow)."""
        half = max(1, (start + n) // 2)
        self._execute(
            "INSERT INTO profiles SELECT i, CASE WHEN i % 10 = 3 THEN 'null' "
            f"ELSE 'u' || (i % {half}) END, 'user' || i || '@example.com', "
            "CASE WHEN i % 10 = 7 THEN 'old' ELSE CAST(20 + i % 50 AS VARCHAR) END, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 MINUTE "
            f"FROM range({start}, {start + n}) t(i)"
        )

    def add_events(self, n: int, start: int = 0):
        """The rows of `event_rows(n, start)`, generated in SQL."""
        self._execute(
            "INSERT INTO events SELECT i, 'u' || (i % 97), CASE WHEN i % 20 = 5 "
            "THEN 'App Launched' ELSE 'Charged' END, "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND, i * 1.5 "
            f"FROM range({start}, {start + n}) t(i)"
        )

    def insert_profile_rows(self, rows):
        con = duckdb.connect(str(self.path))
        con.executemany("INSERT INTO profiles VALUES (?, ?, ?, ?, ?)", rows)
        con.close()

    def _execute(self, sql: str):
        con = duckdb.connect(str(self.path))
        con.execute(sql)
        con.close()


def pg_datasource():
    """A PostgreSQL datasource on PG_URL."""
    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    return factories.make_datasource(
        partner="postgresql",
        settings={
            "host": info.get("host", "127.0.0.1"),
            "port": int(info.get("port", 5432)),
            "database": info["dbname"],
            "user": info.get("user", "postgres"),
            "sslmode": "disable",
        },
    )


class AdvisoryLock:
    """A PostgreSQL advisory lock on PG_URL held by the test: a warehouse statement that takes
    it shared (`pg_advisory_lock_shared(key)`) waits there until `release()`."""

    def __init__(self):
        self.key = secrets.randbelow(2**31)
        self._holder = psycopg.connect(PG_URL, autocommit=True)
        self._holder.execute("SELECT pg_advisory_lock(%s)", [self.key])

    def release(self) -> None:
        self._holder.execute("SELECT pg_advisory_unlock(%s)", [self.key])

    def waiting_sessions(self) -> int:
        """How many sessions wait on the lock."""
        (n,) = self._holder.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE %s",
            [f"%pg_advisory_lock_shared({self.key})%"],
        ).fetchone()
        return n


@pytest.fixture
def advisory_lock():
    lock = AdvisoryLock()
    yield lock
    lock._holder.close()


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def wh_datasource(warehouse, db):
    return factories.make_datasource(partner="duckdb", settings={"path": str(warehouse.path)})


def make_profile_import(ds, **kwargs) -> Import:
    return factories.make_import(
        ds, source="profiles", mapping=PROFILE_MAPPING, identity_column="user_id", **kwargs
    )


def make_event_import(ds, **kwargs) -> Import:
    return factories.make_import(
        ds,
        sync_type=Import.SyncType.EVENT,
        source="events",
        mapping=EVENT_MAPPING,
        identity_column="user_id",
        event_name_column="event",
        timestamp_column="ts",
        **kwargs,
    )


class Queue:
    """Captures what the engine would hand to Celery, to run it here, in any order, twice:
    runs to execute (`tasks.enqueue_run`) and, as the `pipeline.ChunkQueue`, chunks."""

    def __init__(self):
        self.runs: list[int] = []
        self.chunks: list[tuple] = []
        self.slices: list[tuple] = []

    def put(self, run, index, first_row, columns, values):
        self.chunks.append((run.pk, index, first_row, columns, values))

    def put_slice(self, run, index, first_row, rows, order, bounds):
        self.slices.append((run.pk, index, first_row, rows, order, bounds))

    def check(self):
        pass


@pytest.fixture
def queue(monkeypatch):
    queue = Queue()
    monkeypatch.setattr(tasks, "enqueue_run", queue.runs.append)
    return queue


# --- A real Celery worker --------------------------------------------------------------------


class Worker:
    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc = proc
        self.log = log

    def child_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        )
        return [int(p) for p in out.stdout.split()]

    def kill_hard(self) -> None:
        """kill -9 the worker and its pool processes at once, as a machine dying would: one
        signal to its process group. (Killed one by one, pool processes first, the worker
        outlived them and reacted to their death, as its log showed.) Returns once they are
        all gone, so that none of them writes anything after this."""
        pids = [*self.child_pids(), self.proc.pid]
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in pids):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker processes still alive after kill -9: {pids}")
            time.sleep(0.01)

    def assert_alive(self) -> None:
        """Fail at once, with the worker's log, when the worker has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(
                f"the worker exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_hard()


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def isolated_broker(tmp_path):
    """A per-test filesystem broker folder (unless CELERY_BROKER_URL is Redis, as in CI), so
    tests never share queues with `make run` or another test process. Returns the var dir the
    worker subprocess should use."""
    var = tmp_path / "var"
    var.mkdir()
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        yield var
        return
    broker = var / "broker"
    for sub in ("queue", "processed", "control"):
        (broker / sub).mkdir(parents=True)
    options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "processed_folder": str(broker / "processed"),
        "control_folder": str(broker / "control"),
        "store_processed": False,
    }
    with broker_switched(broker_transport_options=options):
        yield var


@contextmanager
def broker_switched(**conf):
    """This process's Celery app on another broker (`conf`: broker_* settings) for the block,
    then back on its own, with no connection of one broker used for the other.

    kombu keeps connection and producer pools in process-wide registries keyed by the broker's
    URL and transport options (`kombu.pools`), and the app holds one of each. So on both
    switches the pools are closed *and* forgotten, as in a forked child (kombu's after-fork
    hook empties the registries, `Celery._after_fork` drops the app's references). Closing only
    the app's pool left that closed pool in the registry: when the URL came back, every later
    enqueue of the test process failed with "Acquire on closed pool", which the run reported as
    the broker being unreachable."""
    from importcenter.celery import app

    old = {key: app.conf[key] for key in conf}
    app.conf.update(conf)
    _forget_broker_connections(app)
    try:
        yield
    finally:
        app.conf.update(old)
        _forget_broker_connections(app)


def _forget_broker_connections(app) -> None:
    kombu.pools.reset()  # closes every pooled connection and producer, and empties the registries
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def start_worker(transactional_db, isolated_broker, tmp_path):
    """Start `celery worker` subprocesses on the test database; stopped at teardown."""
    workers: list[Worker] = []

    def start(concurrency: int = 1, extra_env: dict | None = None) -> Worker:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=_database_url(),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            IMPORT_CENTER_VAR_DIR=str(isolated_broker),
            SECRET_KEY=settings.SECRET_KEY,
            FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
            DUCKDB_ALLOWED_ROOTS=",".join(settings.DUCKDB_ALLOWED_ROOTS),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env or {})
        log = tmp_path / f"worker-{len(workers)}.log"
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "importcenter",
                "worker",
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"test{len(workers)}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            process_group=0,  # its own group, so that `kill_hard` is one signal to all of it
        )
        worker = Worker(proc, log)
        workers.append(worker)
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
