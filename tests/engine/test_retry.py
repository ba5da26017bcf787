"""Retry failed records (issue 17, item 3), in one process: a retry run reads the kept source
rows of a run's failed records, validates them with the current mapping, imports those that
pass (events once), and counts the rows it could not retry."""

from __future__ import annotations

import pytest

from imports import pipeline, retry, services
from imports.models import Event, Import, ImportRun, Profile, RecordResult
from tests import factories
from tests.engine.test_engine import run_inline


@pytest.fixture
def run_once(request, django_capture_on_commit_callbacks):
    """Run an import now, in this process (test_engine's `run_inline`)."""
    captured = request.getfixturevalue("queue")
    return lambda imp: run_inline(imp, django_capture_on_commit_callbacks, captured)


State = ImportRun.State
DATE_FIELD = {"column": "signed", "target": "signed_on", "type": "Date", "date_format": None}


def _mapping(sync_type: str, date_format: str | None) -> dict:
    mapping = {
        "sync_type": sync_type,
        "identity_column": "user_id",
        "identity_kind": "identity",
        "event_name_column": "event" if sync_type == "event" else None,
        "timestamp_column": None,
        "timestamp_format": None,
        "fields": [DATE_FIELD | {"date_format": date_format}],
    }
    return mapping


@pytest.fixture
def dotted_dates(warehouse, wh_datasource):
    """An import of 30 rows whose date column holds `31.12.2024`-style dates: without a date
    format every row fails, row 7 also on its identity."""

    def make(sync_type: str = "profile", rows: int = 30) -> Import:
        warehouse._execute(
            "CREATE TABLE signups AS SELECT CASE WHEN i = 7 THEN 'null' ELSE 'u' || i END "
            "AS user_id, 'Signed Up' AS event, lpad(CAST(1 + i % 28 AS VARCHAR), 2, '0') "
            f"|| '.12.2024' AS signed FROM range(1, {rows + 1}) t(i)"
        )
        return factories.make_import(
            wh_datasource,
            sync_type=sync_type,
            source="signups",
            mapping=_mapping(sync_type, None),
            identity_column="user_id",
            event_name_column="event" if sync_type == "event" else "",
        )

    return make


def _retry(imp, run, editor=None, capture=None) -> ImportRun:
    with capture(execute=True):
        new = services.retry_failed(imp, run, editor)
    pipeline.execute_run(new.pk)
    new.refresh_from_db()
    imp.refresh_from_db()
    return new


def _set_format(imp: Import, fmt: str) -> None:
    imp.mapping = _mapping(imp.sync_type, fmt)
    imp.save(update_fields=["mapping"])


@pytest.mark.django_db
def test_a_retry_imports_what_the_fixed_mapping_now_accepts_and_health_recovers(
    run_once,
    dotted_dates,
    django_capture_on_commit_callbacks,
):
    imp = dotted_dates()
    first = run_once(imp)
    assert (first.total, first.failed, imp.health_band) == (30, 30, "red")

    _set_format(imp, "dd.MM.yyyy")
    again = _retry(imp, first, capture=django_capture_on_commit_callbacks)
    assert (again.trigger, again.retry_of, again.state) == ("retry", first, State.COMPLETED)
    assert (again.expected_total, again.total, again.successful, again.failed) == (30, 30, 29, 1)
    assert again.not_retried is None and again.since is None
    assert (imp.health_run, imp.health_band, imp.health_hundredths) == (
        again,
        "yellow",
        9666,
    )  # 29 of 30, floored
    assert Profile.objects.filter(identity="u3").get().properties == {
        "signed_on": "2024-12-04T00:00:00+00:00"
    }
    # Its own records, numbered 1..n in the retried run's order; the one still failing keeps
    # its row, so it can be retried again.
    still = RecordResult.objects.get(run=again, success=False)
    assert still.row_number == 7 and still.identity == "null"
    assert retry.retriable(again.pk).kept == 1


@pytest.mark.django_db
def test_a_retry_of_a_retry_never_imports_an_event_twice(
    run_once,
    dotted_dates,
    django_capture_on_commit_callbacks,
):
    imp = dotted_dates("event", rows=10)
    first = run_once(imp)
    assert first.failed == 10
    _set_format(imp, "dd.MM.yyyy")
    second = _retry(imp, first, capture=django_capture_on_commit_callbacks)
    assert (second.successful, second.failed) == (9, 1)
    assert Event.objects.filter(import_id=imp.pk).count() == 9

    # The same failures retried once more (the original run's), and the retry's own.
    third = _retry(imp, first, capture=django_capture_on_commit_callbacks)
    assert (third.total, third.successful, third.already_imported, third.failed) == (10, 0, 9, 1)
    fourth = _retry(imp, second, capture=django_capture_on_commit_callbacks)
    assert (fourth.total, fourth.successful, fourth.failed) == (1, 0, 1)
    assert Event.objects.filter(import_id=imp.pk).count() == 9


@pytest.mark.django_db
def test_rows_not_kept_are_counted_as_not_retried_with_the_reason(
    run_once,
    dotted_dates,
    warehouse,
    django_capture_on_commit_callbacks,
    settings,
):
    imp = dotted_dates(rows=4)
    warehouse._execute("INSERT INTO signups VALUES ('u99', 'Signed Up', repeat('9', 20000))")
    first = run_once(imp)
    assert retry.retriable(first.pk) == retry.Retriable(kept=4, too_large=1, not_kept=0)
    settings.IMPORT_KEEP_FAILED_VALUES = "off"
    off = run_once(imp)

    _set_format(imp, "dd.MM.yyyy")
    again = _retry(imp, first, capture=django_capture_on_commit_callbacks)
    assert (again.total, again.successful, again.not_retried) == (4, 4, {"too_large": 1})
    assert retry.not_retried_notes(again.not_retried) == [
        "1 failed record not retried: the source row was larger than 16 KB, so it was not kept."
    ]
    nothing = _retry(imp, off, capture=django_capture_on_commit_callbacks)
    assert (nothing.state, nothing.total, nothing.not_retried) == (
        State.COMPLETED,
        0,
        {"not_kept": 5},
    )
    assert nothing.health.band == "blank"


@pytest.mark.django_db
def test_a_retry_is_refused_while_a_run_is_in_progress_or_without_failures(
    run_once,
    dotted_dates,
    django_capture_on_commit_callbacks,
):
    imp = dotted_dates(rows=3)
    first = run_once(imp)
    busy = factories.make_run(imp, state=State.RUNNING)
    Import.objects.filter(pk=imp.pk).update(current_run=busy)
    with pytest.raises(services.ActionRefused, match="already in progress"):
        services.retry_failed(imp, first)
    clean = factories.make_run(imp, state=State.COMPLETED, total=3)
    with pytest.raises(services.ActionRefused, match="no failed records"):
        services.retry_failed(imp, clean)
    with pytest.raises(services.ActionRefused, match="completed run"):
        services.retry_failed(imp, busy)


@pytest.mark.django_db
def test_stop_ends_a_retry_between_batches_with_its_partial_counts(
    run_once,
    dotted_dates,
    django_capture_on_commit_callbacks,
    settings,
    monkeypatch,
):
    imp = dotted_dates(rows=6)
    first = run_once(imp)
    settings.IMPORT_BATCH_SIZE = 2
    kept_rows = retry.kept_rows

    def stopping_after_the_first_batch(run_id, batch_size):
        for n, batch in enumerate(kept_rows(run_id, batch_size)):
            if n == 1:
                services.stop_import(imp)
            yield batch

    monkeypatch.setattr(retry, "kept_rows", stopping_after_the_first_batch)
    _set_format(imp, "dd.MM.yyyy")
    again = _retry(imp, first, capture=django_capture_on_commit_callbacks)
    assert (again.state, again.partial, again.total) == (State.STOPPED, True, 2)
    assert RecordResult.objects.filter(run=again).count() == 2
    assert imp.current_run is None and imp.status == Import.Status.STOPPED
