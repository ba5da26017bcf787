"""A store write that fails keeps the record's data out of its error: PostgreSQL quotes the
offending row in DETAIL and CONTEXT (and some first lines end with the value), and that text
would otherwise reach the logs and the run's error detail (`imports.store.row_data_withheld`)."""

from __future__ import annotations

import logging
import traceback

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from imports import pipeline, store
from imports.models import ImportRun
from imports.runs import fail_on_error, snapshot
from tests import factories
from tests.engine.conftest import make_profile_import
from validation import validate_batch

SECRET = "ada.lovelace@example.com"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the store is not PostgreSQL"),
]


def _records_writer(run_id: int, identity: str):
    return store.record_columns_writer(
        run_id, [1], [True], [identity], ["Charged"], ["[]"], [""], source_rows={}
    )


def _raised(fn) -> BaseException:
    with pytest.raises(Exception) as info, transaction.atomic():
        with store.row_data_withheld():
            fn()
    return info.value


def test_a_copy_refused_for_a_value_keeps_its_class_and_sqlstate_but_not_the_row(wh_datasource):
    run = factories.make_run(make_profile_import(wh_datasource), state="running")
    too_long = SECRET + "x" * 1200  # the identity column holds 1,100 characters
    write = _records_writer(run.pk, too_long)

    # What PostgreSQL says without the guard: the row, value and all.
    with pytest.raises(DataError) as bare, transaction.atomic():
        write()
    assert SECRET in str(bare.value)

    error = _raised(write)
    assert isinstance(error, DataError)  # the engine tells an outage from a bug by the class
    assert str(error) == (
        "value too long for type character varying(1100) "
        "(SQLSTATE 22001; the row's values are withheld)"
    )
    assert SECRET not in "".join(traceback.format_exception(error))


def test_a_first_line_that_ends_with_the_value_loses_the_value():
    def cast():
        with connection.cursor() as cur:
            cur.execute("SELECT %s::integer", [SECRET])

    error = _raised(cast)
    assert isinstance(error, DataError)
    assert str(error) == (
        "invalid input syntax for type integer (SQLSTATE 22P02; the row's values are withheld)"
    )


def test_a_repeated_key_names_its_constraint_and_not_the_key(wh_datasource):
    run = factories.make_run(make_profile_import(wh_datasource), state="running")
    with transaction.atomic():
        _records_writer(run.pk, SECRET)()
    error = _raised(_records_writer(run.pk, SECRET))
    assert isinstance(error, IntegrityError)
    assert 'violates unique constraint "imports_recordresult_pkey"' in str(error)
    assert "Key (" not in "".join(traceback.format_exception(error))


def test_a_failed_batch_of_the_engine_logs_and_keeps_no_row_data(wh_datasource, caplog):
    """The engine's batch write is guarded: the run's error detail and the log hold no value.
    (No validated record can fail the store this way; an identity past the column's length,
    set after validation, stands for a store that refuses a row.)"""
    imp = make_profile_import(wh_datasource)
    run = factories.make_run(imp, state="running", total=0, spec_snapshot=snapshot(imp))
    ctx = pipeline._Context(run)
    rows = [{"user_id": SECRET}]
    outcomes = validate_batch(rows, ctx.spec)
    outcomes[0].identity = SECRET + "x" * 1200
    write = pipeline.prepare_batch(ctx, 1, rows, outcomes)
    with caplog.at_level(logging.INFO), pytest.raises(DataError):
        try:
            write()
        except DataError as exc:
            logging.getLogger("imports.pipeline").exception("run %s failed", run.pk)
            fail_on_error(run.pk, exc)
            raise
    run.refresh_from_db()
    assert run.state == ImportRun.State.FAILED
    assert "SQLSTATE 22001" in run.error_detail and "SQLSTATE 22001" in caplog.text
    assert SECRET not in run.error_detail and SECRET not in caplog.text
