"""Runs of an import, one run, its records (the detail pane's filters), its error summary, and
the CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from imports.models import ImportRun
from tests import factories
from tests.api.conftest import assert_problem

State = ImportRun.State


def test_runs_of_an_import_newest_first_with_the_stats_columns(editor_api, imp, editor):
    now = timezone.now()
    older = factories.make_run(imp, total=100, failed=60, created_at=now - timedelta(hours=2))
    failed = factories.make_run(
        imp,
        state=State.FAILED,
        total=0,
        error="Invalid credentials",
        error_kind="auth",
        created_at=now - timedelta(hours=1),
    )
    newest = factories.make_run(imp, total=4, created_at=now, trigger="api", triggered_by=editor)
    body = editor_api.get(f"/api/v1/imports/{imp.code}/runs").json()
    assert [item["code"] for item in body["items"]] == [
        str(newest.code),
        str(failed.code),
        str(older.code),
    ]
    assert body["next"] is None
    first, second, third = body["items"]
    assert first["trigger"] == "api" and first["trigger_label"] == "API by editor"
    assert (first["total"], first["successful"], first["failed"]) == (4, 4, 0)
    assert first["health"]["label"] == "100%" and first["duration_seconds"] == 30.0
    assert second["state"] == "failed" and second["error"] == "Invalid credentials"
    assert second["health"]["band"] == "blank"
    assert third["health"] == {"band": "red", "label": "40.00%", "percent": 40.0}


def test_runs_page_by_cursor_and_leave_out_runs_past_the_window(editor_api, imp, old_run):
    now = timezone.now()
    made = [factories.make_run(imp, created_at=now - timedelta(minutes=i)) for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = editor_api.get(f"/api/v1/imports/{imp.code}/runs", params).json()
        seen += [item["code"] for item in body["items"]]
        cursor = body["next"]
        if not cursor:
            break
    assert seen == [str(run.code) for run in made]
    assert str(old_run.code) not in seen


def test_runs_and_records_cost_the_same_queries_for_more_rows(
    editor_api, imp, run_with_records, django_assert_max_num_queries
):
    from tests.stats.conftest import error, make_records

    runs_url = f"/api/v1/imports/{imp.code}/runs"
    records_url = f"/api/v1/runs/{run_with_records.code}/records"
    editor_api.get(runs_url)  # the token's last-used write
    counted = {}
    for url in (runs_url, records_url):
        with django_assert_max_num_queries(6) as queries:
            assert editor_api.get(url).status_code == 200
        counted[url] = len(queries.captured_queries)
    for _ in range(20):
        factories.make_run(imp, update_import=False)
    more = factories.make_run(imp, total=40, failed=20)
    make_records(
        more, [(f"u{i}", [error("mail", "invalid_email")] if i % 2 else []) for i in range(40)]
    )
    for url in (runs_url, f"/api/v1/runs/{more.code}/records"):
        with django_assert_max_num_queries(counted.get(url, counted[records_url])):
            assert len(editor_api.get(url).json()["items"]) > 20


def test_one_run_with_its_error_summary_identity_first(editor_api, run_with_records):
    body = editor_api.get(f"/api/v1/runs/{run_with_records.code}").json()
    assert body["code"] == str(run_with_records.code) and body["stats_available"]
    assert [(e["field"], e["code"], e["count"]) for e in body["error_summary"]] == [
        ("user_id", "invalid_identity", 1),
        ("mail", "invalid_email", 2),
        ("age", "not_numeric", 1),
    ]
    assert body["error_summary"][1]["message"] == "Email is not valid"
    assert body["error_summary"][1]["resolution"]
    assert body["records_url"] == f"/api/v1/runs/{run_with_records.code}/records"


def test_a_failed_run_says_why_and_what_to_do(editor_api, imp):
    run = factories.make_run(
        imp,
        state=State.FAILED,
        total=0,
        error="The warehouse refused the credentials.",
        error_kind="auth",
        error_detail="OperationalError: password authentication failed for user bob",
    )
    body = editor_api.get(f"/api/v1/runs/{run.code}").json()
    assert body["warehouse_reason"] == "password authentication failed for user bob"
    assert "credentials are valid" in body["advice"]


def test_the_errors_endpoint_is_the_summary(editor_api, run_with_records):
    body = editor_api.get(f"/api/v1/runs/{run_with_records.code}/errors").json()
    assert body["next"] is None
    assert [e["code"] for e in body["items"]] == [
        "invalid_identity",
        "invalid_email",
        "not_numeric",
    ]


# --- Records ---------------------------------------------------------------------------------


def _records(api, run, **params):
    response = api.get(f"/api/v1/runs/{run.code}/records", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    "params, rows",
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"result": "failed"}, [2, 3, 5]),
        ({"result": "success"}, [1, 4]),
        ({"code": "invalid_email"}, [3, 5]),
        ({"field": "age"}, [5]),
        ({"field": "mail", "code": "invalid_email", "result": "failed"}, [3, 5]),
        ({"field": "mail", "code": "not_numeric"}, []),
        ({"identity": "u3"}, [3]),
        ({"identity": "u"}, []),  # exact, not contains
    ],
)
def test_records_filter_as_the_detail_pane_does(viewer_api, run_with_records, params, rows):
    body = _records(viewer_api, run_with_records, **params)
    assert [r["row_number"] for r in body["items"]] == rows


def test_a_record_carries_its_errors_and_the_failed_value_where_kept(editor_api, run_with_records):
    from imports.models import RecordResult

    RecordResult.objects.filter(run=run_with_records, row_number=3).update(
        errors=[
            {
                "field": "mail",
                "code": "invalid_email",
                "message": "Email is not valid",
                "value": "a@",
            }
        ]
    )
    items = _records(editor_api, run_with_records, result="failed")["items"]
    assert items[0] == {
        "row_number": 2,
        "result": "failed",
        "identity": "null",
        "event_name": None,
        "errors": [
            {
                "field": "user_id",
                "code": "invalid_identity",
                "message": "Invalid identity or CleverTap ID",
                "value": None,
                "value_cut": False,
                "value_kept": False,  # written without its value: null does not mean NULL
            }
        ],
    }
    assert items[1]["errors"][0] | {"message": ""} == {
        "field": "mail",
        "code": "invalid_email",
        "message": "",
        "value": "a@",
        "value_cut": False,
        "value_kept": True,
    }


def test_records_page_by_row_number(editor_api, run_with_records):
    first = _records(editor_api, run_with_records, limit=2)
    assert [r["row_number"] for r in first["items"]] == [1, 2] and first["next"] == "2"
    second = _records(editor_api, run_with_records, limit=2, cursor=first["next"])
    assert [r["row_number"] for r in second["items"]] == [3, 4]
    third = _records(editor_api, run_with_records, limit=2, cursor=second["next"])
    assert [r["row_number"] for r in third["items"]] == [5] and third["next"] is None


@pytest.mark.parametrize(
    "params, name",
    [
        ({"result": "maybe"}, "result"),
        ({"code": "Bad Code"}, "code"),
        ({"field": "a|b"}, "field"),
        ({"identity": "x" * 1101}, "identity"),
        ({"cursor": "-1"}, "cursor"),
        ({"cursor": "abc"}, "cursor"),
        ({"limit": "501"}, "limit"),
        ({"q": "u1"}, "q"),
    ],
)
def test_a_bad_records_parameter_is_400_naming_it(editor_api, run_with_records, params, name):
    body = assert_problem(
        editor_api.get(f"/api/v1/runs/{run_with_records.code}/records", params), 400, name
    )
    assert [error["parameter"] for error in body["errors"]] == [name]


def test_a_stopped_run_has_no_stats(editor_api, stopped_run):
    for tail in ("records", "errors", "failed-records.csv"):
        body = assert_problem(
            editor_api.get(f"/api/v1/runs/{stopped_run.code}/{tail}"), 409, "stopped"
        )
        assert body["run_state"] == "stopped"
    detail = editor_api.get(f"/api/v1/runs/{stopped_run.code}").json()
    assert detail["partial"] and not detail["stats_available"] and detail["error_summary"] == []


def test_a_run_past_the_window_is_gone(editor_api, old_run):
    for tail in ("records", "errors", "failed-records.csv"):
        assert_problem(editor_api.get(f"/api/v1/runs/{old_run.code}/{tail}"), 410, "30 days")


def test_an_unknown_run_is_404_and_an_outsider_is_403(editor_api, outsider_api, run_with_records):
    assert_problem(
        editor_api.get("/api/v1/runs/00000000-0000-4000-8000-000000000000"), 404, "No run"
    )
    for code in (run_with_records.code, "00000000-0000-4000-8000-000000000000"):
        assert_problem(outsider_api.get(f"/api/v1/runs/{code}/records"), 403)


# --- CSV exports -----------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_failed_records_csv(viewer_api, run_with_records):
    rows = _csv(viewer_api.get(f"/api/v1/runs/{run_with_records.code}/failed-records.csv"))
    assert rows[0][:5] == ["Row", "Identity", "Field", "Error Code", "Error"]
    assert [(r[0], r[3]) for r in rows[1:]] == [
        ("2", "invalid_identity"),
        ("3", "invalid_email"),
        ("5", "invalid_email"),
        ("5", "not_numeric"),
    ]


def test_the_stats_csv(viewer_api, imp, run_with_records):
    rows = _csv(viewer_api.get(f"/api/v1/imports/{imp.code}/stats.csv"))
    assert rows[0][0] == "Date and Time (UTC)"
    assert rows[1][1:6] == ["Completed", "40.00%", "5", "2", "3"]


def test_already_imported_rows_are_counted_apart_and_health_is_over_the_rest(editor_api, imp):
    from imports.models import RecordResult

    run = factories.make_run(imp, total=10, failed=1, already_imported=5)
    RecordResult.objects.create(run=run, row_number=1, success=True, already_imported=True)
    RecordResult.objects.create(run=run, row_number=2, success=True)
    RecordResult.objects.create(run=run, row_number=3, success=False)
    body = editor_api.get(f"/api/v1/runs/{run.code}").json()
    assert (body["total"], body["successful"], body["failed"], body["already_imported"]) == (
        10,
        4,
        1,
        5,
    )
    assert body["health"]["label"] == "80.00%"  # 4 of the 5 new rows
    records = editor_api.get(f"/api/v1/runs/{run.code}/records").json()["items"]
    assert [r["result"] for r in records] == ["already_imported", "success", "failed"]


def test_an_event_runs_records_include_its_imported_rows_read_from_the_events(
    editor_api, datasource
):
    from imports.models import Event, Import, RecordResult

    imp = factories.make_import(
        datasource,
        sync_type=Import.SyncType.EVENT,
        event_name_column="event",
        timestamp_column="ts",
    )

    # As the engine lays out an event run: a record for the batch's first row, the failure and
    # the row imported before; rows 2 and 5 are events only.
    run = factories.make_run(imp, total=5, failed=1, already_imported=1, successes_in_events=True)
    RecordResult.objects.create(run=run, row_number=1, success=True, identity="u1")
    RecordResult.objects.create(run=run, row_number=3, success=False, identity="u3")
    RecordResult.objects.create(
        run=run, row_number=4, success=True, already_imported=True, identity="u4"
    )
    for n in (1, 2, 5):
        Event.objects.create(
            identity_kind="user_id",
            identity=f"u{n}",
            event_name="Charged",
            occurred_at=timezone.now(),
            run_code=run.code,
            row_number=n,
            import_id=imp.pk,
        )
    every = _records(editor_api, run, limit=3)
    assert [(r["row_number"], r["result"]) for r in every["items"]] == [
        (1, "success"),
        (2, "success"),
        (3, "failed"),
    ]
    rest = _records(editor_api, run, limit=3, cursor=every["next"])
    assert [(r["row_number"], r["result"]) for r in rest["items"]] == [
        (4, "already_imported"),
        (5, "success"),
    ]
    assert rest["next"] is None
    found = _records(editor_api, run, identity="u5")["items"]
    assert [(r["row_number"], r["event_name"]) for r in found] == [(5, "Charged")]
    assert [r["row_number"] for r in _records(editor_api, run, result="failed")["items"]] == [3]
