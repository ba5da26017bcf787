"""Broker and store outages mid-run, through a real `celery worker`: the run fails within
seconds with the real cause (not "worker lost" from the reaper minutes later), and a short
store blip is ridden out with exact totals."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import kombu
import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection

from imports import runs, services
from imports.models import ImportRun, RecordResult
from tests.engine.conftest import (
    _database_url,
    broker_switched,
    expected_bad_profiles,
    make_profile_import,
    wait_for,
)

State = ImportRun.State
# The store outage is staged on a PostgreSQL store (`make test` uses SQLite).
postgres_store = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the store is not PostgreSQL"
)
pytestmark = pytest.mark.slow
# A private broker this test may kill needs the server binary, not just a running Redis.
needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis_server(tmp_path):
    """A Redis of this test's own, which the test may kill. Yields (url, process)."""
    binary = shutil.which("redis-server")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--daemonize", "no"],
        cwd=tmp_path,
        stdout=(tmp_path / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_for(up, 10, interval=0.05, what="the private Redis")
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _on_broker(url: str):
    # Celery resolved the read and write URLs from the settings already: all three are set.
    return broker_switched(
        broker_url=url,
        broker_read_url=url,
        broker_write_url=url,
        broker_transport=None,
        broker_transport_options={},
    )


@pytest.fixture
def private_redis(private_redis_server):
    """The private Redis as the broker of the test process (and, through `extra_env`, of its
    worker), so the test can kill it without touching the shared one. Yields (url, process)."""
    url, _ = private_redis_server
    with _on_broker(url):
        yield private_redis_server


def _round_trip() -> str:
    """Publish a message through the app's producer pool, take it back, and broadcast a revoke
    through its control mailbox (Stop's path). Returns the URL of the broker used."""
    from importcenter.celery import app

    probe = kombu.Queue(f"ic-probe-{os.getpid()}")
    with app.producer_or_acquire() as producer:
        producer.publish({"probe": 1}, routing_key=probe.name, declare=[probe], retry=False)
        url = producer.connection.as_uri(include_password=True)
    with app.connection_for_read() as conn:
        message = probe(conn.default_channel).get(no_ack=True)
        probe(conn.default_channel).delete()
    assert message is not None and message.payload == {"probe": 1}
    app.control.revoke("ic-probe-task")
    return url


@needs_redis_server
def test_this_process_uses_its_own_broker_again_after_the_private_one(private_redis_server):
    """The pools of the shared broker, in use before the switch (as after any earlier worker
    test), are not the closed ones after it: a whole `tests/engine` run enqueues after the
    outage tests."""
    url, _ = private_redis_server
    own = _round_trip()
    with _on_broker(url):
        assert _round_trip() == url
    assert _round_trip() == own


def _wait_mid_run(run, at_least: int) -> None:
    def check():
        run.refresh_from_db()
        assert run.state in (State.QUEUED, State.RUNNING), (run.state, run.error)
        return run.total >= at_least

    wait_for(check, 120, interval=0.05, what="the run to be under way")


def _finished(run):
    return lambda: run.refresh_from_db() or run.state in ImportRun.FINISHED_STATES


@needs_redis_server
@pytest.mark.parametrize(
    "concurrency, rows",
    [
        # Two pool processes: the coordinator ships chunks all along and its next publish fails.
        (2, 400_000),
        # A lone one: it writes the chunks itself after the first shipped one, which is lost
        # with the broker; the run learns of the outage when it checks the broker at its end.
        (1, 150_000),
    ],
    ids=["shipping", "lone-worker"],
)
def test_broker_gone_mid_run_fails_the_run_within_seconds_naming_the_broker(
    start_worker, wh_datasource, warehouse, settings, private_redis, concurrency, rows
):
    url, redis = private_redis
    settings.IMPORT_BATCH_SIZE, settings.IMPORT_CHUNK_SIZE = 500, 2000
    warehouse.add_profiles(rows)
    imp = make_profile_import(wh_datasource)
    worker = start_worker(concurrency=concurrency, extra_env={"CELERY_BROKER_URL": url})
    run = services.run_now(imp)
    _wait_mid_run(run, 5000)

    redis.kill()
    redis.wait(10)
    gone = time.monotonic()
    wait_for(_finished(run), 90, interval=0.1, what="the run to fail")
    took = time.monotonic() - gone

    worker.assert_alive()
    assert run.state == State.FAILED, (run.state, run.error)
    assert run.error_kind == "broker"
    assert run.error.startswith(runs.QUEUE_DOWN), run.error
    assert runs.WORKER_LOST not in run.error
    # The coordinator retries for the grace period, then fails the run: far sooner than the
    # reaper, which would only have said "worker lost".
    assert runs.OUTAGE_GRACE_SECONDS <= took < 60, took
    assert took < django_settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS / 3
    # A profile run keeps what it merged, and its counters say exactly that.
    assert 5000 <= run.total <= rows
    assert RecordResult.objects.filter(run=run).count() == run.total
    assert RecordResult.objects.filter(run=run, success=False).count() == run.failed
    imp.refresh_from_db()
    assert imp.current_run is None


def _store_pids(admin) -> list[int]:
    """Every session on the test database but the test's own ones: the worker's."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
        [connection.settings_dict["NAME"], _own_pid()],
    ).fetchall()
    return [pid for (pid,) in rows]


def _own_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(admin, pids: list[int]) -> None:
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def store_admin(transactional_db):
    """A connection to the maintenance database (tests using it are marked `postgres`)."""
    # On the maintenance database: PostgreSQL refuses to close the one it is connected to.
    info = psycopg.conninfo.conninfo_to_dict(_database_url())
    info["dbname"] = "postgres"
    admin = psycopg.connect(**info, autocommit=True)
    yield admin
    admin.execute(
        f'ALTER DATABASE "{connection.settings_dict["NAME"]}" WITH ALLOW_CONNECTIONS true'
    )
    admin.close()


@pytest.mark.postgres
@postgres_store
def test_store_blip_mid_run_is_ridden_out_with_exact_totals(
    start_worker, wh_datasource, warehouse, settings, store_admin
):
    rows = 60_000
    settings.IMPORT_BATCH_SIZE, settings.IMPORT_CHUNK_SIZE = 500, 5000
    warehouse.add_profiles(rows)
    imp = make_profile_import(wh_datasource)
    start_worker(concurrency=2)
    run = services.run_now(imp)
    _wait_mid_run(run, 2000)

    pids = _store_pids(store_admin)
    assert pids  # the worker's connections
    _terminate(store_admin, pids)
    wait_for(_finished(run), 120, what="the run to finish")

    assert run.state == State.COMPLETED, (run.state, run.error)
    assert (run.total, run.failed) == (rows, expected_bad_profiles(rows))
    assert run.successful == rows - run.failed
    assert RecordResult.objects.filter(run=run).count() == rows
    assert RecordResult.objects.filter(run=run, success=False).count() == run.failed


@pytest.mark.postgres
@postgres_store
def test_store_gone_past_the_grace_fails_the_run_naming_the_store_once_it_is_back(
    start_worker, wh_datasource, warehouse, settings, store_admin
):
    settings.IMPORT_BATCH_SIZE, settings.IMPORT_CHUNK_SIZE = 500, 5000
    warehouse.add_profiles(300_000)
    imp = make_profile_import(wh_datasource)
    worker = start_worker(concurrency=1)
    run = services.run_now(imp)
    _wait_mid_run(run, 2000)

    # The store refuses the worker for longer than the grace period: no new sessions, and the
    # open ones are ended (the test keeps its own two).
    name = connection.settings_dict["NAME"]
    store_admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    gone = time.monotonic()
    _terminate(store_admin, _store_pids(store_admin))
    time.sleep(runs.OUTAGE_GRACE_SECONDS + 5)
    run.refresh_from_db()
    assert run.state == State.RUNNING  # nobody could write anything meanwhile
    store_admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    wait_for(_finished(run), 60, interval=0.1, what="the run to fail")
    took = time.monotonic() - gone

    worker.assert_alive()
    assert run.state == State.FAILED, (run.state, run.error)
    assert run.error_kind == "store"
    assert run.error.startswith(runs.STORE_DOWN), run.error
    assert took < django_settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS / 3, took
    assert RecordResult.objects.filter(run=run).count() == run.total
