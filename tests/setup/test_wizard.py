"""The create/edit import wizard: source, mapping, dry run, schedule and publish; duplicate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from imports.models import Event, Import, ImportRun, Profile, RecordResult
from tests import factories


def step_url(imp: Import, step: str) -> str:
    return reverse("imports-wizard", args=[imp.code, step])


def source_data(duck, **overrides) -> dict:
    return {
        "nickname": "Purchases",
        "datasource": str(duck.code),
        "source_kind": "table",
        "source": "events",
        **overrides,
    }


def mapping_post(columns, sync_type="event", rows=None, **overrides) -> dict:
    rows = rows or {}
    data = {
        "sync_type": sync_type,
        "identity_column": "user_id",
        "identity_kind": "identity",
        "event_name_column": "event_name" if sync_type == "event" else "",
        "timestamp_column": "created_on" if sync_type == "event" else "",
        "incremental_column": "",
        "col-TOTAL_FORMS": str(len(columns)),
        "col-INITIAL_FORMS": str(len(columns)),
        "col-MIN_NUM_FORMS": "0",
        "col-MAX_NUM_FORMS": "2000",
    }
    for i, column in enumerate(columns):
        row = {"include": "on", "target": column, "data_type": "string", "date_format": ""}
        row.update(rows.get(column, {}))
        data[f"col-{i}-column"] = column
        for key, value in row.items():
            if value is not None:
                data[f"col-{i}-{key}"] = value
    data.update(overrides)
    return data


EVENT_COLUMNS = ["user_id", "event_name", "created_on", "amount"]
EVENT_ROWS = {
    "user_id": {"include": None},
    "event_name": {"include": None},
    "created_on": {"include": None},
    "amount": {"data_type": "float"},
}


# --- access ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_redirects_to_login(client, draft):
    for url in (
        reverse("imports-create"),
        reverse("imports-edit", args=[draft.code]),
        step_url(draft, "mapping"),
        reverse("imports-duplicate", args=[draft.code]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"]


def test_outsider_and_viewer_are_refused(outsider_client, draft, viewer, client):
    for c in (outsider_client,):
        assert c.get(reverse("imports-create")).status_code == 403
        assert c.get(step_url(draft, "source")).status_code == 403
    client.force_login(viewer)
    assert client.get(reverse("imports-create")).status_code == 403
    assert client.get(step_url(draft, "source")).status_code == 403
    assert client.post(step_url(draft, "schedule"), {"publish": "1"}).status_code == 403
    assert client.get(reverse("imports-duplicate", args=[draft.code])).status_code == 403
    assert client.post(reverse("imports-preview"), {}).status_code == 403


def test_every_write_needs_the_csrf_token(editor, draft, duck):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    writes = [
        (reverse("imports-create"), source_data(duck)),
        (reverse("imports-preview"), {"datasource": str(duck.code), "source": "events"}),
        (step_url(draft, "source"), source_data(duck, nickname="Renamed")),
        (step_url(draft, "mapping"), mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS)),
        (step_url(draft, "dry-run"), {"sample_size": "10"}),
        (step_url(draft, "schedule"), {"schedule_kind": "manual", "publish": "1"}),
        (reverse("imports-schedule-preview", args=[draft.code]), {"schedule_kind": "manual"}),
        (reverse("imports-duplicate", args=[draft.code]), {"nickname": "Copy"}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code == 403, url
    draft.refresh_from_db()
    assert draft.nickname == "Draft events" and draft.mapping == {}
    assert list(Import.objects.values_list("nickname", flat=True)) == ["Draft events"]


def test_unknown_code_or_step_is_404(editor_client, draft):
    missing = "00000000-0000-0000-0000-000000000000"
    assert editor_client.get(reverse("imports-edit", args=[missing])).status_code == 404
    assert editor_client.get(reverse("imports-wizard", args=[missing, "source"])).status_code == 404
    assert (
        editor_client.get(reverse("imports-wizard", args=[draft.code, "bogus"])).status_code == 404
    )
    assert editor_client.get(reverse("imports-duplicate", args=[missing])).status_code == 404


# --- step 1: source --------------------------------------------------------------------------


def test_create_makes_a_draft_and_goes_to_mapping(editor_client, editor, duck):
    response = editor_client.post(reverse("imports-create"), source_data(duck))
    imp = Import.objects.get(nickname="Purchases")
    assert response.status_code == 302
    assert response["Location"] == step_url(imp, "mapping")
    assert imp.status == Import.Status.DRAFT
    assert imp.created_by == editor and imp.updated_by == editor
    assert imp.datasource == duck and imp.source == "events"


def test_save_as_draft_goes_back_to_listing(editor_client, duck):
    response = editor_client.post(reverse("imports-create"), {**source_data(duck), "draft": "1"})
    assert response["Location"] == reverse("imports-listing")
    assert Import.objects.get(nickname="Purchases").status == Import.Status.DRAFT


def test_nickname_unique_case_insensitively(editor_client, duck, draft):
    response = editor_client.post(
        reverse("imports-create"), source_data(duck, nickname="DRAFT EVENTS")
    )
    assert response.status_code == 200
    assert "An import with this nickname already exists." in response.content.decode()


@pytest.mark.parametrize(
    "overrides",
    [
        {"nickname": "n" * 5000},
        {"nickname": "   "},
        {"nickname": "a\x00b"},
        {"nickname": "\t\u00a0 "},
        {"datasource": "00000000-0000-0000-0000-000000000000"},
        {"datasource": "'; DROP TABLE imports_import; --"},
        {"source_kind": "shell"},
        {"source": ""},
        {"source": "x" * 200_000},
    ],
)
def test_bad_source_inputs_are_field_errors(editor_client, duck, overrides):
    response = editor_client.post(reverse("imports-create"), source_data(duck, **overrides))
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
    assert not Import.objects.exists()


def test_a_long_nickname_without_spaces_is_kept(editor_client, duck):
    response = editor_client.post(reverse("imports-create"), source_data(duck, nickname="n" * 100))
    assert response.status_code == 302
    assert Import.objects.filter(nickname="n" * 100).exists()


def test_a_refused_edit_keeps_the_saved_nickname_in_the_heading(editor_client, draft, duck):
    response = editor_client.post(
        step_url(draft, "source"), source_data(duck, nickname="Renamed", source="")
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Edit import “Draft events”" in body or "New import “Draft events”" in body
    assert 'value="Renamed"' in body  # what was typed stays in the field
    draft.refresh_from_db()
    assert draft.nickname == "Draft events"


def test_unicode_and_sql_looking_source_is_saved_as_text(editor_client, duck):
    source = "SELECT * FROM events WHERE event_name = 'café ☕'; DROP TABLE x"
    response = editor_client.post(
        reverse("imports-create"),
        # As a draft: "Save and continue" would ask the warehouse, which refuses two statements.
        {
            **source_data(duck, nickname="Ünïcødé 导入", source_kind="query", source=source),
            "draft": "1",
        },
    )
    assert response.status_code == 302
    assert Import.objects.get(nickname="Ünïcødé 导入").source == source


def preview(client, ds, source: str, kind: str = "query"):
    """ "Preview results", as the source step's button posts it (htmx)."""
    data = {"datasource": str(ds.code), "source_kind": kind, "source": source}
    return client.post(reverse("imports-preview"), data, HTTP_HX_REQUEST="true")


def test_preview_shows_rows_and_types(editor_client, duck):
    response = preview(editor_client, duck, "events", "table")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "first 4 rows" in body
    assert "Added.to.cart" in body
    assert "TIMESTAMP" in body and "DOUBLE" in body


def test_preview_shows_warehouse_error_inline(editor_client, duck):
    response = preview(editor_client, duck, "no_such_table", "table")
    assert response.status_code == 200
    assert "The warehouse returned an error." in response.content.decode()


@pytest.mark.parametrize(
    "source", ["DELETE FROM events", "events; drop table events", "SELECT 1; SELECT 2", '"x' * 50]
)
def test_preview_refuses_dangerous_sources_without_500(editor_client, duck, source):
    response = preview(editor_client, duck, source, "query")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Import Center refused this source before sending it to the warehouse" in body
    assert "The warehouse returned an error." not in body


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("SELEC * FROM events", "it starts with SELEC, not SELECT or WITH."),
        ("DROP TABLE x", "it starts with DROP, not SELECT or WITH."),
        ("SELECT 1; SELECT 2", "it holds more than one statement."),
    ],
)
def test_preview_refusal_says_import_center_refused_and_why(editor_client, duck, source, reason):
    response = preview(editor_client, duck, source, "query")
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        "Import Center refused this source before sending it to the warehouse: "
        f"{reason} Only a table name (such as schema.table) or a single SELECT statement can be "
        "imported."
    ) in body
    assert "The warehouse returned an error." not in body
    assert "statements are not allowed" not in body


def test_preview_of_an_unknown_table_in_a_query_keeps_the_warehouse_prefix(editor_client, duck):
    response = preview(editor_client, duck, "SELECT * FROM nope", "query")
    body = response.content.decode()
    assert "<strong>The warehouse returned an error.</strong> The table or view was not found." in (
        body
    )
    assert "Import Center refused" not in body


def test_preview_of_an_unreachable_warehouse_does_not_claim_it_answered(editor_client):
    ds = factories.make_datasource(
        name="Closed port",
        partner="postgresql",
        settings={
            "host": "127.0.0.1",
            "port": 1,
            "database": "d",
            "user": "u",
            "sslmode": "disable",
        },
    )
    response = preview(editor_client, ds, "events", "table")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Could not reach the warehouse." in body
    assert "The warehouse returned an error." not in body


def _pg_datasource():
    """A datasource on the test PostgreSQL server (its database needs no tables here)."""
    import os

    import psycopg

    url = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    info = psycopg.conninfo.conninfo_to_dict(url)
    ds = factories.make_datasource(
        name="Warehouse PG",
        partner="postgresql",
        settings={
            "host": info.get("host", "127.0.0.1"),
            "port": int(info.get("port", 5432)),
            "database": info.get("dbname", "postgres"),
            "user": info.get("user", "postgres"),
            "sslmode": "disable",
        },
    )
    ds.set_secret({"password": info.get("password") or "unused-with-trust-auth"})
    ds.save()
    return ds


@pytest.mark.postgres
def test_preview_on_postgresql_runs_sql_with_percent_as_written(editor_client):
    ds = _pg_datasource()
    source = (
        "SELECT g, g % 2 AS parity, 'post' || g LIKE 'post%' AS liked, 'a%b' AS pct,\n"
        "  '%s' AS fmt, '%(a)s' AS named, '?' AS q, '$1' AS dollar\n"
        "FROM generate_series(1, 3) AS g"
    )
    response = preview(editor_client, ds, source, "query")
    body = response.content.decode()
    assert response.status_code == 200
    assert "The warehouse returned an error." not in body
    assert "first 3 rows" in body
    for name in ("parity", "liked", "pct", "fmt", "named", "q", "dollar"):
        assert f"<th>{name}<" in body
    for value in ("a%b", "%s", "%(a)s", "?", "$1"):
        assert f"<td>{value}</td>" in body


def test_preview_with_missing_fields(editor_client):
    response = editor_client.post(reverse("imports-preview"), {}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Choose a datasource" in response.content.decode()


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("SELECT 1 AS a\x00", "Null characters are not allowed."),
        ("\t\u00a0 ", "Enter a table name or a SELECT query."),
        ("x" * 100_001, "Ensure this value has at most 100000 characters"),
    ],
)
def test_preview_names_the_field_it_cannot_use(editor_client, duck, source, said):
    response = preview(editor_client, duck, source, "query")
    body = response.content.decode()
    assert response.status_code == 200
    assert f'<a href="#id_source">Table or SQL query</a>: {said}' in body
    # The datasource was chosen: the answer must not say otherwise.
    assert "Choose a datasource" not in body and "Datasource</a>" not in body


# --- step 2: mapping -------------------------------------------------------------------------


def test_mapping_is_prefilled_by_name_and_type(editor_client, duck):
    imp = factories.make_import(duck, status="draft", source="profiles", identity_column="")
    body = editor_client.get(step_url(imp, "mapping")).content.decode()
    # email -> Email, phone -> Phone, msg_sms -> MSG-sms (Boolean), age INTEGER -> Integer.
    assert 'value="Email"' in body
    assert 'value="Phone"' in body
    assert 'value="MSG-sms"' in body
    assert '<option value="integer" selected>' in body
    assert '<option value="date" selected>' in body
    assert '<option value="user_id" selected>' in body  # identity guessed


def test_mapping_saves_a_mapping_spec(editor_client, draft):
    response = editor_client.post(
        step_url(draft, "mapping"), mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == step_url(draft, "dry-run")
    draft.refresh_from_db()
    assert draft.sync_type == "event"
    assert draft.event_name_column == "event_name" and draft.timestamp_column == "created_on"
    from validation import MappingSpec

    spec = MappingSpec.from_dict(draft.mapping)
    assert [(f.column, f.target, f.type) for f in spec.fields] == [("amount", "amount", "Float")]


def test_mapping_keeps_a_chosen_event_key_column_in_the_spec(editor_client, draft):
    data = mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS, event_key_column="amount")
    response = editor_client.post(step_url(draft, "mapping"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    draft.refresh_from_db()
    assert draft.mapping["event_key_column"] == "amount"
    body = editor_client.get(step_url(draft, "mapping")).content.decode()
    assert "Event key column" in body
    assert body.count('<option value="amount" selected>') == 1
    # Blank again: the default key, and the spec says nothing of a key column.
    editor_client.post(step_url(draft, "mapping"), mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS))
    draft.refresh_from_db()
    assert "event_key_column" not in draft.mapping


def test_event_import_needs_event_name_column(editor_client, draft):
    data = mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS, event_name_column="")
    response = editor_client.post(step_url(draft, "mapping"), data)
    assert response.status_code == 200
    assert "An event import needs an event name column." in response.content.decode()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"identity_column": "no_such_column"}, "Select a valid choice"),
        ({"identity_column": "'; DROP TABLE x; --"}, "Select a valid choice"),
        ({"col-3-column": "ghost"}, "Unknown column"),
        ({"col-3-data_type": "money"}, "Select a valid choice"),
        ({"col-3-target": ""}, "Name the target property."),
        ({"col-3-target": "\t\u00a0"}, "Name the target property."),
        ({"col-3-target": "amo\x00unt"}, "Null characters are not allowed."),
        ({"col-3-column": "amo\x00unt"}, "Null characters are not allowed."),
        ({"col-3-column": "c" * 256}, "Ensure this value has at most 255"),
        ({"col-3-target": "a.b|c"}, "prohibited character"),
        ({"col-3-target": "t" * 300}, "Ensure this value has at most 255"),
        ({"col-3-date_format": "MM/dd/yyyy"}, "A date format applies to Date fields only."),
        ({"col-TOTAL_FORMS": "999999"}, "Please submit at most"),
        ({"col-TOTAL_FORMS": "abc"}, "ManagementForm data is missing or has been tampered"),
    ],
)
def test_mapping_errors_shown_on_the_field(editor_client, draft, overrides, message):
    data = mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS, **overrides)
    response = editor_client.post(step_url(draft, "mapping"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    draft.refresh_from_db()
    assert draft.mapping == {}


def test_duplicate_targets_refused(editor_client, draft):
    rows = {**EVENT_ROWS, "event_name": {"target": "amount"}}
    response = editor_client.post(
        step_url(draft, "mapping"), mapping_post(EVENT_COLUMNS, rows=rows)
    )
    assert "Two columns map to this property." in response.content.decode()


def test_switching_sync_type_clears_mapping_with_warning(editor_client, draft, event_mapping):
    Import.objects.filter(pk=draft.pk).update(
        sync_type="event",
        mapping=event_mapping,
        identity_column="user_id",
        event_name_column="event_name",
    )
    response = editor_client.post(
        step_url(draft, "mapping"), mapping_post(EVENT_COLUMNS, sync_type="profile"), follow=True
    )
    assert "the mapping was cleared" in response.content.decode()
    draft.refresh_from_db()
    assert draft.sync_type == "profile"
    assert draft.mapping == {} and draft.event_name_column == "" and draft.identity_column == ""


def test_mapping_page_survives_unreachable_warehouse(editor_client, draft, event_mapping, tmp_path):
    Import.objects.filter(pk=draft.pk).update(
        sync_type="event", mapping=event_mapping, identity_column="user_id"
    )
    draft.datasource.settings = {"path": str(tmp_path / "gone.duckdb")}
    draft.datasource.save()
    response = editor_client.get(step_url(draft, "mapping"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Could not read the source columns." in body
    assert 'value="amount"' in body


# --- state survives leaving and coming back ---------------------------------------------------


def test_wizard_state_survives_leaving_and_returning(editor_client, duck):
    editor_client.post(reverse("imports-create"), {**source_data(duck), "draft": "1"})
    imp = Import.objects.get(nickname="Purchases")
    editor_client.post(
        step_url(imp, "mapping"), {**mapping_post(EVENT_COLUMNS, rows=EVENT_ROWS), "draft": "1"}
    )
    # Come back later: edit opens step 1 pre-filled; the mapping step shows what was saved.
    response = editor_client.get(reverse("imports-edit", args=[imp.code]), follow=True)
    body = response.content.decode()
    assert 'value="Purchases"' in body and "events</textarea>" in body
    body = editor_client.get(step_url(imp, "mapping")).content.decode()
    assert 'value="event" checked' in body or 'value="event"\n' in body or "checked" in body
    assert '<option value="event_name" selected>' in body
    assert '<option value="float" selected>' in body
    imp.refresh_from_db()
    assert imp.status == Import.Status.DRAFT


# --- step 3: dry run -------------------------------------------------------------------------


def test_dry_run_reports_errors_and_writes_nothing(editor_client, mapped):
    response = editor_client.post(
        step_url(mapped, "dry-run"), {"sample_size": "1000", "run": "1"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="results"' in body
    assert "Result of 4 rows" in body
    assert "The system event name cannot be processed from the data source" in body
    assert "Event name contains a prohibited character" in body
    assert "App Launched" in body and "Added.to.cart" in body
    assert "50.00%" in body  # 2 of 4 pass
    assert not ImportRun.objects.exists()
    assert (
        not RecordResult.objects.exists()
        and not Event.objects.exists()
        and not Profile.objects.exists()
    )


@pytest.mark.parametrize(
    ("mode", "shown"),
    [
        ("full", '<code class="value">App Launched</code>'),
        ("masked", '<code class="value">Aaa Aaaaaaaa</code>'),
    ],
)
def test_dry_run_shows_rejected_values_as_the_detail_pane_does(
    editor_client, mapped, settings, mode, shown
):
    settings.IMPORT_KEEP_FAILED_VALUES = mode
    body = editor_client.post(
        step_url(mapped, "dry-run"), {"sample_size": "10", "run": "1"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert body.count(shown) == 2  # among the examples and beside the row's error
    assert f"(IMPORT_KEEP_FAILED_VALUES={mode})" in body
    # (The row's Event Name column still names it: identities and event names are kept as
    # before, in every mode; the setting is about the values a record was rejected for.)


def test_dry_run_sample_size_limits_rows(editor_client, mapped):
    body = editor_client.post(step_url(mapped, "dry-run"), {"sample_size": "1"}).content.decode()
    assert "Result of 1 row" in body


@pytest.mark.parametrize("size", ["0", "-5", "abc", "1000000", "1e9", ""])
def test_dry_run_bad_sample_size(editor_client, mapped, size):
    response = editor_client.post(step_url(mapped, "dry-run"), {"sample_size": size})
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()


def test_dry_run_without_mapping_says_so(editor_client, draft):
    body = editor_client.post(step_url(draft, "dry-run"), {"sample_size": "10"}).content.decode()
    assert "The mapping is incomplete" in body


def test_dry_run_continue_and_draft_buttons(editor_client, draft):
    assert editor_client.post(step_url(draft, "dry-run"), {"next": "1"})["Location"] == step_url(
        draft, "schedule"
    )
    assert editor_client.post(step_url(draft, "dry-run"), {"draft": "1"})["Location"] == reverse(
        "imports-listing"
    )


# --- step 4: schedule and publish ------------------------------------------------------------


def schedule_data(**overrides) -> dict:
    return {
        "schedule_kind": "interval",
        "interval_every": "30",
        "interval_unit": "minutes",
        "custom_mode": "weekdays",
        "schedule_timezone": "Asia/Kolkata",
        **overrides,
    }


def test_publish_computes_next_run_at(editor_client, mapped, editor):
    before = timezone.now()
    response = editor_client.post(step_url(mapped, "schedule"), {**schedule_data(), "publish": "1"})
    assert response.status_code == 302
    mapped.refresh_from_db()
    assert mapped.status == Import.Status.SCHEDULED
    assert mapped.interval_every == 30 and mapped.interval_unit == "minutes"
    assert mapped.schedule_timezone == "Asia/Kolkata"
    assert (
        before + timedelta(minutes=29) < mapped.next_run_at < timezone.now() + timedelta(minutes=31)
    )


def test_publish_refused_when_incomplete(editor_client, draft):
    response = editor_client.post(step_url(draft, "schedule"), {**schedule_data(), "publish": "1"})
    assert response.status_code == 200
    assert "Before publishing, complete" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Import.Status.DRAFT


def test_save_schedule_as_draft_keeps_draft(editor_client, mapped):
    editor_client.post(step_url(mapped, "schedule"), {**schedule_data(), "draft": "1"})
    mapped.refresh_from_db()
    assert (
        mapped.status == Import.Status.DRAFT
        and mapped.interval_every == 30
        and mapped.next_run_at is None
    )


def test_custom_schedule_saved(editor_client, draft):
    data = schedule_data(schedule_kind="custom", weekdays=["0", "3"], custom_time="09:00")
    assert (
        editor_client.post(step_url(draft, "schedule"), {**data, "draft": "1"}).status_code == 302
    )
    draft.refresh_from_db()
    assert draft.schedule_kind == "custom" and draft.custom_days == [0, 3]
    assert draft.custom_time.hour == 9 and draft.interval_every is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"interval_every": "5"}, "The shortest interval is 15 minutes."),
        ({"interval_every": "0"}, "Ensure this value is greater than or equal to 1"),
        ({"interval_every": "-1"}, "Ensure this value is greater than or equal to 1"),
        ({"interval_every": "99999999999999999999"}, "The longest interval is one year."),
        ({"interval_every": "*/5 * * * *"}, "Enter a whole number."),
        ({"interval_unit": "fortnights"}, "Select a valid choice"),
        ({"schedule_timezone": "Mars/Olympus"}, "Select a valid choice"),
        ({"schedule_timezone": "'; DROP TABLE x"}, "Select a valid choice"),
        ({"schedule_kind": "cron"}, "Select a valid choice"),
        (
            {"schedule_kind": "custom", "custom_time": "09:00"},
            "Choose at least one day of the week.",
        ),
        (
            {"schedule_kind": "custom", "weekdays": ["9"], "custom_time": "09:00"},
            "Select a valid choice",
        ),
        (
            {
                "schedule_kind": "custom",
                "custom_mode": "monthdays",
                "monthdays": ["32"],
                "custom_time": "09:00",
            },
            "Select a valid choice",
        ),
        (
            {"schedule_kind": "custom", "weekdays": ["1"], "custom_time": "25:99"},
            "Enter a valid time.",
        ),
        ({"schedule_kind": "custom", "weekdays": ["1"]}, "Enter the time of day."),
        (
            {"schedule_kind": "manual", "manual_run_at": "2001-01-01T00:00"},
            "Choose a time in the future.",
        ),
        (
            {"schedule_kind": "manual", "manual_run_at": "tomorrow-ish"},
            "Enter a date and time from now to 31 Dec 2999 23:59, as YYYY-MM-DD HH:MM.",
        ),
    ],
)
def test_bad_schedules_are_field_errors(editor_client, draft, overrides, message):
    response = editor_client.post(
        step_url(draft, "schedule"), {**schedule_data(**overrides), "draft": "1"}
    )
    assert response.status_code == 200
    assert message in response.content.decode()


def test_next_five_runs_preview_htmx(editor_client, draft):
    url = reverse("imports-schedule-preview", args=[draft.code])
    response = editor_client.post(
        url, schedule_data(schedule_timezone="UTC"), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="next-runs"' in body
    assert body.count("<li>") == 5
    bad = editor_client.post(url, schedule_data(interval_every="1"), HTTP_HX_REQUEST="true")
    assert "The shortest interval is 15 minutes." in bad.content.decode()
    incomplete = schedule_data(schedule_kind="custom", weekdays=[])
    assert "Complete the schedule" in editor_client.post(url, incomplete).content.decode()
    draft.refresh_from_db()
    assert draft.schedule_kind == "manual"  # the preview saves nothing


def test_schedule_page_of_an_interval_too_long_to_schedule_says_so(editor_client, duck):
    # Only possible outside the Schedule form (the admin), which allows a year at most.
    imp = factories.make_import(duck, interval_every=2**31 - 1, interval_unit="weeks")
    response = editor_client.get(step_url(imp, "schedule"))
    assert response.status_code == 200
    assert "The saved interval is too long to schedule" in response.content.decode()


def test_next_runs_custom_weekdays(editor_client, draft):
    url = reverse("imports-schedule-preview", args=[draft.code])
    data = schedule_data(
        schedule_kind="custom", weekdays=["0"], custom_time="09:00", schedule_timezone="UTC"
    )
    body = editor_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert body.count("<li>") == 5
    assert body.count("Mon ") == 5


def test_manual_without_time_has_no_runs(editor_client, draft):
    url = reverse("imports-schedule-preview", args=[draft.code])
    body = editor_client.post(
        url, schedule_data(schedule_kind="manual"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "runs when someone clicks Run now" in body


# --- editing a published import ---------------------------------------------------------------


def test_edit_updates_updated_fields_never_created(
    editor_client, duck, editor, superuser, event_import_of
):
    imp = event_import_of(nickname="Live", created_by=editor)
    created_at = imp.created_at
    editor_client.force_login(superuser)
    response = editor_client.post(
        step_url(imp, "source"), source_data(duck, nickname="Live v2", draft="1")
    )
    assert response.status_code == 302
    imp.refresh_from_db()
    assert imp.nickname == "Live v2"
    assert imp.updated_by == superuser and imp.updated_at > created_at
    assert imp.created_by == editor and imp.created_at == created_at
    assert imp.status == Import.Status.SCHEDULED


def test_editing_while_running_keeps_the_runs_spec(editor_client, event_import_of, event_mapping):
    imp = event_import_of(nickname="Busy")
    snapshot = {"source": "events", "mapping": event_mapping}
    run = factories.make_run(imp, state=ImportRun.State.RUNNING, total=0, spec_snapshot=snapshot)
    Import.objects.filter(pk=imp.pk).update(status=Import.Status.RUNNING, current_run=run)
    rows = {**EVENT_ROWS, "amount": {"target": "amount_usd", "data_type": "float"}}
    response = editor_client.post(step_url(imp, "mapping"), mapping_post(EVENT_COLUMNS, rows=rows))
    assert response.status_code == 302
    run.refresh_from_db()
    imp.refresh_from_db()
    assert run.spec_snapshot == snapshot
    assert imp.mapping["fields"][0]["target"] == "amount_usd"
    # The wizard wrote configuration only: the engine's status and current run are untouched.
    assert imp.status == Import.Status.RUNNING and imp.current_run == run


def test_editing_schedule_of_scheduled_import_recomputes_next_run(editor_client, duck):
    imp = factories.make_import(
        duck, nickname="Sched", next_run_at=timezone.now() + timedelta(days=9)
    )
    response = editor_client.post(
        step_url(imp, "schedule"),
        {**schedule_data(interval_every="1", interval_unit="hours"), "save": "1"},
    )
    assert response.status_code == 302
    imp.refresh_from_db()
    assert imp.next_run_at < timezone.now() + timedelta(hours=1, minutes=1)
    assert imp.status == Import.Status.SCHEDULED


def test_published_import_has_no_publish_button(editor_client, duck):
    imp = factories.make_import(duck, nickname="Published")
    body = editor_client.get(step_url(imp, "schedule")).content.decode()
    assert 'name="publish"' not in body and "Save" in body


# --- duplicate -------------------------------------------------------------------------------


def test_duplicate_copies_configuration_into_a_draft(
    editor_client, event_import_of, event_mapping, editor
):
    original = event_import_of(nickname="Original")
    factories.make_run(original, total=10, failed=2)
    response = editor_client.post(
        reverse("imports-duplicate", args=[original.code]), {"nickname": "Copy"}
    )
    copy = Import.objects.get(nickname="Copy")
    assert response["Location"] == step_url(copy, "source")
    assert copy.status == Import.Status.DRAFT and copy.code != original.code
    assert copy.mapping == event_mapping and copy.event_name_column == "event_name"
    assert copy.interval_every == original.interval_every
    assert copy.created_by == editor
    assert copy.last_run is None and copy.health_band == Import.HealthBand.NONE
    assert not copy.runs.exists()


def test_the_suggested_copy_nickname_fits_the_field(editor_client, duck):
    original = factories.make_import(duck, nickname="n" * 100)
    url = reverse("imports-duplicate", args=[original.code])
    suggested = "n" * 93 + " (copy)"
    assert f'value="{suggested}"' in editor_client.get(url).content.decode()
    response = editor_client.post(url, {"nickname": suggested})
    assert response.status_code == 302
    assert Import.objects.filter(nickname=suggested).exists()


@pytest.mark.parametrize("nickname", ["", "   ", "ORIGINAL", "n" * 500])
def test_duplicate_needs_a_new_unique_nickname(editor_client, duck, nickname):
    original = factories.make_import(duck, nickname="Original")
    response = editor_client.post(
        reverse("imports-duplicate", args=[original.code]), {"nickname": nickname}
    )
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
    assert Import.objects.count() == 1


def test_every_wizard_page_renders(editor_client, mapped):
    for step in ("source", "mapping", "dry-run", "schedule"):
        response = editor_client.get(step_url(mapped, step))
        assert response.status_code == 200, step
        assert "Save as draft" in response.content.decode()
    assert editor_client.get(reverse("imports-create")).status_code == 200


def test_next_runs_are_shown_in_the_schedules_time_zone(editor_client, draft):
    url = reverse("imports-schedule-preview", args=[draft.code])
    data = schedule_data(
        schedule_kind="custom",
        weekdays=["0"],
        custom_time="09:00",
        schedule_timezone="Asia/Kolkata",
    )
    body = editor_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
    assert body.count("09:00 IST") == 5
