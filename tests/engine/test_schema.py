"""Source schema per run (imports.schema): the column diff, table-tested; and in the pipeline,
the columns each run records, the difference from the previous run, and a mapped column that
disappeared failing the run with a message that names it."""

from __future__ import annotations

import pytest

from imports import pipeline, services, tasks
from imports.models import Import, ImportRun
from imports.schema import SchemaChange, diff_columns, mapped_columns, missing_message
from tests.engine.conftest import EVENT_MAPPING, make_event_import, make_profile_import

BASE = [("id", "INTEGER"), ("user_id", "VARCHAR"), ("signup_date", "DATE"), ("age", "INTEGER")]

DIFFS = [
    pytest.param(BASE, BASE, SchemaChange(), id="same"),
    pytest.param(BASE, list(reversed(BASE)), SchemaChange(), id="reordered only"),
    pytest.param(
        BASE,
        [(n, t.lower()) for n, t in BASE],
        SchemaChange(),
        id="type case is no change",
    ),
    pytest.param(
        BASE,
        [("id", "INTEGER"), ("user_id", "VARCHAR"), ("signup_date", "VARCHAR"), ("age", "INTEGER")],
        SchemaChange(retyped=(("signup_date", "DATE", "VARCHAR"),)),
        id="retyped",
    ),
    pytest.param(
        BASE,
        [*BASE, ("country", "VARCHAR")],
        SchemaChange(added=(("country", "VARCHAR"),)),
        id="added",
    ),
    pytest.param(
        BASE,
        BASE[:3],
        SchemaChange(removed=(("age", "INTEGER"),)),
        id="removed",
    ),
    pytest.param(
        BASE,
        [("id", "INTEGER"), ("user_id", "VARCHAR"), ("SignupDate", "DATE"), ("age", "INTEGER")],
        SchemaChange(renamed=(("signup_date", "SignupDate", "DATE", "DATE"),)),
        id="renamed: same name apart from case and separators",
    ),
    pytest.param(
        BASE,
        [("id", "INTEGER"), ("user_id", "VARCHAR"), ("joined_on", "DATE"), ("age", "INTEGER")],
        SchemaChange(renamed=(("signup_date", "joined_on", "DATE", "DATE"),)),
        id="renamed in place: same position, same type",
    ),
    pytest.param(
        BASE,
        [("id", "INTEGER"), ("user_id", "VARCHAR"), ("joined_on", "VARCHAR"), ("age", "INTEGER")],
        SchemaChange(added=(("joined_on", "VARCHAR"),), removed=(("signup_date", "DATE"),)),
        id="same position, other type: not a rename",
    ),
    pytest.param(
        BASE,
        [("id", "INTEGER"), ("user_id", "VARCHAR"), ("age", "INTEGER"), ("joined_on", "DATE")],
        SchemaChange(added=(("joined_on", "DATE"),), removed=(("signup_date", "DATE"),)),
        id="moved and renamed: not a rename",
    ),
    pytest.param(
        BASE,
        [("id", "BIGINT"), ("user_id", "VARCHAR"), ("age", "INTEGER"), ("email", "VARCHAR")],
        SchemaChange(
            added=(("email", "VARCHAR"),),
            removed=(("signup_date", "DATE"),),
            retyped=(("id", "INTEGER", "BIGINT"),),
        ),
        id="several at once",
    ),
    pytest.param(
        [("a", "INTEGER"), ("b", "INTEGER")],
        [("A", "VARCHAR"), ("c", "INTEGER")],
        SchemaChange(renamed=(("a", "A", "INTEGER", "VARCHAR"), ("b", "c", "INTEGER", "INTEGER"))),
        id="each column pairs once, by name first",
    ),
]


@pytest.mark.parametrize("before, after, expected", DIFFS)
def test_diff_columns(before, after, expected):
    change = diff_columns(before, after)
    assert change == expected
    assert bool(change) == bool(
        expected.added or expected.removed or expected.renamed or expected.retyped
    )
    assert SchemaChange.from_json(change.to_json()) == change


def test_phrases_and_items_say_each_difference():
    change = SchemaChange(
        added=(("country", "VARCHAR"),),
        removed=(("age", "INTEGER"),),
        renamed=(("signup_date", "joined_on", "DATE", "DATE"),),
        retyped=(("signup_date2", "DATE", "VARCHAR"),),
    )
    assert change.phrases() == [
        "the source column `signup_date2` changed type from DATE to VARCHAR",
        "the source column `signup_date` looks renamed to `joined_on`",
        "the source column `age` (INTEGER) was removed",
        "the source column `country` (VARCHAR) was added",
    ]
    assert change.items() == [
        "`signup_date2`: DATE → VARCHAR",
        "`signup_date` → `joined_on` (looks renamed)",
        "`age` (INTEGER) removed",
        "`country` (VARCHAR) added",
    ]


def test_mapped_columns_are_every_column_rows_are_read_by():
    snap = {
        "identity_column": "user_id",
        "event_name_column": "event",
        "timestamp_column": "ts",
        "mapping": {**EVENT_MAPPING, "fields": [*EVENT_MAPPING["fields"], {"column": "user_id"}]},
    }
    assert mapped_columns(snap) == ["user_id", "event", "ts", "amount"]


@pytest.mark.parametrize(
    "missing, before, expected",
    [
        (
            ["age"],
            [("age", "INTEGER")],
            "The mapped column `age` is no longer in the source (the run of 1 Jan 2024 10:00 "
            "read it). Edit the import's mapping, or restore the column in the warehouse.",
        ),
        (
            ["age", "email"],
            [("age", "INTEGER"), ("email", "VARCHAR")],
            "The mapped columns `age`, `email` are no longer in the source (the run of 1 Jan "
            "2024 10:00 read them). Edit the import's mapping, or restore the column in the "
            "warehouse.",
        ),
        (
            ["age"],
            None,
            "The mapped column `age` is not among the source's columns. Edit the import's "
            "mapping, or restore the column in the warehouse.",
        ),
    ],
)
def test_missing_message_names_the_columns(missing, before, expected):
    assert missing_message(missing, before, "1 Jan 2024 10:00") == expected


# --- In the pipeline -------------------------------------------------------------------------


@pytest.fixture
def run_inline(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks, "enqueue_run", queued.append)

    def run(imp):
        with django_capture_on_commit_callbacks(execute=True):
            run = services.run_now(imp)
        pipeline.execute_run(queued[-1])
        run.refresh_from_db()
        return run

    return run


def test_each_run_records_its_columns_and_the_change_since_the_previous_run(
    wh_datasource, warehouse, run_inline
):
    warehouse.add_profiles(20)
    imp = make_profile_import(wh_datasource)
    first = run_inline(imp)
    assert first.state == ImportRun.State.COMPLETED
    assert first.source_columns == [
        ["id", "INTEGER"],
        ["user_id", "VARCHAR"],
        ["email", "VARCHAR"],
        ["age", "VARCHAR"],
        ["updated", "TIMESTAMP WITH TIME ZONE"],
    ]
    assert first.schema_change is None  # nothing to compare with

    second = run_inline(imp)
    assert second.schema_change is None  # nothing changed

    warehouse._execute("ALTER TABLE profiles ADD COLUMN country VARCHAR")
    warehouse._execute("ALTER TABLE profiles ALTER COLUMN id TYPE BIGINT")
    third = run_inline(imp)
    assert third.state == ImportRun.State.COMPLETED
    assert SchemaChange.from_json(third.schema_change) == SchemaChange(
        added=(("country", "VARCHAR"),), retyped=(("id", "INTEGER", "BIGINT"),)
    )
    assert run_inline(imp).schema_change is None  # compared with the run just before


def test_a_mapped_column_that_disappeared_fails_the_run_naming_it(
    wh_datasource, warehouse, run_inline, settings
):
    settings.TIME_ZONE = "UTC"
    warehouse.add_profiles(20)
    imp = make_profile_import(wh_datasource)
    before = run_inline(imp)
    warehouse._execute("ALTER TABLE profiles DROP COLUMN age")
    run = run_inline(imp)

    assert run.state == ImportRun.State.FAILED
    assert run.error_kind == "schema"
    when = f"{before.created_at.day} {before.created_at:%b %Y %H:%M}"
    assert run.error == (
        f"The mapped column `age` is no longer in the source (the run of {when} read it). "
        "Edit the import's mapping, or restore the column in the warehouse."
    )
    assert (run.total, run.expected_total) == (0, None)  # failed before reading a row
    assert SchemaChange.from_json(run.schema_change) == SchemaChange(removed=(("age", "VARCHAR"),))
    imp.refresh_from_db()
    assert imp.current_run_id is None  # the import is free for its next run


def test_a_mapped_column_the_source_never_had_fails_the_first_run(
    wh_datasource, warehouse, run_inline
):
    warehouse.add_events(10)
    mapping = {**EVENT_MAPPING, "fields": [{"column": "price", "target": "price", "type": "Float"}]}
    imp = make_event_import(wh_datasource)
    Import.objects.filter(pk=imp.pk).update(mapping=mapping)
    run = run_inline(imp)
    assert run.state == ImportRun.State.FAILED
    assert run.error.startswith("The mapped column `price` is not among the source's columns.")
