"""The run engine in one process: runs, fan-out idempotency, skip, dispatch, stop, pause/resume,
reaper, retention and incremental runs. (Real-worker runs: test_worker.py.)"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from imports import pipeline, runs, services, tasks
from imports.models import Event, Import, ImportRun, Profile, RecordResult, RunErrorCount
from tests import factories
from tests.engine.conftest import (
    T0,
    Queue,
    expected_bad_events,
    expected_bad_profiles,
    make_event_import,
    make_profile_import,
    profile_rows,
)
from tests.records import recorded_rows

State = ImportRun.State


def run_inline(imp, django_capture_on_commit_callbacks, queue, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(imp)
    assert queue.runs[-1] == run.pk
    pipeline.execute_run(run.pk, queue, **kwargs)
    run.refresh_from_db()
    imp.refresh_from_db()
    return run


@pytest.fixture
def run_events(wh_datasource, warehouse, queue, django_capture_on_commit_callbacks, settings):
    """Run an event import of `rows` rows in this process, cut into chunks of `chunk` rows in
    batches of `batch`; returns (import, run)."""

    def run(rows: int, chunk: int, batch: int, **kwargs):
        settings.IMPORT_CHUNK_SIZE, settings.IMPORT_BATCH_SIZE = chunk, batch
        warehouse.add_events(rows)
        imp = make_event_import(wh_datasource)
        return imp, run_inline(imp, django_capture_on_commit_callbacks, queue, **kwargs)

    return run


def test_profile_run_writes_results_upserts_profiles_and_sets_health(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks
):
    warehouse.add_profiles(200)
    imp = make_profile_import(wh_datasource)
    run = run_inline(imp, django_capture_on_commit_callbacks, queue)

    bad = expected_bad_profiles(200)
    assert (run.state, run.expected_total, run.total) == (State.COMPLETED, 200, 200)
    assert (run.successful, run.failed) == (200 - bad, bad)
    assert RecordResult.objects.filter(run=run).count() == 200
    assert RecordResult.objects.filter(run=run, success=False).count() == bad
    failed = RecordResult.objects.get(run=run, row_number=4)  # source row 3: identity "null"
    assert failed.identity == "null"
    assert failed.errors[0]["code"] == "invalid_identity"
    assert failed.error_keys == "|user_id:invalid_identity|"
    good_ids = {r[1] for r in profile_rows(200) if r[0] % 10 not in (3, 7)}
    assert Profile.objects.count() == len(good_ids)
    counts = {(c.field, c.code): c.count for c in RunErrorCount.objects.filter(run=run)}
    assert counts == {("user_id", "invalid_identity"): 20, ("age", "not_numeric"): 20}
    assert imp.status == Import.Status.SCHEDULED
    assert imp.current_run is None and imp.last_run == run
    assert (imp.health_band, imp.health_hundredths, imp.health_run) == ("yellow", 8000, run)


def test_profile_upsert_merges_properties(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks
):
    Profile.objects.create(identity_kind="identity", identity="u1", properties={"plan": "gold"})
    warehouse.insert_profile_rows([(1, "u1", "new@example.com", "33", T0)])
    imp = make_profile_import(wh_datasource)
    run_inline(imp, django_capture_on_commit_callbacks, queue)
    profile = Profile.objects.get(identity="u1")
    assert profile.properties == {"plan": "gold", "Email": "new@example.com", "age": 33}


def test_event_run_appends_events_with_their_timestamps(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks
):
    warehouse.add_events(100)
    imp = make_event_import(wh_datasource)
    run = run_inline(imp, django_capture_on_commit_callbacks, queue)
    bad = expected_bad_events(100)
    assert (run.state, run.total, run.failed) == (State.COMPLETED, 100, bad)
    assert Event.objects.filter(run_code=run.code).count() == 100 - bad
    event = Event.objects.get(run_code=run.code, row_number=1)
    assert (event.event_name, event.occurred_at, event.properties) == (
        "Charged",
        T0,
        {"amount": 0.0},
    )
    failed = RecordResult.objects.get(run=run, row_number=6)
    assert (failed.event_name, failed.errors[0]["code"]) == ("App Launched", "system_event")


def test_an_out_of_range_timestamp_fails_its_record_not_the_run(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks
):
    # Issue 15 item 2: 'infinity' once became 9999-12-31 silently (DuckDB) or failed the whole
    # run (PostgreSQL); year 10000 cannot be a Python datetime either.
    warehouse.add_events(10)
    warehouse._execute(
        "INSERT INTO events VALUES (10, 'u1', 'Charged', 'infinity', 1.0), "
        "(11, 'u2', 'Charged', '10000-01-01 00:00:00+00', 2.0)"
    )
    imp = make_event_import(wh_datasource)
    run = run_inline(imp, django_capture_on_commit_callbacks, queue)
    bad = expected_bad_events(10)
    assert (run.state, run.total, run.failed) == (State.COMPLETED, 12, bad + 2)
    for row_number in (11, 12):
        failed = RecordResult.objects.get(run=run, row_number=row_number)
        assert [e["code"] for e in failed.errors] == ["invalid_timestamp"]
    assert Event.objects.filter(run_code=run.code).count() == 10 - bad


def test_a_long_event_name_is_stored_whole(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks
):
    # Validation sets no length for event names; the store once held 512 characters and a
    # 513-character name failed the whole run.
    long_name, just_over = "N" * 5000, "M" * 513
    warehouse._execute(
        f"INSERT INTO events VALUES (0, 'u1', '{long_name}', TIMESTAMPTZ '2024-01-01 00:00:00+00',"
        f" 1.0), (1, 'u2', '{just_over}', TIMESTAMPTZ '2024-01-01 00:00:00+00', 1.0)"
    )
    imp = make_event_import(wh_datasource)
    run = run_inline(imp, django_capture_on_commit_callbacks, queue)
    assert (run.state, run.total) == (State.COMPLETED, 2)
    assert Event.objects.get(run_code=run.code, row_number=1).event_name == long_name
    record = RecordResult.objects.get(run=run, row_number=1)
    assert record.success and record.event_name == long_name
    assert Event.objects.get(run_code=run.code, row_number=2).event_name == just_over


@pytest.mark.parametrize(
    ("remaining", "rows"),
    [
        (1_000_000, 100_000),  # plenty left: whole chunks
        (400_000, 100_000),
        (399_999, 99_999),  # then a quarter of what is left
        (100_000, 25_000),
        (40_000, 10_000),
        (39_999, 10_000),  # never less than a batch
        (5, 10_000),
        (0, 100_000),  # more rows than counted: whole chunks again
        (-7, 100_000),
    ],
)
def test_chunks_shrink_towards_the_end_of_a_run(remaining, rows):
    assert pipeline.chunk_rows(100_000, 10_000, remaining) == rows


@pytest.mark.parametrize("expected", [1, 9_999, 10_000, 100_001, 1_000_000, 1_234_567])
def test_planned_chunks_cover_the_run(expected):
    # The coordinator's first batch is chunk 0, then chunk_rows sizes.
    sizes, left = [min(expected, 10_000)], expected - min(expected, 10_000)
    while left > 0:
        sizes.append(min(left, pipeline.chunk_rows(100_000, 10_000, left)))
        left -= sizes[-1]
    assert sum(sizes) == expected
    assert pipeline.planned_chunks(expected, 100_000, 10_000) == len(sizes)
    shipped = sizes[1:]
    assert shipped == sorted(shipped, reverse=True)  # never a big chunk after a small one


def test_fanned_out_chunks_are_idempotent_in_any_order(queue, run_events):
    imp, run = run_events(230, chunk=50, batch=20, ship_every_chunk=True)
    # Whole chunks of 50 while plenty remain, then a quarter of the rest, at least a batch (20).
    assert run.state == State.RUNNING and run.chunks_total == 8
    assert [c[2] for c in queue.chunks] == [1, 51, 96, 129, 154, 174, 194, 214]
    assert [len(c[4]) for c in queue.chunks] == [50, 45, 33, 25, 20, 20, 20, 17]
    # Delivered out of order, and every chunk twice (a retry after a lost ack).
    for args in [*reversed(queue.chunks), *queue.chunks]:
        pipeline.process_chunk(*args)
    run.refresh_from_db()
    bad = expected_bad_events(230)
    assert (run.state, run.total, run.failed, run.chunks_done) == (State.COMPLETED, 230, bad, 8)
    assert recorded_rows(run) == list(range(1, 231))
    assert Event.objects.filter(run_code=run.code).count() == 230 - bad


def test_a_half_written_chunk_resumes_where_it_stopped(queue, run_events):
    imp, run = run_events(400, chunk=100, batch=25, ship_every_chunk=True)
    run_id, index, first, columns, rows = queue.chunks[0]
    assert len(rows) == 100
    # A worker died after writing the first two of chunk 0's four batches.
    ctx = pipeline._Context(ImportRun.objects.get(pk=run_id))
    for offset in (0, 25):
        batch = [dict(zip(columns, r, strict=True)) for r in rows[offset : offset + 25]]
        pipeline._validate_and_write(ctx, first + offset, batch)
    for args in queue.chunks:
        pipeline.process_chunk(*args)
    run.refresh_from_db()
    # Every chunk shipped (100, 75, 56, 42, 31, 25, 25, 25, 21), each counted done once.
    assert (run.state, run.total, run.chunks_done) == (State.COMPLETED, 400, len(queue.chunks))
    assert run.chunks_total == len(queue.chunks) == 9
    assert recorded_rows(run) == list(range(1, 401))


def test_connector_error_fails_the_run_with_its_message_and_blank_health(
    editor, queue, django_capture_on_commit_callbacks
):
    ds = factories.make_datasource(partner="duckdb", settings={"path": "/nonexistent/x.duckdb"})
    imp = make_profile_import(ds)
    run = run_inline(imp, django_capture_on_commit_callbacks, queue)
    assert run.state == State.FAILED
    assert run.error and run.error_kind
    assert run.health.label == "Blank"
    # A failed run that kept nothing: the import shows Blank (no data processed).
    assert imp.health_band == "blank" and imp.status == Import.Status.SCHEDULED


def test_due_tick_while_running_records_one_skipped_run(wh_datasource, queue):
    now = timezone.now()
    due = now - timedelta(seconds=1)
    imp = make_profile_import(wh_datasource, next_run_at=due)
    first = runs.dispatch_due(now=now, enqueue=queue.runs.append)
    assert [r.state for r in first] == [State.QUEUED]
    imp.refresh_from_db()
    assert imp.status == Import.Status.RUNNING
    later = imp.next_run_at + timedelta(minutes=1)
    second = runs.dispatch_due(now=later, enqueue=queue.runs.append)
    assert [r.state for r in second] == [State.SKIPPED]
    assert second[0].error == runs.SKIP_REASON
    imp.refresh_from_db()
    assert imp.current_run == first[0]
    assert imp.next_run_at == due + timedelta(minutes=30)  # the slot after the skipped one


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_dispatchers_start_one_run(wh_datasource, queue):
    now = timezone.now()
    imp = make_profile_import(wh_datasource, next_run_at=now - timedelta(seconds=1))
    barrier = threading.Barrier(2)
    results = []

    def dispatcher():
        barrier.wait()
        try:
            results.append(runs.dispatch_due(now=now, enqueue=queue.runs.append))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 1]
    assert ImportRun.objects.filter(import_obj=imp).count() == 1


def test_stop_mid_run_keeps_partial_counts_and_writes_nothing_more(queue, run_events):
    imp, run = run_events(150, chunk=50, batch=50, ship_every_chunk=True)
    pipeline.process_chunk(*queue.chunks[0])
    assert services.stop_import(imp) is True
    assert services.stop_import(imp) is False  # idempotent
    for args in queue.chunks[1:]:
        pipeline.process_chunk(*args)
    run.refresh_from_db()
    imp.refresh_from_db()
    assert (run.state, run.partial, run.total) == (State.STOPPED, True, 50)
    assert run.health.band == "none"
    assert len(recorded_rows(run)) == 50
    assert imp.status == Import.Status.STOPPED and imp.current_run is None
    assert imp.health_band == "none"
    with pytest.raises(services.ActionRefused):
        services.run_now(imp)


def test_pause_stops_future_runs_and_resume_recomputes_next_run(wh_datasource, queue):
    with time_machine.travel("2024-05-01 10:00:00Z", tick=False):
        imp = make_profile_import(wh_datasource)
        assert services.publish_import(imp) is False  # not a draft
        Import.objects.filter(pk=imp.pk).update(next_run_at=timezone.now())
        assert services.pause_import(imp) is True
        assert services.pause_import(imp) is False
    with time_machine.travel("2024-05-01 11:07:00Z", tick=False):
        assert runs.dispatch_due(enqueue=queue.runs.append) == []
        assert services.resume_import(imp) is True
        imp.refresh_from_db()
        assert imp.status == Import.Status.SCHEDULED
        assert imp.next_run_at.isoformat() == "2024-05-01T11:15:00+00:00"
    with time_machine.travel("2024-05-01 11:15:01Z", tick=False):
        assert [r.trigger for r in runs.dispatch_due(enqueue=queue.runs.append)] == ["schedule"]


def test_reaper_fails_a_silent_run_and_the_import_keeps_its_schedule(queue, run_events, settings):
    imp, run = run_events(120, chunk=50, batch=50, ship_every_chunk=True)
    pipeline.process_chunk(*queue.chunks[0])  # then the worker "died"
    next_run_at = Import.objects.get(pk=imp.pk).next_run_at
    assert runs.reap_lost_runs() == 0  # heartbeat is fresh
    later = timezone.now() + timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert runs.reap_lost_runs(now=later) == 1
    run.refresh_from_db()
    imp.refresh_from_db()
    assert (run.state, run.error) == (
        State.FAILED,
        f"{runs.WORKER_LOST} 50 rows were validated before the run failed; none were kept.",
    )
    assert (run.total, run.successful, run.failed, run.health.label) == (0, 0, 0, "Blank")
    assert Event.objects.filter(run_code=run.code).count() == 0  # withdrawn
    assert RecordResult.objects.filter(run=run).count() == 0  # with their records
    assert imp.status == Import.Status.SCHEDULED and imp.next_run_at == next_run_at
    assert imp.current_run is None
    pipeline.process_chunk(*queue.chunks[1])  # a late chunk writes nothing
    assert RecordResult.objects.filter(run=run).count() == 0


def test_retention_purges_old_records_and_runs_in_batches(wh_datasource, settings):
    imp = make_profile_import(wh_datasource)
    old = factories.make_run(imp, created_at=timezone.now() - timedelta(days=31))
    new = factories.make_run(imp, created_at=timezone.now() - timedelta(days=29))
    for run in (old, new):
        RecordResult.objects.bulk_create(
            RecordResult(run=run, row_number=n, success=True) for n in range(1, 26)
        )
    with CaptureQueriesContext(connection) as queries:
        assert runs.purge_old_runs(batch_size=10) == (25, 1)
    assert list(ImportRun.objects.values_list("pk", flat=True)) == [new.pk]
    assert RecordResult.objects.count() == 25
    # Each range of 10 records goes in one DELETE by key; no record is read into Python.
    records_sql = [q["sql"] for q in queries if "imports_recordresult" in q["sql"]]
    assert sum(s.startswith("DELETE") and "row_number" in s for s in records_sql) == 3
    assert not any('"identity"' in s for s in records_sql)


def test_incremental_second_run_reads_only_new_rows(
    wh_datasource, warehouse, queue, django_capture_on_commit_callbacks
):
    warehouse.add_events(40)
    imp = make_event_import(wh_datasource, incremental_column="ts")
    first = run_inline(imp, django_capture_on_commit_callbacks, queue)
    assert first.total == 40 and imp.watermark == first.watermark
    warehouse.add_events(15, start=40)
    second = run_inline(imp, django_capture_on_commit_callbacks, queue)
    assert (second.state, second.expected_total, second.total) == (State.COMPLETED, 15, 15)
    assert second.since == first.watermark
    assert Event.objects.count() == 55 - expected_bad_events(55)


def test_run_now_is_refused_for_drafts_and_while_running(wh_datasource, queue):
    draft = make_profile_import(wh_datasource, status=Import.Status.DRAFT)
    with pytest.raises(services.ActionRefused, match="Publish"):
        services.run_now(draft)
    imp = make_profile_import(wh_datasource)
    services.run_now(imp)
    with pytest.raises(services.ActionRefused, match="already in progress"):
        services.run_now(imp)
    assert ImportRun.objects.filter(import_obj=imp).count() == 1


def test_coordinator_writes_chunks_itself_while_the_shipped_one_waits(queue, run_events):
    imp, run = run_events(230, chunk=50, batch=20)
    # The coordinator wrote the first batch (rows 1-20) as soon as it read it, shipped chunk 1
    # (rows 21-70), and as no other worker took it, wrote chunks 2-8 (rows 71-230) itself.
    assert [c[2] for c in queue.chunks] == [21]
    assert (run.state, run.chunks_total, run.chunks_done, run.total) == (State.RUNNING, 9, 8, 180)
    assert recorded_rows(run)[:21] == [*range(1, 21), 71]
    pipeline.process_chunk(*queue.chunks[0])
    pipeline.process_chunk(*queue.chunks[0])  # a duplicate delivery changes nothing
    run.refresh_from_db()
    bad = expected_bad_events(230)
    assert (run.state, run.total, run.failed, run.chunks_done) == (State.COMPLETED, 230, bad, 9)
    assert recorded_rows(run) == list(range(1, 231))
    assert Event.objects.filter(run_code=run.code).count() == 230 - bad


def test_coordinator_ships_every_chunk_while_another_worker_keeps_up(
    queue, run_events, monkeypatch
):

    def put_and_take(run, *chunk):  # another worker takes every shipped chunk at once
        Queue.put(queue, run, *chunk)
        pipeline.process_chunk(run.pk, *chunk)

    monkeypatch.setattr(queue, "put", put_and_take)
    imp, run = run_events(230, chunk=50, batch=20)
    # The first batch (rows 1-20) is the coordinator's own; every chunk after it ships.
    assert [c[2] for c in queue.chunks] == [21, 71, 111, 141, 163, 183, 203, 223]
    bad = expected_bad_events(230)
    assert (run.state, run.total, run.failed, run.chunks_done) == (State.COMPLETED, 230, bad, 9)
    assert recorded_rows(run) == list(range(1, 231))


def test_cyclic_gc_pauses_while_rows_stream_and_resumes_after_the_last_one():
    import gc

    assert gc.isenabled()
    with pipeline._cyclic_gc_paused():
        assert not gc.isenabled()
        with pipeline._cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer run still streams
    assert gc.isenabled()
    with pytest.raises(RuntimeError), pipeline._cyclic_gc_paused():
        raise RuntimeError("a failing run")
    assert gc.isenabled()


@pytest.mark.parametrize(
    "error, message, kind",
    [
        (KombuOperationalError("Connection refused"), runs.QUEUE_DOWN, "broker"),
        # Import Center's own failure to publish is not named as the broker being down.
        (RuntimeError("Acquire on closed pool"), runs.UNEXPECTED, "internal"),
    ],
)
def test_a_run_that_cannot_be_enqueued_fails_naming_why(
    wh_datasource, monkeypatch, django_capture_on_commit_callbacks, error, message, kind
):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(tasks.execute_run, "apply_async", refuse)
    imp = make_profile_import(wh_datasource)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_now(imp)
    run.refresh_from_db()
    imp.refresh_from_db()
    assert (run.state, run.error, run.error_kind) == (State.FAILED, message, kind)
    assert f"{type(error).__name__}: {error}" in run.error_detail  # its traceback
    assert imp.current_run is None


def test_an_event_run_keeps_records_for_failures_and_batch_starts_and_the_pane_merges_events(
    run_events,
):
    from stats.queries import RecordFilters, records_page

    imp, run = run_events(230, chunk=1000, batch=20)
    bad = expected_bad_events(230)
    failed_rows = [i + 1 for i in range(230) if i % 20 == 5]
    assert run.successes_in_events and run.failed == bad == len(failed_rows)
    # A record for each batch's first row (the batch's idempotency marker) and each failure.
    kept = RecordResult.objects.filter(run=run).values_list("row_number", flat=True)
    assert sorted(kept) == sorted([*range(1, 231, 20), *failed_rows])
    assert Event.objects.filter(run_code=run.code).count() == 230 - bad

    def pages(result: str, q: str = "", size: int = 25) -> list:
        seen, after = [], 0
        while True:
            rows, after = records_page(run, RecordFilters(result, q=q, after=after), size)
            seen += rows
            if after is None:
                return seen

    everything = pages("all")
    assert [r.row_number for r in everything] == list(range(1, 231))
    assert [r.row_number for r in everything if not r.success] == failed_rows
    assert all(r.identity == f"u{(r.row_number - 1) % 97}" for r in everything)
    assert all(r.errors == [] for r in everything if r.success)
    assert all(r.errors for r in everything if not r.success)
    successes = pages("success", size=7)
    assert [r.row_number for r in successes] == [n for n in range(1, 231) if n not in failed_rows]
    assert [r.row_number for r in pages("failed")] == failed_rows
    # Identity "u5": source rows 5 (invalid), 102 and 199 (imported).
    assert [r.row_number for r in pages("all", q="u5", size=1)] == [6, 103, 200]
    assert [r.row_number for r in pages("success", q="u5")] == [103, 200]
    assert [r.row_number for r in pages("failed", q="u5")] == [6]
    assert pages("all", q="u5 ") == []
