"""Event keys through a real `celery worker` on PostgreSQL and Redis: a re-run of an event import
appends no event twice, and the rows it refuses count as already imported (issue 15 item 1)."""

from __future__ import annotations

import pytest

from imports import services
from imports.models import Event, Import, ImportRun, RecordResult
from tests import factories
from tests.engine.conftest import EVENT_MAPPING, expected_bad_events, make_event_import, wait_for
from tests.records import recorded_rows

State = ImportRun.State
pytestmark = pytest.mark.slow


@pytest.fixture
def small_chunks(settings):
    # Several chunks and batches per run, so the fan-out to the worker's two processes is used.
    settings.IMPORT_CHUNK_SIZE = 1000
    settings.IMPORT_BATCH_SIZE = 250


def _run(imp: Import) -> ImportRun:
    run = services.run_now(imp)

    def finished():
        run.refresh_from_db()
        return run.state in ImportRun.FINISHED_STATES

    wait_for(finished, 120, what=f"run {run.pk}")
    imp.refresh_from_db()
    return run


def _counts(run: ImportRun) -> tuple:
    return (run.state, run.total, run.successful, run.failed, run.already_imported)


def test_rerun_of_an_unchanged_table_imports_no_event_twice(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_events(3000)
    imp = make_event_import(wh_datasource)
    start_worker(concurrency=2)
    bad = expected_bad_events(3000)

    first = _run(imp)
    assert _counts(first) == (State.COMPLETED, 3000, 3000 - bad, bad, 0)
    second = _run(imp)
    assert _counts(second) == (State.COMPLETED, 3000, 0, bad, 3000 - bad)
    assert Event.objects.filter(import_id=imp.pk).count() == 3000 - bad
    assert Event.objects.filter(run_code=second.code).count() == 0
    # Health over the rows not imported before: only the invalid ones are new, and they failed.
    assert (imp.health_band, imp.health_hundredths) == ("red", 0)
    flagged = RecordResult.objects.filter(run=second, already_imported=True)
    assert flagged.count() == 3000 - bad
    assert not flagged.filter(success=False).exists()  # not failures: out of the Failed filter
    # None of its rows is in Event, so each has a record: batches' first rows flagged in place,
    # the rest recorded once the store refused them.
    assert recorded_rows(second) == list(range(1, 3001))

    # New rows in the table: only they are imported; the old ones are already imported.
    warehouse.add_events(500, start=3000)
    third = _run(imp)
    new_bad = expected_bad_events(500, start=3000)
    assert _counts(third) == (State.COMPLETED, 3500, 500 - new_bad, bad + new_bad, 3000 - bad)
    assert Event.objects.filter(import_id=imp.pk).count() == 3500 - bad - new_bad
    assert recorded_rows(third) == list(range(1, 3501))
    assert (imp.health_band, imp.health_hundredths) == (
        "yellow",
        (500 - new_bad) * 10000 // (500 + bad),
    )


def test_a_table_read_again_with_no_new_rows_is_blank_with_the_reason(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_events(1200)
    warehouse._execute("DELETE FROM events WHERE id % 20 = 5")  # every row valid
    imp = make_event_import(wh_datasource)
    start_worker(concurrency=2)
    valid = 1200 - expected_bad_events(1200)

    first = _run(imp)
    assert (first.successful, first.health_note) == (valid, "")
    second = _run(imp)
    assert _counts(second) == (State.COMPLETED, valid, 0, 0, valid)
    assert second.health.label == "Blank"
    assert second.health_note == f"all {valid:,} rows were already imported"
    assert imp.health_band == "blank"
    assert Event.objects.filter(import_id=imp.pk).count() == valid


def test_rows_repeated_within_one_run_are_imported_once(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_events(1500)
    warehouse.add_events(1500)  # the same 1,500 rows again, in other chunks
    imp = make_event_import(wh_datasource)
    start_worker(concurrency=2)
    bad = expected_bad_events(1500)

    run = _run(imp)
    assert _counts(run) == (State.COMPLETED, 3000, 1500 - bad, 2 * bad, 1500 - bad)
    assert Event.objects.filter(import_id=imp.pk).count() == 1500 - bad
    # The other import of the same table has keys of its own.
    other = make_event_import(wh_datasource, nickname="Same table again")
    assert _run(other).successful == 1500 - bad
    assert Event.objects.count() == 2 * (1500 - bad)


def test_a_chosen_key_column_decides_what_is_already_imported(
    start_worker, wh_datasource, warehouse, small_chunks
):
    warehouse.add_events(1000)
    imp = factories.make_import(
        wh_datasource,
        sync_type=Import.SyncType.EVENT,
        source="events",
        mapping={**EVENT_MAPPING, "event_key_column": "id"},
        identity_column="user_id",
        event_name_column="event",
        timestamp_column="ts",
    )
    start_worker(concurrency=2)
    bad = expected_bad_events(1000)
    assert _run(imp).successful == 1000 - bad

    # Same ids with other amounts: the key column says they are the same events.
    warehouse._execute("UPDATE events SET amount = amount + 1")
    warehouse._execute("UPDATE events SET id = NULL WHERE id IN (0, 1)")
    run = _run(imp)
    assert _counts(run) == (State.COMPLETED, 1000, 0, bad + 2, 1000 - bad - 2)
    missing = RecordResult.objects.filter(run=run, error_keys__contains="|id:missing_event_key|")
    assert missing.count() == 2
    assert Event.objects.filter(import_id=imp.pk).count() == 1000 - bad
