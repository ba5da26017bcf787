"""Chunks that read their own slice of the source: planned by the coordinator from a key or
the incremental column, read by whoever writes them, exact and idempotent whatever the order
of delivery, on DuckDB and PostgreSQL, in this process and through real workers; a source with
no order to cut ships its rows as before."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from imports import pipeline, runs, services
from imports.models import Event, Import, ImportRun
from tests import factories
from tests.engine.conftest import (
    EVENT_MAPPING,
    PG_URL,
    T0,
    expected_bad_events,
    make_event_import,
    pg_datasource,
    wait_for,
)
from tests.records import recorded_identities, recorded_rows

State = ImportRun.State


def add_keyed_events(warehouse, n: int, start: int = 0, table: str = "keyed"):
    """`event_rows(n, start)` in a DuckDB table keyed by id, inserted in shuffled order (so a
    slice that read in the order rows lie on disk would number them wrongly)."""
    warehouse._execute(
        f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, user_id VARCHAR, "
        "event VARCHAR, ts TIMESTAMPTZ, amount DOUBLE)"
    )
    warehouse._execute(
        f"INSERT INTO {table} SELECT i, 'u' || (i % 97), CASE WHEN i % 20 = 5 "
        "THEN 'App Launched' ELSE 'Charged' END, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 SECOND, i * 1.5 "
        f"FROM range({start}, {start + n}) t(i) ORDER BY hash(i)"
    )


def event_import(ds, source: str, **kwargs) -> Import:
    return factories.make_import(
        ds,
        sync_type=Import.SyncType.EVENT,
        source=source,
        mapping=EVENT_MAPPING,
        identity_column="user_id",
        event_name_column="event",
        timestamp_column="ts",
        **kwargs,
    )


def execute(imp, queue, django_capture_on_commit_callbacks, **kwargs) -> ImportRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(imp)
    pipeline.execute_run(run.pk, queue, **kwargs)
    run.refresh_from_db()
    return run


def assert_rows_in_key_order(run, n: int, start: int = 0):
    """Row k of the run is source row `start + k - 1` in key order, each recorded once; its
    event (when valid) carries that row's amount."""
    records = recorded_identities(run)
    assert sorted(records) == list(range(1, n + 1))
    assert all(records[k] == f"u{(start + k - 1) % 97}" for k in records)
    amounts = Event.objects.filter(run_code=run.code).values_list("row_number", "properties")
    assert all(p["amount"] == (start + k - 1) * 1.5 for k, p in amounts)


def test_slices_delivered_in_any_order_and_twice_write_each_row_once(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks, settings
):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 50, 20
    add_keyed_events(warehouse, 230)
    imp = event_import(wh_datasource, "keyed")
    run = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    # No rows crossed the queue: each chunk is where to read it, the chunk sizes those of
    # shipped rows (a first batch, then whole chunks, then a quarter of the rest).
    assert queue.chunks == []
    assert [s[2:4] for s in queue.slices] == [
        (1, 20),
        (21, 50),
        (71, 40),
        (111, 30),
        (141, 22),
        (163, 20),
        (183, 20),
        (203, 20),
        (223, 8),
    ]
    assert queue.slices[1][4] == {"column": "id", "then": [], "by_row": False}
    assert queue.slices[1][5] == [20, 70]  # ids 20-69: rows 21-70
    assert run.chunks_total == len(queue.slices) == pipeline.planned_chunks(230, 50, 20)
    for args in [*reversed(queue.slices), *queue.slices]:
        pipeline.process_slice(*args)
    run.refresh_from_db()
    bad = expected_bad_events(230)
    assert (run.state, run.total, run.failed, run.chunks_done) == (State.COMPLETED, 230, bad, 9)
    assert_rows_in_key_order(run, 230)


def test_a_slice_found_empty_counts_once_however_often_it_is_delivered(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks, settings
):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 50, 20
    add_keyed_events(warehouse, 230)
    imp = event_import(wh_datasource, "keyed")
    run = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    # The rows of the second slice (ids 20-69) leave the source after the plan.
    warehouse._execute("DELETE FROM keyed WHERE id >= 20 AND id < 70")
    emptied, others = queue.slices[1], [s for k, s in enumerate(queue.slices) if k != 1]
    # A worker that died after counting it but before its acknowledgement: delivered again.
    pipeline.process_slice(*emptied)
    pipeline.process_slice(*emptied)
    run.refresh_from_db()
    assert (run.chunks_done, run.empty_chunks, run.state) == (1, [21], State.RUNNING)
    for args in others[:-1]:
        pipeline.process_slice(*args)
    run.refresh_from_db()
    # Counted twice, the run would have finished here, before its last chunk was written.
    assert (run.chunks_done, run.state) == (8, State.RUNNING)
    pipeline.process_slice(*others[-1])
    run.refresh_from_db()
    assert (run.state, run.chunks_done, run.total) == (State.COMPLETED, 9, 180)
    numbers = set(recorded_rows(run))
    assert numbers == set(range(1, 21)) | set(range(71, 231))


def test_the_lone_coordinator_reads_the_slices_no_worker_took(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks, settings
):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 50, 20
    add_keyed_events(warehouse, 230)
    run = execute(event_import(wh_datasource, "keyed"), queue, django_capture_on_commit_callbacks)
    # Chunk 0 written at once, chunk 1 shipped, and as nobody took it, the rest read here.
    assert [s[1:4] for s in queue.slices] == [(1, 21, 50)]
    assert (run.state, run.total, run.chunks_total, run.chunks_done) == (State.RUNNING, 180, 9, 8)
    pipeline.process_slice(*queue.slices[0])
    pipeline.process_slice(*queue.slices[0])  # a duplicate delivery changes nothing
    run.refresh_from_db()
    assert (run.state, run.total) == (State.COMPLETED, 230)
    assert_rows_in_key_order(run, 230)


def test_a_source_without_key_ships_its_rows(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks, settings
):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 50, 20
    warehouse.add_events(230)  # no primary key, no incremental column: no order to cut
    run = execute(make_event_import(wh_datasource), queue, django_capture_on_commit_callbacks)
    assert queue.slices == [] and [c[2] for c in queue.chunks] == [21]
    pipeline.process_chunk(*queue.chunks[0])
    run.refresh_from_db()
    assert (run.state, run.total) == (State.COMPLETED, 230)


def test_incremental_slices_filter_each_slice_and_keep_the_largest_watermark(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks, settings
):
    """Cut on the incremental column of a source without key, ties broken by the whole row:
    each slice applies the `since` filter, and the watermark is the largest over all slices
    whatever order they end in."""
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 50, 20
    warehouse.add_events(200)
    warehouse.add_events(100)  # rows 0-99 twice: ties on ts, identical rows included
    imp = make_event_import(wh_datasource, incremental_column="ts")
    first = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    assert queue.slices[0][4] == {"column": "ts", "then": [], "by_row": True}
    for args in reversed(queue.slices):
        pipeline.process_slice(*args)
    first.refresh_from_db()
    imp.refresh_from_db()
    assert (first.state, first.total) == (State.COMPLETED, 300)
    assert pipeline.decode_value(imp.watermark) == T0 + timedelta(seconds=199)
    # Ts order: each of the first 100 seconds twice, then one row a second.
    stamps = [
        e.occurred_at for e in Event.objects.filter(run_code=first.code).order_by("row_number")
    ]
    assert stamps == sorted(stamps)

    warehouse.add_events(150, start=200)
    queue.slices.clear()
    second = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    assert second.since == first.watermark and second.expected_total == 150
    for args in queue.slices:
        pipeline.process_slice(*args)
    second.refresh_from_db()
    imp.refresh_from_db()
    assert (second.state, second.total) == (State.COMPLETED, 150)
    assert pipeline.decode_value(imp.watermark) == T0 + timedelta(seconds=349)


# --- Real workers ----------------------------------------------------------------------------

pg_table = f"ic_slices_{secrets.token_hex(4)}"


@pytest.fixture
def pg_events():
    """A PostgreSQL table of `event_rows`, without a key; `add(n, start)` adds rows."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {pg_table} (id integer, user_id text, event text, "
            "ts timestamptz, amount float8)"
        )

        def add(n: int, start: int = 0):
            conn.execute(
                f"INSERT INTO {pg_table} SELECT i, 'u' || (i % 97), CASE WHEN i % 20 = 5 "
                "THEN 'App Launched' ELSE 'Charged' END, "
                "'2024-01-01 00:00:00+00'::timestamptz + i * interval '1 second', i * 1.5 "
                f"FROM generate_series({start}, {start + n - 1}) AS i ORDER BY random()"
            )

        yield add
        conn.execute(f"DROP TABLE {pg_table}")


def test_a_postgres_table_is_cut_on_its_primary_key(
    db, pg_events, queue, django_capture_on_commit_callbacks, settings
):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 1000, 250
    pg_events(3000)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {pg_table} ADD PRIMARY KEY (id, user_id)")
    imp = event_import(pg_datasource(), pg_table)
    run = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    assert queue.slices[0][4] == {"column": "id", "then": ["user_id"], "by_row": False}
    for args in [*queue.slices, *queue.slices]:
        pipeline.process_slice(*args)
    run.refresh_from_db()
    assert (run.state, run.total, run.chunks_done) == (State.COMPLETED, 3000, len(queue.slices))
    assert_rows_in_key_order(run, 3000)


def test_a_postgres_table_ships_rows_while_its_incremental_column_has_no_index(
    db, pg_events, queue, django_capture_on_commit_callbacks, settings
):
    """Every slice of an unindexed column would read the whole table (N chunks, N scans): the
    run ships rows from its one read instead. Indexed, the column cuts the table into slices."""
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 1000, 250
    pg_events(3000)
    imp = event_import(pg_datasource(), pg_table, incremental_column="ts")
    first = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    assert queue.slices == []
    assert len(queue.chunks) == first.chunks_total > 1
    for args in queue.chunks:
        pipeline.process_chunk(*args)
    first.refresh_from_db()
    assert (first.state, first.total) == (State.COMPLETED, 3000)

    pg_events(2000, start=3000)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX ON {pg_table} (ts)")
    queue.chunks.clear()
    second = execute(imp, queue, django_capture_on_commit_callbacks, ship_every_chunk=True)
    assert queue.chunks == []
    assert queue.slices[0][4] == {"column": "ts", "then": [], "by_row": True}
    for args in queue.slices:
        pipeline.process_slice(*args)
    second.refresh_from_db()
    assert (second.state, second.total) == (State.COMPLETED, 2000)
    assert_rows_in_key_order(second, 2000, start=3000)


def _finished(run):
    def check():
        run.refresh_from_db()
        return run.state in ImportRun.FINISHED_STATES

    return check


def _slice_tasks(worker) -> int:
    return worker.log.read_text(errors="replace").count("imports.process_slice[")


@pytest.mark.slow
def test_two_workers_read_their_own_slices_of_a_query_with_exact_totals(
    start_worker, pg_events, settings
):
    """A query source on PostgreSQL, incremental: cut on its incremental column (wrapped as a
    subquery), read by the two processes' own connections; the second run reads only rows
    past the first's watermark, slice by slice."""
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 1000, 250
    pg_events(6000)
    source = f"SELECT id, user_id, event, ts, amount FROM {pg_table} WHERE amount >= 0"
    imp = event_import(pg_datasource(), source, incremental_column="ts")
    worker = start_worker(concurrency=2)
    first = services.run_now(imp)
    wait_for(_finished(first), 180, what="first run")
    assert (first.state, first.total) == (State.COMPLETED, 6000)
    assert first.failed == expected_bad_events(6000)
    assert_rows_in_key_order(first, 6000)
    assert _slice_tasks(worker) > 0  # chunks went out as slices, not as rows
    imp.refresh_from_db()
    assert pipeline.decode_value(imp.watermark) == T0 + timedelta(seconds=5999)

    pg_events(3000, start=6000)
    second = services.run_now(imp)
    wait_for(_finished(second), 180, what="second run")
    assert (second.state, second.expected_total, second.total) == (State.COMPLETED, 3000, 3000)
    assert_rows_in_key_order(second, 3000, start=6000)
    imp.refresh_from_db()
    assert pipeline.decode_value(imp.watermark) == T0 + timedelta(seconds=8999)


@pytest.mark.slow
def test_kill_9_of_slice_readers_then_a_rerun_loses_and_duplicates_nothing(
    start_worker, wh_datasource, warehouse, settings
):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 1000, 100
    add_keyed_events(warehouse, 20_000)
    imp = event_import(wh_datasource, "keyed")
    worker = start_worker(concurrency=2)
    lost = services.run_now(imp)

    def under_way():
        lost.refresh_from_db()
        assert lost.state in (State.QUEUED, State.RUNNING), f"run ended early: {lost.state}"
        return lost.total >= 3000 and _slice_tasks(worker) > 0

    wait_for(under_way, 120, interval=0.05, what="run to be under way")
    worker.kill_hard()
    later = timezone.now() + timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert runs.reap_lost_runs(now=later) == 1

    worker = start_worker(concurrency=2)
    rerun = services.run_now(imp)
    finished = _finished(rerun)

    def rerun_finished():
        worker.assert_alive()
        return finished()

    wait_for(rerun_finished, 180, what="re-run")
    good = 20_000 - expected_bad_events(20_000)
    assert (rerun.state, rerun.total, rerun.successful) == (State.COMPLETED, 20_000, good)
    assert Event.objects.count() == good
    assert_rows_in_key_order(rerun, 20_000)


@pytest.mark.slow
def test_stop_mid_run_stops_the_slice_readers(start_worker, wh_datasource, warehouse, settings):
    settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = 1000, 100
    add_keyed_events(warehouse, 20_000)
    imp = event_import(wh_datasource, "keyed")
    worker = start_worker(concurrency=2)
    run = services.run_now(imp)

    def under_way():
        run.refresh_from_db()
        assert run.state in (State.QUEUED, State.RUNNING), f"run ended early: {run.state}"
        return run.total >= 3000 and _slice_tasks(worker) > 0

    wait_for(under_way, 120, interval=0.05, what="run to be under way")
    assert services.stop_import(imp) is True

    def settled():  # the counters stop moving once the chunks in flight see the state
        before = run.total
        time.sleep(1.5)
        run.refresh_from_db()
        return run.total == before

    wait_for(settled, 30, what="chunks in flight to stop")
    assert run.state == State.STOPPED and 0 < run.total < 20_000
    assert len(recorded_rows(run)) == run.total
    imp.refresh_from_db()
    assert (imp.status, imp.current_run) == (Import.Status.STOPPED, None)
