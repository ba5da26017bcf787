"""`imports.wizard`, the wizard's logic without its pages: pre-fill, the source checks, the
warehouse calls' errors, the dry run and the copy; and the step forms' partial save."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors import Column
from imports import wizard
from imports.forms import ScheduleForm
from imports.models import Import
from tests import factories
from validation import FieldMapping, MappingError, MappingSpec, validate_record


@pytest.mark.parametrize(
    ("warehouse_type", "data_type"),
    [
        ("INTEGER", "integer"),
        ("BIGINT", "integer"),
        ("int8", "integer"),
        ("NUMBER(38,0)", "integer"),
        ("NUMBER(10,2)", "float"),
        ("DECIMAL(18,3)", "float"),
        ("DOUBLE", "float"),
        ("float8", "float"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
        ("TIMESTAMP WITH TIME ZONE", "date"),
        ("DATETIME", "date"),
        ("TIME", "string"),
        ("VARCHAR", "string"),
        ("UUID", "string"),
        ("", "string"),
    ],
)
def test_the_prefilled_data_type_follows_the_connectors_column_kind(warehouse_type, data_type):
    assert wizard.suggest_target(Column("c", warehouse_type)) == ("c", data_type)


def test_a_time_of_day_is_prefilled_as_a_type_that_accepts_it():
    column = Column("opens_at", "TIME")
    _, data_type = wizard.suggest_target(column)
    spec = MappingSpec(
        sync_type="profile",
        identity_column="id",
        fields=[FieldMapping(column.name, column.name, data_type)],
    )
    assert validate_record({"id": "u1", "opens_at": dt.time(9, 30)}, spec).ok


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("Date of Birth", ("DOB", "date")),
        ("EMAIL", ("Email", "string")),
        ("msg-dnd-phone", ("MSG-dndPhone", "boolean")),
        ("x" * 100, ("x" * 100, "string")),
    ],
)
def test_standard_targets_are_recognised_by_name(name, suggestion):
    assert wizard.suggest_target(Column(name, "VARCHAR")) == suggestion


@pytest.mark.django_db
def test_saved_rows_win_over_suggestions_and_only_they_are_ticked(duck):
    imp = factories.make_import(
        duck,
        mapping={
            "sync_type": "profile",
            "identity_column": "user_id",
            "fields": [{"column": "age", "target": "Age", "type": "Float", "date_format": None}],
        },
    )
    columns = [Column("user_id", "VARCHAR"), Column("age", "INTEGER"), Column("dob", "DATE")]
    rows = wizard.initial_rows(imp, columns, {"user_id"})
    assert [(r["column"], r["include"], r["target"], r["data_type"]) for r in rows] == [
        ("user_id", False, "user_id", "string"),
        ("age", True, "Age", "float"),
        ("dob", False, "DOB", "date"),
    ]


@pytest.mark.django_db
def test_a_first_mapping_ticks_every_column_but_the_special_ones(duck):
    imp = factories.make_import(duck)
    columns = [Column("user_id", "VARCHAR"), Column("age", "INTEGER")]
    rows = wizard.initial_rows(imp, columns, {"user_id"})
    assert [(r["column"], r["include"]) for r in rows] == [("user_id", False), ("age", True)]


def test_build_mapping_refusal_names_the_column():
    imp = Import(sync_type="profile", identity_column="user_id", identity_kind="identity")
    rows = [{"column": "a", "target": "x.y", "data_type": "string", "date_format": ""}]
    with pytest.raises(MappingError) as refused:
        wizard.build_mapping(imp, rows)
    assert refused.value.field == "a"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (wizard.WarehouseAnswer(error="no such table"), "could not read this source: no such"),
        (wizard.WarehouseAnswer(value=[]), "The source has no columns to map."),
        (
            wizard.WarehouseAnswer(value=[Column("id", "INT"), Column("id", "INT")]),
            "more than one column named “id”",
        ),
        (wizard.WarehouseAnswer(value=[Column("id", "INT")]), ""),
    ],
)
def test_unmappable_says_why(answer, problem):
    if problem:
        assert problem in wizard.unmappable(answer)
    else:
        assert wizard.unmappable(answer) == ""


def test_too_many_columns_only_beyond_the_maximum(settings):
    settings.IMPORT_MAX_MAPPING_COLUMNS = 3
    assert wizard.too_many_columns(3) == ""
    assert "The source has 4 columns; Import Center maps at most 3." in wizard.too_many_columns(4)


@pytest.mark.django_db
def test_an_undecryptable_secret_is_said_not_raised(duck):
    duck.secret_encrypted = "not-a-fernet-token"
    answer = wizard.ask_warehouse(duck, wizard.connection_warnings)
    assert answer.kind == "config"
    assert "cannot be decrypted with the configured FIELD_ENCRYPTION_KEY" in answer.error


@pytest.mark.django_db
def test_a_bug_in_a_warehouse_call_is_not_passed_off_as_a_warehouse_error(duck):
    def broken(connector):
        raise RuntimeError("a bug of ours")

    with pytest.raises(RuntimeError):
        wizard.ask_warehouse(duck, broken)


@pytest.mark.django_db
def test_dry_run_of_a_malformed_mapping_says_save_the_mapping(duck):
    imp = factories.make_import(duck, mapping={"sync_type": "profile"})
    result = wizard.dry_run(imp, 10)
    assert result.error == "The mapping is incomplete: save the Mapping step first."


@pytest.mark.django_db
def test_dry_run_groups_errors_by_field_and_code_with_examples(event_import_of):
    result = wizard.dry_run(event_import_of(), 100)
    assert (result.total, result.successful, result.failed_count) == (4, 2, 2)
    assert [row["row_number"] for row in result.failed_rows] == [2, 3]
    groups = sorted(
        (g["field"], g["count"], [e["value"] for e in g["examples"]]) for g in result.error_groups
    )
    assert groups == [("event_name", 1, ["Added.to.cart"]), ("event_name", 1, ["App Launched"])]


@pytest.mark.django_db
def test_a_copy_takes_the_configuration_and_starts_as_a_draft(editor, event_import_of):
    original = event_import_of(nickname="Original", watermark={"x": 1})
    copy = wizard.draft_copy(original, editor)
    assert copy.pk is None and copy.nickname == ""
    assert copy.status == Import.Status.DRAFT and copy.created_by == editor
    assert copy.mapping == original.mapping and copy.interval_every == original.interval_every
    assert copy.watermark is None


@pytest.mark.django_db
def test_a_step_saves_only_its_own_fields(duck, editor):
    imp = factories.make_import(duck, status=Import.Status.SCHEDULED)
    # The run engine changes the status after the page loaded the import.
    Import.objects.filter(pk=imp.pk).update(status=Import.Status.PAUSED, source="changed")
    form = ScheduleForm(
        {"schedule_kind": "interval", "interval_every": "2", "interval_unit": "hours"}
        | {"schedule_timezone": "UTC", "custom_mode": "weekdays"},
        instance=imp,
    )
    assert form.is_valid(), form.errors
    form.instance.updated_by = editor
    form.save()
    imp.refresh_from_db()
    assert (imp.interval_every, imp.interval_unit) == (2, "hours")
    assert imp.status == Import.Status.PAUSED and imp.source == "changed"
    assert imp.updated_by == editor


@pytest.mark.django_db
def test_next_run_times_of_an_interval_too_long_to_add_raise_overflow(duck):
    imp = factories.make_import(duck, interval_every=2**31 - 1, interval_unit="weeks")
    with pytest.raises(OverflowError):
        wizard.next_run_times(imp, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
